"""The fleet file: every county's database by name, read from ``fleet.toml``.

```toml
jobs = 8                      # default for --jobs
canaries = ["benton"]         # default for --canary

[databases.benton]
url = "postgresql://tfsync:${BENTON_PASSWORD}@db1/benton"
tags = { region = "east" }
```

``${VAR}`` is taken from the environment (then ``.env``), so the file holds no secret and
can be committed. Everything is checked before anything runs: a file that cannot be read,
an unknown key, an unset variable, two names for one database, a canary or a ``--only``
that names nothing are each one :class:`~terrafusion_sync.errors.ConfigError`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from terrafusion_sync.errors import ConfigError
from terrafusion_sync.settings import mask_text, normalize_url, same_database, shown_path, url_label

DEFAULT_JOBS = 4
DEFAULT_CONNECT_TIMEOUT = 5.0
_TOP_KEYS = {"jobs", "canaries", "connect_timeout", "databases"}
_DATABASE_KEYS = {"url", "tags"}
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Member:
    """One database of the fleet."""

    name: str
    url: URL
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        """``host:port/db``, no secrets: for messages."""
        return url_label(self.url)


@dataclass(frozen=True)
class Fleet:
    """The databases of a fleet file, in file order, and its defaults."""

    path: Path
    members: tuple[Member, ...]
    jobs: int = DEFAULT_JOBS
    canaries: tuple[str, ...] = ()
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    secrets: tuple[str, ...] = ()
    """The values ``${VAR}`` took: never shown, even where a URL mask would miss them."""

    def mask(self, text: str) -> str:
        """``text`` with every password masked, including each ``${VAR}`` value."""
        text = mask_text(text)
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def select(self, only: Sequence[str] = ()) -> list[Member]:
        """The members whose tags match every ``TAG=VALUE`` of ``only`` (all by default)."""
        wanted = dict(_tag_filter(item) for item in only)
        chosen = [m for m in self.members if all(m.tags.get(k) == v for k, v in wanted.items())]
        if not chosen:
            raise ConfigError(
                f"no database in {shown_path(self.path)} has the tags "
                + ", ".join(f"{k}={v}" for k, v in wanted.items()),
                "check --only TAG=VALUE against the tags in the fleet file",
            )
        return chosen

    def canaries_among(self, members: Sequence[Member], names: Sequence[str]) -> list[Member]:
        """The members named ``names`` (default: the file's ``canaries``), in that order."""
        by_name = {m.name: m for m in self.members}
        chosen = {m.name for m in members}
        result: list[Member] = []
        for name in names or self.canaries:
            if name not in by_name:
                raise ConfigError(
                    f"canary {name!r} is not a database of {shown_path(self.path)}",
                    f"use one of its names: {', '.join(by_name)}",
                )
            if name not in chosen:
                raise ConfigError(
                    f"canary {name!r} is not among the databases selected by --only",
                    "pick a canary among them, or widen --only",
                )
            if by_name[name] not in result:
                result.append(by_name[name])
        return result


def load_fleet(path: Path, environ: Mapping[str, str]) -> Fleet:
    """Read and check the fleet file ``path``; ``${VAR}`` comes from ``environ``."""
    shown = shown_path(path)
    try:
        with path.open("rb") as stream:
            data = tomllib.load(stream)
    except FileNotFoundError:
        raise ConfigError(
            f"no fleet file at {shown}",
            "copy fleet.example.toml to fleet.toml, or give --fleet PATH or TFSYNC_FLEET",
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {shown}: {exc.strerror}", "check the path") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{shown} is not valid TOML: {exc}", "fix the file; see fleet.example.toml"
        ) from None
    _no_unknown_keys(data, _TOP_KEYS, shown, "top level")
    databases = data.get("databases")
    if not isinstance(databases, dict) or not databases:
        raise ConfigError(
            f"{shown} lists no databases",
            'add one table per database: [databases.benton] url = "postgresql://..."',
        )
    secrets: list[str] = []
    members = [_member(shown, name, entry, environ, secrets) for name, entry in databases.items()]
    _no_duplicates(shown, members)
    canaries = data.get("canaries", [])
    if not isinstance(canaries, list) or not all(isinstance(c, str) for c in canaries):
        raise ConfigError(f"{shown}: canaries must be a list of names", 'canaries = ["benton"]')
    return Fleet(
        path=path,
        members=tuple(members),
        jobs=positive_jobs(data.get("jobs", DEFAULT_JOBS), f"{shown}: jobs"),
        canaries=tuple(canaries),
        connect_timeout=_seconds(data.get("connect_timeout", DEFAULT_CONNECT_TIMEOUT), shown),
        secrets=tuple(sorted(set(secrets), key=len, reverse=True)),
    )


def positive_jobs(value: Any, what: str) -> int:
    """``value`` as a number of databases at once (1 or more), else a one-line error."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{what} is {value!r}, not a positive number", "use e.g. 8")
    return value


def _member(
    shown: str, name: str, entry: Any, environ: Mapping[str, str], secrets: list[str]
) -> Member:
    where = f"{shown}: databases.{name}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} is not a table", f'write [databases.{name}] url = "..."')
    _no_unknown_keys(entry, _DATABASE_KEYS, shown, f"databases.{name}")
    raw = entry.get("url")
    if not isinstance(raw, str) or not raw.strip():
        raise ConfigError(
            f"{where} has no url", f'add url = "postgresql://..." to [databases.{name}]'
        )

    def expand(match: re.Match[str]) -> str:
        variable = match.group(1)
        value = environ.get(variable)
        if not value:
            raise ConfigError(
                f"{where}: url uses ${{{variable}}}, which is not set",
                f"export {variable}=... or set it in .env; nothing was run",
            )
        secrets.append(value)
        return value

    expanded = _VARIABLE.sub(expand, raw)
    tags = entry.get("tags", {})
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise ConfigError(f"{where}: tags must be strings", 'tags = { region = "east" }')
    try:
        url = normalize_url(expanded, f"databases.{name}.url")
    except ConfigError as exc:
        raise ConfigError(f"{shown}: {_masked(exc.message, secrets)}", exc.hint) from None
    return Member(name, url, dict(tags))


def _masked(text: str, secrets: Sequence[str]) -> str:
    text = mask_text(text)
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _no_unknown_keys(table: Mapping[str, Any], known: set[str], shown: str, where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(
            f"{shown}: unknown key {unknown[0]!r} at {where}",
            f"the keys there are {', '.join(sorted(known))}; see fleet.example.toml",
        )


def _no_duplicates(shown: str, members: Sequence[Member]) -> None:
    for index, member in enumerate(members):
        for other in members[:index]:
            if same_database(member.url, other.url):
                raise ConfigError(
                    f"{shown}: databases.{other.name} and databases.{member.name} are the same "
                    f"database ({member.where})",
                    "list each database once: a fleet run would upgrade it twice",
                )


def _tag_filter(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--only {item!r} is not TAG=VALUE", "e.g. --only region=east")
    return key.strip(), value.strip()


def _seconds(value: Any, shown: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(
            f"{shown}: connect_timeout is {value!r}, not a number of seconds", "use e.g. 5"
        )
    return float(value)
