"""What an operator may do to a backfill: retry, pause, resume, cancel.

GitLab's batched background migrations show the need: a backfill that fails or hurts must
be handled without editing the database by hand. ``pause`` and ``cancel`` change the
backfill's state at once, without waiting for the migration lock: a walk in progress
notices at its next batch, rolls that batch back and stops (:mod:`.ledger`). ``retry``
and ``resume`` run backfills, so they take the migration lock, check the applied files
as an upgrade does, and run what is still to run (:mod:`.pending`), applying no revision.
A cancel is recorded in ``make history`` with its reason. Each refuses, changing nothing,
a revision with no backfill, or one in a state the action does not apply to.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic.config import Config
from sqlalchemy.engine import URL, Connection

from terrafusion_sync.database import connect
from terrafusion_sync.errors import MigrationError
from terrafusion_sync.migrations.backfill.pending import run_pending
from terrafusion_sync.migrations.backfill.states import BackfillState, BackfillStatus, statuses
from terrafusion_sync.migrations.deploy import history, lock, timeouts, validation
from terrafusion_sync.migrations.outcome import Report, quiet
from terrafusion_sync.migrations.plumbing import tool_tables
from terrafusion_sync.migrations.plumbing.config import script_directory

table = tool_tables.backfill_table
ACTIONS: dict[str, tuple[BackfillState, ...]] = {
    "retry": (BackfillState.FAILED, BackfillState.PENDING, BackfillState.RUNNING),
    "pause": (BackfillState.PENDING, BackfillState.RUNNING, BackfillState.FAILED),
    "resume": (BackfillState.PAUSED,),
    "cancel": (
        BackfillState.PENDING,
        BackfillState.RUNNING,
        BackfillState.FAILED,
        BackfillState.PAUSED,
    ),
}
"""Which states each action applies to (``running`` under the lock: a killed run's)."""


def chosen(conn: Connection, action: str, revision: str) -> tuple[str, list[BackfillStatus]]:
    """The revision ``revision`` names (an id or a unique start of one) and its backfills
    that ``action`` applies to; refused, one line, when there are none."""
    found = statuses(conn)
    conn.rollback()
    ids = sorted({b.revision for b in found if b.revision.startswith(revision.strip())})
    if len(ids) != 1 or not revision.strip():
        recorded = ", ".join(sorted({b.revision for b in found})) or "none"
        what = "several revisions" if ids else "no backfill recorded"
        raise MigrationError(
            f"backfill {action} {revision}: {what} on this database matches it",
            f"give a revision with a backfill (recorded: {recorded}); see `tfsync backfill status`",
        )
    mine = [b for b in found if b.revision == ids[0]]
    applies = [b for b in mine if b.state in ACTIONS[action]]
    if not applies:
        states = ", ".join(f"{b.table} {b.state}" for b in mine)
        raise MigrationError(
            f"backfill {action} {ids[0]}: nothing to {action} ({states})",
            f"{action} applies to a backfill that is {' or '.join(ACTIONS[action])}; "
            "see `tfsync backfill status`",
        )
    return ids[0], applies


def refuse_bad_input(action: str, revision: str, reason: str) -> None:
    """Refuse, before any database is read, an action without its revision or a cancel
    without its reason."""
    if action == "status":
        return
    if action not in ACTIONS:
        raise MigrationError(
            f"backfill {action}: no such action", f"use one of status, {', '.join(ACTIONS)}"
        )
    if not revision.strip():
        raise MigrationError(
            f"backfill {action} needs the revision of the backfill",
            f"say which: tfsync backfill {action} REV (see `tfsync backfill status`)",
        )
    if action == "cancel" and not reason.strip():
        raise MigrationError(
            f"backfill cancel {revision}: a cancel needs a reason",
            'say why, for `make history`: --reason "..."',
        )


def stop(conn: Connection, action: str, revision: str, reason: str = "") -> str:
    """Pause or cancel ``revision``'s backfills now; a cancel records ``reason``."""
    rev, found = chosen(conn, action, revision)
    state = BackfillState.CANCELLED if action == "cancel" else BackfillState.PAUSED
    now = datetime.now(UTC)
    conn.execute(
        sa.update(table)
        .where(table.c.revision == rev, table.c.state.in_(ACTIONS[action]))
        .values(state=state, finished_at=now if state is BackfillState.CANCELLED else None)
    )
    for b in found:
        history.record(
            conn,
            revision=rev,
            direction="backfill",
            checksum=None,
            started_at=now,
            finished_at=now,
            duration_s=0.0,
            note=f"{b.table}: {state} after {b.rows_walked:,} rows walked"
            + (f": {reason.strip()}" if reason.strip() else ""),
        )
    conn.commit()
    return rev


def run_again(
    conn: Connection,
    cfg: Config,
    action: str,
    revision: str,
    limits: timeouts.Timeouts,
    report: Report,
) -> str:
    """Retry (or resume) ``revision``'s backfills, under the migration lock, with every
    backfill still to run before them; no revision is applied."""
    scripts = script_directory(cfg)
    lock.acquire(conn, report)
    try:
        rev, _ = chosen(conn, action, revision)
        validation.refuse_changed(conn, scripts)
        if action == "resume":
            conn.execute(
                sa.update(table)
                .where(table.c.revision == rev, table.c.state == BackfillState.PAUSED)
                .values(state=BackfillState.PENDING)
            )
        conn.commit()
        run_pending(conn, scripts, limits, report)
        return rev
    finally:
        lock.release(conn)


async def act(
    url: URL,
    action: str,
    revision: str,
    *,
    cfg: Config | None = None,
    reason: str = "",
    limits: timeouts.Timeouts | None = None,
    report: Report = quiet,
) -> list[BackfillStatus]:
    """``tfsync backfill ACTION REV``: do it on the database at ``url``; the revision's
    backfills afterwards."""
    from terrafusion_sync.migrations.plumbing.config import alembic_config

    refuse_bad_input(action, revision, reason)
    async with connect(url) as conn:

        def run(sync: Connection) -> list[BackfillStatus]:
            if action in ("retry", "resume"):
                rev = run_again(
                    sync,
                    cfg or alembic_config(),
                    action,
                    revision,
                    limits or timeouts.Timeouts(),
                    report,
                )
            else:
                rev = stop(sync, action, revision, reason)
            return [b for b in statuses(sync) if b.revision == rev]

        return await conn.run_sync(run)
