"""A no-op upgrade at head: one query, no lock, not one revision file loaded.

Plain Alembic learns that there is nothing to do by loading every revision file to find
the heads. Here, each upgrade that ends with the database at the heads of the files
records (``tfsync_migration_state``, one row) the fingerprint of ``versions/`` (every
file's name and checksum), those heads, and the newest history row's id. The next
``upgrade`` to head reads that row and ``alembic_version`` in one query, and stops there
when all three still hold:

- the files have the same fingerprint: no revision was added, edited or removed;
- the database is at the recorded heads: nobody moved it, not even plain ``alembic``;
- no history row was written since: no downgrade, failure or accepted change.

The files are then byte for byte those that were validated against the history when the
row was written, so there is nothing to validate either. Anything else takes the full
path (lock, validation, steps), which records the row again once it ends at head.

Nothing here imports Alembic: ``tfsync upgrade`` calls :func:`current_heads` first and
imports Alembic only when there is work to do.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection

from terrafusion_sync.database import fetch_row
from terrafusion_sync.errors import DatabaseError
from terrafusion_sync.migrations.plumbing.checksums import versions_fingerprint
from terrafusion_sync.migrations.plumbing.tool_tables import history_table as table
from terrafusion_sync.migrations.plumbing.tool_tables import state_table

# Arrays go over the wire as text[]: asyncpg decodes it natively, where a varchar[] (what
# alembic_version's column gives) costs a type introspection query, 15-20 ms, per process.
_READ = sa.text(
    "SELECT s.fingerprint, CAST(s.heads AS text[]) AS heads,"
    f" s.history_id IS NOT DISTINCT FROM (SELECT max(id) FROM {table.name}) AS fresh,"
    " ARRAY(SELECT CAST(version_num AS text) FROM alembic_version) AS current"
    f" FROM {state_table.name} s"
)


def heads_if_current(conn: Connection, fingerprint: str, target: str) -> tuple[str, ...] | None:
    """The database's heads when it is known to be at ``target`` (head) of these files.

    None means "not known": take the full path. Leaves ``conn`` outside any transaction.
    """
    if target not in {"head", "heads"}:
        return None
    row = state_row(conn)
    conn.rollback()
    return _known(row, fingerprint, target)


def state_row(conn: Connection) -> dict[str, Any] | None:
    """The state row, with the revisions in ``alembic_version`` (``current``): what
    :func:`known_heads` judges. None when there is none (rolled back then); else ``conn``
    stays in the transaction that read it. Its query reads ``alembic_version`` and the
    history table: a row means both exist."""
    try:
        row = conn.execute(_READ).first()
    except sa_exc.ProgrammingError:  # a database this tooling has not run on yet
        conn.rollback()
        return None
    return None if row is None else dict(row._mapping)


def known_heads(
    row: dict[str, Any] | None, fingerprint: str, target: str
) -> tuple[str, ...] | None:
    """:func:`heads_if_current` of a :func:`state_row` already read."""
    if target not in {"head", "heads"}:
        return None
    return _known(row, fingerprint, target)


async def current_heads(url: URL, versions: Path, target: str) -> tuple[str, ...] | None:
    """:func:`heads_if_current` for the files in ``versions``, on a connection of its own
    (straight through asyncpg: see :func:`~terrafusion_sync.database.fetch_row`)."""
    if target not in {"head", "heads"}:
        return None
    fingerprint = versions_fingerprint(versions)
    try:
        row = await fetch_row(url, _READ.text)
    except DatabaseError as exc:
        if _undefined_table(exc.__cause__):  # a database this tooling has not run on yet
            return None
        raise
    return _known(row, fingerprint, target)


def _undefined_table(exc: BaseException | None) -> bool:
    """PostgreSQL's ``undefined_table`` (42P01), from asyncpg or through SQLAlchemy."""
    cause = getattr(exc, "orig", None) or exc
    return getattr(cause, "sqlstate", None) == "42P01"


def _known(row: dict[str, Any] | None, fingerprint: str, target: str) -> tuple[str, ...] | None:
    """The heads the state row vouches for, if every one of its three conditions holds."""
    if row is None or not row["fresh"] or row["fingerprint"] != fingerprint:
        return None
    current, heads = row["current"], row["heads"]
    if sorted(current) != sorted(heads) or (target == "head" and len(heads) != 1):
        return None  # "head" with several heads must fail the way Alembic fails
    return tuple(current)


def record(conn: Connection, fingerprint: str, heads: tuple[str, ...]) -> None:
    """Note, in ``conn``'s transaction, that the database is at ``heads`` of these files."""
    from sqlalchemy.dialects.postgresql import insert  # not on a no-op's path

    values = {
        "fingerprint": fingerprint,
        "heads": list(heads),
        "history_id": sa.select(sa.func.max(table.c.id)).scalar_subquery(),
        "verified_at": datetime.now(UTC),
    }
    stmt = insert(state_table).values(id=True, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=[state_table.c.id], set_=values))
