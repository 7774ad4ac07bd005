"""The row of one backfill in ``tfsync_backfill``, moved on by its walk.

Each batch moves the row on (last key, rows walked and changed) in the batch's own
transaction, so rows and progress commit together: a kill at any point loses a whole batch
or none. The update holds only while the row is ``running``: an operator who paused or
cancelled the backfill meanwhile (``tfsync backfill pause``) stops the walk, and the batch
is rolled back with it. The end, done or failed, is committed durably with its
``make history`` row.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from terrafusion_sync.migrations.backfill.states import BackfillState
from terrafusion_sync.migrations.deploy import history
from terrafusion_sync.migrations.plumbing import tool_tables

table = tool_tables.backfill_table


class BackfillLedger:
    """The ``tfsync_backfill`` row ``row_id``: its progress, its state, its history."""

    def __init__(self, conn: Connection, row: Any) -> None:
        self.conn, self.row_id = conn, row.id
        self.revision, self.table_name = row.revision, row.table_name
        self.started_at, self.clock = datetime.now(UTC), time.perf_counter()

    def start(self, estimate: int) -> None:
        """Mark it running, with the table's estimated rows (committed)."""
        self.started_at, self.clock = datetime.now(UTC), time.perf_counter()
        self.conn.execute(
            sa.update(table)
            .where(table.c.id == self.row_id)
            .values(
                state=BackfillState.RUNNING,
                rows_estimate=estimate,
                started_at=sa.func.coalesce(table.c.started_at, sa.func.now()),
            )
        )
        self.conn.commit()

    def batch_done(
        self, last: list[str] | None, walked: int, changed: int, size: int, elapsed: float
    ) -> BackfillState | None:
        """Commit the batch with its progress; if an operator stopped the backfill meanwhile,
        roll the batch back and return the state they set."""
        moved = self.conn.execute(
            sa.update(table)
            .where(table.c.id == self.row_id, table.c.state == BackfillState.RUNNING)
            .values(
                last_key=last if last is not None else table.c.last_key,
                rows_walked=table.c.rows_walked + walked,
                rows_changed=table.c.rows_changed + changed,
                batches=table.c.batches + 1,
                batch_size=size,
                seconds=table.c.seconds + elapsed,
                error=None,
            )
        ).rowcount
        if moved:
            self.conn.commit()
            return None
        self.conn.rollback()
        return self.state() or BackfillState.CANCELLED  # gone: nothing left to walk

    def state(self) -> BackfillState | None:
        """Its state now (None: its record is gone, its revision downgraded)."""
        found = self.conn.execute(sa.select(table.c.state).where(table.c.id == self.row_id))
        state = found.scalar()
        self.conn.rollback()
        return BackfillState(state) if state is not None else None

    def finish(self, *, note: str | None = None, error: str | None = None) -> None:
        """Done (or failed, with ``error``) and its history row, committed durably together."""
        conn = self.conn
        conn.execute(sa.text("SET LOCAL synchronous_commit = on"))
        done = error is None
        conn.execute(
            sa.update(table)
            .where(table.c.id == self.row_id)
            .values(
                state=BackfillState.DONE if done else BackfillState.FAILED,
                error=error,
                finished_at=sa.func.now() if done else None,
            )
        )
        history.record(
            conn,
            revision=self.revision,
            direction="backfill",
            checksum=None,
            started_at=self.started_at,
            finished_at=datetime.now(UTC),
            duration_s=time.perf_counter() - self.clock,
            error=error and f"{self.table_name}: {error}",
            note=note,
        )
        conn.commit()
