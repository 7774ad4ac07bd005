"""Settings: the process environment, then ``.env``, then the embedded default.

Only PostgreSQL is accepted. Every URL is normalised to the asyncpg driver, and
:func:`mask_url` is the one way a URL is ever shown to a person.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dotenv.parser import parse_stream
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from terrafusion_sync import PACKAGE_DIR
from terrafusion_sync.errors import ConfigError

PROJECT_DIR = PACKAGE_DIR.parent
"""The repository root: where ``.env`` and the embedded cluster's ``.tfsync/`` live."""

DRIVER = "postgresql+asyncpg"
_POSTGRES_SCHEMES = {
    "postgres",
    "postgresql",
    "postgresql+asyncpg",
    "postgresql+psycopg",
    "postgresql+psycopg2",
}
_PASSWORD_IN_TEXT = re.compile(r"(?P<head>[a-z0-9+.-]+://[^:/@\s]*:)[^@\s]*@", re.IGNORECASE)
# libpq spellings that asyncpg knows under another name
_QUERY_RENAMES = {"sslmode": "ssl", "connect_timeout": "timeout"}

# Migration safety defaults (see README "Deploying safely"). A blocked DDL statement queues
# every writer of its table behind it, so it may wait for its lock 5 s at most, then retry;
# statements themselves may run long (an index build, a backfill), so only a runaway one
# is stopped, after an hour. A revision can override both (``lock_timeout = "30s"``).
DEFAULT_LOCK_TIMEOUT = "5s"
DEFAULT_STATEMENT_TIMEOUT = "1h"
DEFAULT_LOCK_RETRIES = 3
# op.backfill sizes its batches so that each takes about this long: the longest a writer of
# the same row waits for it (see migrations/backfill/pacing.py).
DEFAULT_BACKFILL_BATCH_TIME = "200ms"
# `make contract` waits until no write came through an old column for this long: the proof
# that no instance of the old application still runs (see migrations/deploy/contract.py).
DEFAULT_CONTRACT_QUIET = "15min"
_DURATION = re.compile(r"^\s*\d+\s*(us|ms|s|min|h|d)?\s*$")


@dataclass(frozen=True)
class Settings:
    """Validated settings. A URL left as ``None`` means "use the embedded cluster"."""

    database_url: URL | None
    test_database_url: URL | None
    state_dir: Path
    debug: bool = False
    lock_timeout: str = DEFAULT_LOCK_TIMEOUT
    statement_timeout: str = DEFAULT_STATEMENT_TIMEOUT
    lock_retries: int = DEFAULT_LOCK_RETRIES
    backfill_batch_time: str = DEFAULT_BACKFILL_BATCH_TIME
    contract_quiet: str = DEFAULT_CONTRACT_QUIET
    versions_dir: Path | None = None
    fleet_file: Path = PROJECT_DIR / "fleet.toml"
    """The fleet's databases (``TFSYNC_FLEET``; see :mod:`terrafusion_sync.fleet.fleet_file`)."""

    @property
    def embedded(self) -> bool:
        """True when the application database is the embedded cluster."""
        return self.database_url is None


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read settings: ``environ`` (default ``os.environ``) wins over ``.env``."""
    values = environment_values(environ)

    database_url = _optional_url(values, "DATABASE_URL")
    test_url = _optional_url(values, "TEST_DATABASE_URL")
    if database_url is not None and test_url is None:
        test_url = database_url.set(database=f"{database_url.database}_test")
    if database_url is not None and test_url is not None and same_database(database_url, test_url):
        raise ConfigError(
            f"TEST_DATABASE_URL and DATABASE_URL are the same database ({mask_url(test_url)})",
            "point TEST_DATABASE_URL at a separate database: the tests empty it",
        )
    state_dir = Path(values.get("TFSYNC_STATE_DIR") or PROJECT_DIR / ".tfsync")
    return Settings(
        database_url=database_url,
        test_database_url=test_url,
        state_dir=state_dir.resolve(),
        debug=flag(values.get("TFSYNC_DEBUG", "")),
        lock_timeout=duration(
            values.get("TFSYNC_LOCK_TIMEOUT", DEFAULT_LOCK_TIMEOUT), "TFSYNC_LOCK_TIMEOUT"
        ),
        statement_timeout=duration(
            values.get("TFSYNC_STATEMENT_TIMEOUT", DEFAULT_STATEMENT_TIMEOUT),
            "TFSYNC_STATEMENT_TIMEOUT",
        ),
        lock_retries=_count(values.get("TFSYNC_LOCK_RETRIES"), "TFSYNC_LOCK_RETRIES"),
        backfill_batch_time=positive_duration(
            values.get("TFSYNC_BACKFILL_BATCH_TIME", DEFAULT_BACKFILL_BATCH_TIME),
            "TFSYNC_BACKFILL_BATCH_TIME",
        ),
        contract_quiet=duration(
            values.get("TFSYNC_CONTRACT_QUIET", DEFAULT_CONTRACT_QUIET), "TFSYNC_CONTRACT_QUIET"
        ),
        versions_dir=Path(values["TFSYNC_VERSIONS_DIR"]).resolve()
        if values.get("TFSYNC_VERSIONS_DIR")
        else None,
        fleet_file=Path(values.get("TFSYNC_FLEET") or PROJECT_DIR / "fleet.toml").resolve(),
    )


def debug_requested(environ: Mapping[str, str] | None = None) -> bool:
    """``TFSYNC_DEBUG``, read as :func:`load_settings` reads it, even when another setting
    is invalid (so that its error can be debugged too)."""
    try:
        values = environment_values(environ)
    except ConfigError:  # .env cannot be parsed: the environment alone
        values = dict(os.environ if environ is None else environ)
    return flag(values.get("TFSYNC_DEBUG", ""))


def environment_values(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every setting's raw value: the process environment (``environ``; empty values
    ignored) over ``.env``. Also where ``${VAR}`` in ``fleet.toml`` is looked up."""
    environ = os.environ if environ is None else environ
    env_file = Path(environ.get("TFSYNC_ENV_FILE") or PROJECT_DIR / ".env")
    return {**read_env_file(env_file), **{k: v for k, v in environ.items() if v != ""}}


