"""Where every known database stands, asked before the squash rewrites the chain.

A database still before the squash point could never upgrade again: the revisions it
needs next are gone. So the squash asks each known database (the application's, the
test database, every database of the fleet) for its revision first, and refuses while
one is behind. One it cannot reach is named too, since nobody knows where it stands;
``--force`` skips those, never one known to be behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy.engine import URL

from terrafusion_sync.errors import MigrationError, TfsyncError, first_line
from terrafusion_sync.migrations.plumbing.commands import current_revisions

CONNECT_SECONDS = 10.0


@dataclass(frozen=True)
class Known:
    """A database the project knows of, by the name people call it."""

    name: str
    url: URL


@dataclass(frozen=True)
class Standing:
    """A known database's revision(s), or why it could not be asked."""

    known: Known
    heads: tuple[str, ...] = ()
    error: str | None = None


async def where_they_stand(databases: Sequence[Known]) -> list[Standing]:
    """Ask every database at once for its revision(s)."""
    return list(await asyncio.gather(*(_standing(known) for known in databases)))


async def _standing(known: Known) -> Standing:
    try:
        heads = await asyncio.wait_for(current_revisions(known.url), CONNECT_SECONDS)
    except TimeoutError:
        return Standing(known, error=f"no answer in {CONNECT_SECONDS:g} s")
    except TfsyncError as exc:
        return Standing(known, error=exc.message)
    return Standing(known, heads)


def refuse_left_behind(
    standings: Sequence[Standing], older: Collection[str], point: str, *, force: bool
) -> None:
    """Refuse, naming each, while a database is at one of the ``older`` revisions (before
    ``point``), or could not be asked (unless ``force``)."""
    behind = [s for s in standings if set(s.heads) & set(older)]
    unknown = [] if force else [s for s in standings if s.error is not None]
    if not behind and not unknown:
        return
    parts = [f"{s.known.name} is at {', '.join(s.heads)}" for s in behind]
    parts += [f"{s.known.name} is unreachable ({first_line(s.error or '')})" for s in unknown]
    what = "upgrade each to " + point + " or later first" if behind else ""
    skip = "--force skips unreachable ones" if unknown else ""
    raise MigrationError(
        f"cannot squash through {point}: {'; '.join(parts)}",
        "; ".join(p for p in (what, skip) if p) + "; nothing was written",
    )
