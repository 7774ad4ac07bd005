"""What an ``op.backfill`` asks, checked, and recorded in the revision's transaction.

A call either rewrites rows (``set``) or deletes them (``delete=True``), always those
matching ``where``. It is checked before anything runs: its shape here, its clauses by
PostgreSQL's own parser and planner (:func:`validate`). A refusal is a
:class:`~terrafusion_sync.errors.RevisionCallError`, which the core completes with the
revision and line. :func:`record` notes it as pending in ``tfsync_backfill``, in the
revision's own transaction: recorded exactly when the revision is applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection

from terrafusion_sync.errors import ConfigError, RevisionCallError, first_line
from terrafusion_sync.migrations.backfill import keyset
from terrafusion_sync.migrations.backfill.states import BackfillState
from terrafusion_sync.migrations.plumbing import tool_tables
from terrafusion_sync.settings import positive_duration, seconds

table = tool_tables.backfill_table


@dataclass(frozen=True)
class Call:
    """What ``op.backfill`` was asked: ``UPDATE table SET set_sql WHERE where_sql``, or
    ``DELETE FROM table WHERE where_sql`` when ``delete``."""

    table: str
    """Quoted, schema-qualified when a schema was given: ready for SQL."""
    set_sql: str
    where_sql: str = "true"
    batch_time: str | None = None
    """A duration (``300ms``); None: ``TFSYNC_BACKFILL_BATCH_TIME``."""
    delete: bool = False

    def plain_sql(self) -> str:
        """The whole backfill as one statement (what plain ``alembic`` runs)."""
        if self.delete:
            return f"DELETE FROM {self.table}\n WHERE ({self.where_sql}\n)"
        return f"UPDATE {self.table} SET {self.set_sql}\n WHERE ({self.where_sql}\n)"

    def batch_sql(self, key: keyset.Key, *, after: bool) -> str:
        """The change of the rows of one key range (:func:`keyset.in_range_sql`) that match
        ``where``: the ``UPDATE``, or the ``DELETE``."""
        in_range = keyset.in_range_sql(self.table, key, after=after)
        rows = f" WHERE {in_range} AND ({self.where_sql}\n)"
        if self.delete:
            return f"DELETE FROM {self.table}\n{rows}"
        return f"UPDATE {self.table} SET {self.set_sql}\n{rows}"

    def same_clauses(self, other: Call) -> bool:
        """Whether ``other`` asks the same of the same table (its pace aside)."""
        mine = (self.table, self.set_sql, self.where_sql, self.delete)
        return mine == (other.table, other.set_sql, other.where_sql, other.delete)

    def rendered(self) -> str:
        """What ``--sql`` shows: SQL comments saying what runs after the revision, and how."""
        each = self.batch_time or "TFSYNC_BACKFILL_BATCH_TIME"

        def lines(word: str, sql: str) -> str:
            return "\n".join(
                f"--   {word if i == 0 else ' ' * len(word)} {part}"
                for i, part in enumerate(sql.strip().splitlines())
            )

        what = lines("DELETE", "the rows") if self.delete else lines("SET", self.set_sql)
        return (
            f"-- op.backfill on {self.table}, run by tfsync once this revision has committed:\n"
            f"-- in batches on its primary key, each its own short transaction of about {each},\n"
            "-- resumable after a kill (progress in tfsync_backfill); for each batch of keys:\n"
            f"{what}\n{lines('WHERE', self.where_sql)}\n"
        )


def asked(
    table_sql: str,
    set_sql: str | None,
    where_sql: str | None,
    batch_time: str | None,
    *,
    delete: bool,
) -> Call:
    """The :class:`Call` for ``op.backfill``'s arguments, refused when they do not fit."""

    def refuse(problem: str, hint: str = "fix the op.backfill call") -> RevisionCallError:
        return RevisionCallError(f"op.backfill on {table_sql}: {problem}", hint)

    if delete and set_sql is not None:
        raise refuse("delete=True deletes the rows, so it takes no set", "drop set, or delete")
    if not delete and not (set_sql or "").strip():
        raise refuse("say what to change (set=...), or delete=True to delete the rows")
    if delete and not (where_sql or "").strip():
        raise refuse("delete=True needs where=... saying which rows go")
    try:
        checked = positive_duration(batch_time, "batch_time") if batch_time else None
    except ConfigError as exc:
        raise refuse(exc.message, exc.hint or "") from None
    set_text = tool_tables.BACKFILL_DELETES if delete else (set_sql or "").strip()
    return Call(table_sql, set_text, (where_sql or "true").strip(), checked, delete)


def validate(conn: Connection, call: Call) -> keyset.Key:
    """The table's key, once PostgreSQL has accepted the table, ``set`` and ``where``.

    Runs in the caller's transaction; a statement PostgreSQL rejects is tried in a savepoint.
    """

    def refuse(problem: str) -> RevisionCallError:
        return RevisionCallError(
            f"op.backfill on {call.table}: {problem}",
            "the revision was rolled back and nothing was changed; fix the op.backfill call",
        )

    if conn.execute(sa.text("SELECT to_regclass(:t)"), {"t": call.table}).scalar() is None:
        raise refuse("no such table")
    key = keyset.primary_key(conn, call.table)
    if key is None:
        raise refuse("the table has no primary key, which the batches walk")
    from terrafusion_sync.migrations.sql.statements import clauses_problem  # pglast: only here

    problem = clauses_problem(call.set_sql or "x = x", call.where_sql)
    if problem is not None:
        raise refuse(problem)
    try:
        with conn.begin_nested():
            conn.execute(
                sa.text("EXPLAIN " + call.batch_sql(key, after=True)),
                {"last": [None] * len(key.columns), "end": [None] * len(key.columns)},
            )
    except sa_exc.DBAPIError as exc:
        raise refuse(f"PostgreSQL rejects set/where: {first_line(exc)}") from exc
    return key


def record(conn: Connection, revision: str, call: Call, key: keyset.Key) -> None:
    """Note the backfill as pending, in the revision's transaction (again: start over)."""
    values: dict[str, Any] = {
        "key_columns": list(key.columns),
        "key_types": list(key.types),
        "batch_time_ms": batch_time_ms(call),
        "state": BackfillState.PENDING,
        "last_key": None,
        "rows_walked": 0,
        "rows_changed": 0,
        "rows_estimate": None,
        "batches": 0,
        "batch_size": None,
        "seconds": 0.0,
        "error": None,
        "recorded_at": datetime.now(UTC),
        "started_at": None,
        "finished_at": None,
    }
    stmt = insert(table).values(
        revision=revision,
        table_name=call.table,
        set_sql=call.set_sql,
        where_sql=call.where_sql,
        **values,
    )
    conn.execute(
        stmt.on_conflict_do_update(
            constraint=f"uq_{tool_tables.BACKFILL_TABLE_NAME}_call", set_=values
        )
    )


def batch_time_ms(call: Call) -> int | None:
    """The call's own batch time in milliseconds, as recorded (None: the setting's)."""
    return round(seconds(call.batch_time) * 1000) if call.batch_time else None


def recorded(row: Any) -> Call:
    """The :class:`Call` a ``tfsync_backfill`` row recorded."""
    delete = row.set_sql == tool_tables.BACKFILL_DELETES
    return Call(row.table_name, row.set_sql, row.where_sql, None, delete)


def forget(conn: Connection, revision: str) -> None:
    """Drop the records of ``revision``'s backfills, in its downgrade's transaction: an
    upgrade again records its calls afresh, as the file then reads."""
    conn.execute(sa.delete(table).where(table.c.revision == revision))
