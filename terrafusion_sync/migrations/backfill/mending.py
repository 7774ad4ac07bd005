"""A backfill mended in its revision file runs the file's call from where it stopped.

Once a revision is applied its ``upgrade()`` never runs again, so a backfill would go on
replaying the call it recorded, mistake included. Before an unfinished backfill runs, the
revision's ``upgrade()`` is therefore run offline (Alembic's ``--sql`` mode, its output
thrown away) only to collect its ``op.backfill`` calls as the file reads now. A call that
changed since it was recorded is checked as any new call is, then replaces the recorded
one, keeping the progress (a different table starts over). The core validates applied
files first (:mod:`..deploy.validation`): the file read here is one an operator accepted.
"""

from __future__ import annotations

import io
from typing import Any

import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import Script
from sqlalchemy.engine import Connection

from terrafusion_sync.errors import MigrationError, RevisionCallError, first_line
from terrafusion_sync.migrations.backfill import calls
from terrafusion_sync.migrations.backfill import ops as _ops  # noqa: F401 - registers op.backfill
from terrafusion_sync.migrations.outcome import Report
from terrafusion_sync.migrations.plumbing import tool_tables
from terrafusion_sync.migrations.plumbing.environment import CAPTURED_BACKFILLS
from terrafusion_sync.migrations.plumbing.revisions import file_name

table = tool_tables.backfill_table


def calls_in_file(script: Script) -> list[calls.Call] | str:
    """The ``op.backfill`` calls of ``script``'s ``upgrade()`` as its file reads now; why
    not, when it cannot run offline (it asks the database, say)."""
    found: list[calls.Call] = []
    context = MigrationContext.configure(
        dialect_name="postgresql",
        opts={"as_sql": True, "output_buffer": io.StringIO(), CAPTURED_BACKFILLS: found},
    )
    try:
        with Operations.context(context):
            script.module.upgrade()
    except RevisionCallError:
        raise
    except Exception as exc:  # a file that cannot run offline keeps its recorded call
        return first_line(exc, typed=True)
    return found


def mended(conn: Connection, row: Any, script: Script, report: Report) -> Any:
    """``row`` (of ``tfsync_backfill``), with the file's call in place of the recorded one
    if the revision's ``op.backfill`` was changed since; committed."""
    siblings = conn.execute(
        sa.select(table.c.id).where(table.c.revision == row.revision).order_by(table.c.id)
    ).scalars()
    position = list(siblings).index(row.id)
    where = f"revision {row.revision} ({file_name(script)})"
    try:
        now = calls_in_file(script)
    except RevisionCallError as exc:
        conn.rollback()
        raise MigrationError(f"{where}: {exc.message}", exc.hint) from exc
    if isinstance(now, str):
        conn.rollback()
        report(
            f"  backfill {row.revision}: running its recorded call, as {where} cannot be "
            f"read offline ({now})"
        )
        return row
    if position >= len(now) or now[position].same_clauses(calls.recorded(row)):
        conn.rollback()
        return row
    call = now[position]
    try:
        key = calls.validate(conn, call)
    except RevisionCallError as exc:
        conn.rollback()
        raise MigrationError(f"{where}: {exc.message}", exc.hint) from exc
    _replace(conn, row, call, key)
    report(
        f"  backfill {row.revision} {row.table_name}: its op.backfill was changed in "
        f"{file_name(script)}; running the file's call from where it stopped"
    )
    return conn.execute(sa.select(table).where(table.c.id == row.id)).one()


def _replace(conn: Connection, row: Any, call: calls.Call, key: Any) -> None:
    values: dict[str, Any] = {
        "table_name": call.table,
        "set_sql": call.set_sql,
        "where_sql": call.where_sql,
        "batch_time_ms": calls.batch_time_ms(call),
        "error": None,
    }
    if call.table != row.table_name or list(key.columns) != list(row.key_columns):
        values.update(  # another table: its walk starts over
            key_columns=list(key.columns),
            key_types=list(key.types),
            last_key=None,
            rows_walked=0,
            rows_changed=0,
            rows_estimate=None,
            batch_size=None,
        )
    conn.execute(sa.update(table).where(table.c.id == row.id).values(**values))
    conn.commit()