SETTING_NAMES = ("DATABASE_URL", "TEST_DATABASE_URL")
SETTING_PREFIX = "TFSYNC_"
"""Every setting is one of :data:`SETTING_NAMES` or starts with this."""


def child_environ(**values: str) -> dict[str, str]:
    """The environment for a child process that must see only the settings in ``values``.

    This process's environment without any setting, without pytest's variables of this
    process (a child pytest is not one of its xdist workers) and with no ``.env`` read, so
    that neither the caller's shell nor its ``.env`` decides what the child does.
    """
    kept = {
        k: v
        for k, v in os.environ.items()
        if k not in SETTING_NAMES and not k.startswith((SETTING_PREFIX, "PYTEST_"))
    }
    return kept | {"TFSYNC_ENV_FILE": os.devnull} | values


def duration(value: str, name: str) -> str:
    """A PostgreSQL duration (``5s``, ``500ms``, ``1min``, ``0`` = no limit), else an error."""
    if not _DURATION.match(str(value)):
        raise ConfigError(
            f"{name} is {value!r}, not a duration",
            "write a number with a unit: 500ms, 5s, 1min, 1h; 0 means no limit",
        )
    return "".join(str(value).split())


_UNIT_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def seconds(value: str) -> float:
    """A :func:`duration` in seconds (a bare number is milliseconds, as in PostgreSQL)."""
    number = value.rstrip("abcdefghijklmnopqrstuvwxyz")
    return int(number) * _UNIT_SECONDS[value[len(number) :] or "ms"]


def positive_duration(value: str, name: str) -> str:
    """A :func:`duration` that is more than zero (a target time, not a limit)."""
    checked = duration(value, name)
    if seconds(checked) <= 0:
        raise ConfigError(f"{name} is {value!r}", "write a time above zero, such as 200ms")
    return checked


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a ``.env`` file strictly: a line that cannot be parsed is an error."""
    if not path.is_file():
        return {}
    values: dict[str, str] = {}
    with path.open(encoding="utf-8") as stream:
        for binding in parse_stream(stream):
            if binding.error:
                raise ConfigError(
                    f"{path.name} line {binding.original.line}: cannot parse "
                    f"{mask_text(binding.original.string.strip())!r}",
                    "write settings as NAME=value, see .env.example",
                )
            if binding.key is not None and binding.value is not None:
                values[binding.key] = binding.value
    return values


def normalize_url(raw: str, name: str = "DATABASE_URL") -> URL:
    """Parse ``raw`` into an asyncpg URL, refusing anything that is not PostgreSQL."""
    try:
        url = make_url(raw.strip())
    except (ArgumentError, ValueError):
        raise ConfigError(
            f"{name} is not a valid URL: {mask_text(raw)!r}",
            "use postgresql://user:password@host:5432/dbname",
        ) from None
    if url.drivername not in _POSTGRES_SCHEMES:
        raise ConfigError(
            f"{name} uses {url.drivername!r}, not PostgreSQL",
            "TerraFusion Sync runs on PostgreSQL only: use postgresql://user:password@host/dbname",
        )
    if not url.database:
        raise ConfigError(
            f"{name} names no database: {mask_url(url)}",
            "add the database name after the host, e.g. .../terrafusion_sync",
        )
    query = {_QUERY_RENAMES.get(k, k): v for k, v in url.query.items()}
    return url.set(drivername=DRIVER, query=query)


def same_database(a: URL, b: URL) -> bool:
    """True when two URLs name the same database on the same server."""

    def key(url: URL) -> tuple[str, int, str | None]:
        host = url.host or str(url.query.get("host", "")) or "localhost"
        host = "localhost" if host in {"127.0.0.1", "::1"} else host.lower()
        return host, url.port or 5432, url.database

    return key(a) == key(b)


def shown_path(path: Path) -> str:
    """``path`` relative to the repository when inside it, else as given: for messages."""
    try:
        return str(path.resolve().relative_to(PROJECT_DIR))
    except ValueError:
        return str(path)


def url_label(url: URL) -> str:
    """Where a URL points, for messages: ``host:port/db`` or ``socket-dir/db``, no secrets."""
    if url.host:
        return f"{url.host}:{url.port or 5432}/{url.database}"
    return f"{url.query.get('host', 'localhost')}/{url.database}"


def mask_url(url: URL | str) -> str:
    """Render a URL for people: the password becomes ``***``."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    return mask_text(url)


def mask_text(text: str) -> str:
    """Mask every ``scheme://user:password@`` password inside free text."""
    return _PASSWORD_IN_TEXT.sub(r"\g<head>***@", text)


def _optional_url(values: Mapping[str, str], name: str) -> URL | None:
    raw = values.get(name)
    return normalize_url(raw, name) if raw else None


def _count(value: str | None, name: str) -> int:
    if value is None or not value.strip():
        return DEFAULT_LOCK_RETRIES
    if not value.strip().isdigit():
        raise ConfigError(f"{name} is {value!r}, not a number", "write a count such as 3")
    return int(value)


def flag(value: str) -> bool:
    """A yes/no setting: ``1``, ``true``, ``yes`` or ``on`` (any case) mean yes."""
    return value.strip().lower() in {"1", "true", "yes", "on"}
