"""Running the backfills still to run, oldest first, before any later revision.

The runner calls :func:`run_pending` holding the migration lock, outside a transaction:
once at the start of an upgrade (what a killed or failed run left), then after each step
that recorded one. A later revision may rely on an earlier backfill (a NOT NULL on the
backfilled column), so one that is paused stops the upgrade there, and one that fails
stops it with the way to mend it. A cancelled one blocks nothing.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from terrafusion_sync.errors import MigrationError
from terrafusion_sync.migrations.backfill import calls, mending
from terrafusion_sync.migrations.backfill.states import BackfillState
from terrafusion_sync.migrations.backfill.walk import KeysetWalk, WalkLimits
from terrafusion_sync.migrations.deploy import timeouts
from terrafusion_sync.migrations.outcome import Report
from terrafusion_sync.migrations.plumbing import tool_tables
from terrafusion_sync.migrations.plumbing.revisions import file_name
from terrafusion_sync.settings import seconds

table = tool_tables.backfill_table
UNFINISHED = (
    BackfillState.PENDING,
    BackfillState.RUNNING,
    BackfillState.FAILED,
    BackfillState.PAUSED,
)


def run_pending(
    conn: Connection,
    scripts: ScriptDirectory,
    limits: timeouts.Timeouts,
    report: Report,
    *,
    mend: bool = True,
) -> None:
    """Run every unfinished backfill of an applied revision to its end, oldest first.

    With ``mend`` (outside an Alembic run: it installs its own ``op``), a call changed in
    its revision file since it was recorded runs as the file reads now (:mod:`.mending`).
    Raises a one-line :class:`MigrationError` when one cannot go on (failed, paused); what
    it did stays done.
    """
    pending = conn.execute(
        sa.select(table).where(table.c.state.in_(UNFINISHED)).order_by(table.c.id)
    ).all()
    if not pending:
        conn.rollback()
        return
    applied = _applied(conn, scripts)
    conn.rollback()
    for row in pending:
        if row.revision not in applied:
            continue  # downgraded by an older tfsync that left its records: recorded afresh
        if row.state == BackfillState.PAUSED:
            raise paused(row)
        _run_one(conn, scripts, row, limits, report, mend=mend)


def _run_one(
    conn: Connection,
    scripts: ScriptDirectory,
    row: Any,
    limits: timeouts.Timeouts,
    report: Report,
    *,
    mend: bool,
) -> None:
    script = scripts.get_revision(row.revision)
    if mend:
        row = mending.mended(conn, row, script, report)
    target = row.batch_time_ms / 1000 if row.batch_time_ms else seconds(limits.backfill_batch)
    lock, statement = limits.for_revision(script)
    walk = KeysetWalk(
        conn, row, calls.recorded(row), WalkLimits(target, lock, statement, limits), report
    )
    if walk.run(file_name(script)) is BackfillState.PAUSED:
        raise paused(row)


def paused(row: Any) -> MigrationError:
    """The error of an upgrade that meets a paused backfill: later revisions wait for it."""
    return MigrationError(
        f"backfill {row.revision} {row.table_name} is paused: later revisions wait for it, "
        "since they may rely on it",
        f"run it with `tfsync backfill resume {row.revision}`, or abandon it with "
        f'`tfsync backfill cancel {row.revision} --reason "..."`, then `make upgrade`',
    )


def _applied(conn: Connection, scripts: ScriptDirectory) -> set[str]:
    from terrafusion_sync.migrations.plumbing.revisions import applied, current_heads

    return {script.revision for script in applied(scripts, current_heads(conn))}
