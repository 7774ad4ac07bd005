"""Where each backfill stands, as ``tfsync backfill status`` lists it.

A backfill is ``pending`` once its revision is applied, ``running`` while batches go (or
since a run was killed), ``failed`` when a batch failed, ``done`` at the end. An operator
may ``pause`` it (later revisions then wait, since they may rely on it) or ``cancel`` it
(abandoned: it blocks nothing any more).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection

from terrafusion_sync.database import connect
from terrafusion_sync.migrations.plumbing import tool_tables

table = tool_tables.backfill_table


class BackfillState(StrEnum):
    """The ``state`` of a row of ``tfsync_backfill``."""

    PENDING = "pending"
    RUNNING = "running"
    FAILED = "failed"
    PAUSED = "paused"
    DONE = "done"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """Nothing more will run: done, or abandoned by an operator."""
        return self in (BackfillState.DONE, BackfillState.CANCELLED)


@dataclass(frozen=True)
class BackfillStatus:
    """One backfill, as ``tfsync backfill status`` lists it."""

    revision: str
    table: str
    state: BackfillState
    deletes: bool
    rows_changed: int
    rows_walked: int
    rows_estimate: int | None
    batches: int
    seconds: float
    error: str | None
    recorded_at: datetime
    finished_at: datetime | None

    @property
    def rate(self) -> float:
        """Rows walked per second of batches run."""
        return self.rows_walked / self.seconds if self.seconds else 0.0

    def describe(self) -> str:
        """One line: ``REV  table  state  rows walked of ~estimate, changed, batches, rate``."""
        total = f" of ~{self.rows_estimate:,}" if self.rows_estimate is not None else ""
        changed = "deleted" if self.deletes else "changed"
        why = f"  {self.error}" if self.error else ""
        if self.state is BackfillState.PAUSED:
            why += f"  (later revisions wait for it: `tfsync backfill resume {self.revision}`)"
        return (
            f"{self.revision}  {self.table}  {self.state:<7} {self.rows_walked:,}{total} rows "
            f"walked, {self.rows_changed:,} {changed}, {self.batches:,} batches, "
            f"{self.rate:,.0f} rows/s{why}"
        )


def statuses(conn: Connection) -> list[BackfillStatus]:
    """Every backfill recorded on the database, oldest first."""
    if conn.execute(sa.text("SELECT to_regclass(:t)"), {"t": table.name}).scalar() is None:
        return []
    rows = conn.execute(sa.select(table).order_by(table.c.id)).all()
    return [
        BackfillStatus(
            r.revision,
            r.table_name,
            BackfillState(r.state),
            r.set_sql == tool_tables.BACKFILL_DELETES,
            r.rows_changed,
            r.rows_walked,
            r.rows_estimate,
            r.batches,
            r.seconds,
            r.error,
            r.recorded_at,
            r.finished_at,
        )
        for r in rows
    ]


async def read(url: URL) -> list[BackfillStatus]:
    """:func:`statuses` of the database at ``url``."""
    async with connect(url) as conn:
        return await conn.run_sync(statuses)
