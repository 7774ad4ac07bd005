"""Statements that still name an old column, as pg_stat_statements counts them.

The expand's trigger sees writes through the old column alone; a read (``SELECT
parcel_number ...``) it cannot see. Where pg_stat_statements is installed (the extension
created in this database and preloaded), each entry whose query names a retired column's
table and old column but not its new one (SELECT, INSERT, UPDATE, DELETE or MERGE, read
with PostgreSQL's parser; a query that does not parse is left out) is old code's.

pg_stat_statements keeps a count per statement, not a time, so the counts are kept as
snapshots in ``tfsync_contract_statements``: one is taken when the tool applies an expand,
and at each ``make contract`` and ``tfsync status``; a new one is kept only when the counts
changed, so the newest snapshot says since when they have stood still. Only a snapshot at
least ``TFSYNC_CONTRACT_QUIET`` old whose counts still hold proves that old code stopped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import Connection

from terrafusion_sync.database import quoted
from terrafusion_sync.migrations.plumbing.tool_tables import (
    CONTRACT_STATEMENTS_TABLE_NAME,
    contract_statements_table,
)

Retired = tuple[str, str, str]
"""Table, old column, new column."""

KEPT = 2
"""Snapshots kept per old column: the newest proves, the one before dates a change."""

_SCHEMA = text(
    "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
    " WHERE e.extname = 'pg_stat_statements'"
)
_SNAPSHOTS = text(
    f"SELECT taken_at, calls, extract(epoch FROM now() - taken_at) AS ago"
    f" FROM {CONTRACT_STATEMENTS_TABLE_NAME}"
    " WHERE table_name = :t AND old_column = :c ORDER BY taken_at DESC"
)


@dataclass(frozen=True)
class Snapshot:
    """The counts of one old column's statements, and when they were read."""

    calls: dict[str, int]
    taken_at: datetime | None = None
    seconds_ago: float = 0.0


@dataclass(frozen=True)
class StatementsRan:
    """Statements naming ``table.column`` ran since ``since`` (None: before the first
    snapshot, ``first``), too recently to prove old code gone."""

    table: str
    column: str
    since: datetime | None
    first: datetime | None

    def describe(self) -> str:
        """``owners.email: statements naming it ran since 2026-12-06 03:10:02 UTC``."""
        if self.since is not None:
            when = f"since {self.since:%Y-%m-%d %H:%M:%S} UTC"
        else:
            when = f"before {self.first:%Y-%m-%d %H:%M:%S} UTC, the first count of them"
        return f"{self.table}.{self.column}: statements naming it ran {when} (pg_stat_statements)"


def counts(conn: Connection, retired: Sequence[Retired]) -> dict[Retired, Snapshot] | None:
    """Now, per retired column, the calls of each statement naming it; None when
    pg_stat_statements is not there (not created here, or not preloaded)."""
    schema = conn.execute(_SCHEMA).scalar()
    if schema is None or not retired:
        return None
    try:
        with conn.begin_nested():
            entries = conn.execute(
                text(
                    f"SELECT queryid::text, query, calls FROM {quoted(schema)}.pg_stat_statements"
                    " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
                    " AND queryid IS NOT NULL"
                )
            ).all()
    except sa_exc.DBAPIError:  # created but not in shared_preload_libraries
        return None
    from terrafusion_sync.migrations.sql.statements import data_statement_names  # pglast: only here

    found: dict[Retired, dict[str, int]] = {r: {} for r in retired}
    for queryid, query, calls in entries:
        named = data_statement_names(query or "")
        for table, old, new in retired:
            if any(table in t and old in c and new not in c for t, c in named):
                mine = found[(table, old, new)]
                mine[queryid] = mine.get(queryid, 0) + int(calls)
    return {r: Snapshot(calls) for r, calls in found.items()}


def snapshot(conn: Connection, retired: Sequence[Retired]) -> None:
    """Keep the counts of now for each retired column whose counts changed (or that has
    none kept); nothing when pg_stat_statements is not there."""
    now = counts(conn, retired)
    if now is not None:
        _keep(conn, now)


def still_running(
    conn: Connection, retired: Sequence[Retired], quiet_seconds: float
) -> list[StatementsRan]:
    """The retired columns whose statements are not proven quiet for ``quiet_seconds``:
    their counts grew since the newest snapshot, or it is younger than that. Takes the
    snapshot of now; nothing when pg_stat_statements is not there."""
    now = counts(conn, retired)
    if now is None:
        return []
    kept = {r: _snapshots(conn, r[0], r[1]) for r in retired}
    _keep(conn, now)
    found = []
    for (table, old, new), current in now.items():
        snaps = kept[(table, old, new)]
        if not any(current.calls.values()):
            continue  # nothing names it: nothing to wait for
        if snaps and _grew(snaps[0], current):
            found.append(StatementsRan(table, old, snaps[0].taken_at, None))
        elif not snaps or snaps[0].seconds_ago < quiet_seconds:
            since = snaps[1].taken_at if len(snaps) > 1 else None
            first = snaps[0].taken_at if snaps else None
            found.append(StatementsRan(table, old, since, first or _now(conn)))
    return found


def forget(conn: Connection, retired: Sequence[Retired]) -> None:
    """Drop the snapshots of columns a contract has retired."""
    for table, old, _ in retired:
        conn.execute(
            contract_statements_table.delete().where(
                contract_statements_table.c.table_name == table,
                contract_statements_table.c.old_column == old,
            )
        )


def _keep(conn: Connection, now: dict[Retired, Snapshot]) -> None:
    for (table, old, _), current in now.items():
        kept = _snapshots(conn, table, old)
        if kept and kept[0].calls == current.calls:
            continue  # unchanged: the older snapshot proves more
        conn.execute(
            contract_statements_table.insert().values(
                table_name=table,
                old_column=old,
                taken_at=text("clock_timestamp()"),
                calls=current.calls,
            )
        )
        _prune(conn, table, old)


def _grew(before: Snapshot, now: Snapshot) -> bool:
    return any(calls > before.calls.get(q, 0) for q, calls in now.calls.items())


def _snapshots(conn: Connection, table: str, column: str) -> list[Snapshot]:
    rows = conn.execute(_SNAPSHOTS, {"t": table, "c": column}).all()
    return [Snapshot(dict(r.calls), r.taken_at, float(r.ago)) for r in rows]


def _prune(conn: Connection, table: str, column: str) -> None:
    conn.execute(
        text(
            f"DELETE FROM {CONTRACT_STATEMENTS_TABLE_NAME} WHERE table_name = :t"
            " AND old_column = :c AND taken_at NOT IN (SELECT taken_at FROM"
            f" {CONTRACT_STATEMENTS_TABLE_NAME} WHERE table_name = :t AND old_column = :c"
            " ORDER BY taken_at DESC LIMIT :k)"
        ),
        {"t": table, "c": column, "k": KEPT},
    )


def _now(conn: Connection) -> datetime:
    now: datetime = conn.execute(text("SELECT now()")).scalar_one()
    return now
