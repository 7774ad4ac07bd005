"""One backfill walked batch by batch along its table's primary key, from where its last
committed batch ended.

Each batch is one short transaction under the revision's ``lock_timeout`` and
``statement_timeout``: the next range of keys (:mod:`.keyset`), the change of its rows
that match ``where``, and the backfill's progress (:mod:`.ledger`), committed together. A
lock timeout halves the batch and tries again after a pause (``TFSYNC_LOCK_RETRIES``),
then stops naming the busy table; any other error stops the walk, recorded as failed, with
the way to mend it in the message.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection

from terrafusion_sync.errors import MigrationError, first_line
from terrafusion_sync.migrations.backfill import keyset
from terrafusion_sync.migrations.backfill.calls import Call
from terrafusion_sync.migrations.backfill.ledger import BackfillLedger
from terrafusion_sync.migrations.backfill.pacing import FIRST_BATCH, Pacing
from terrafusion_sync.migrations.backfill.states import BackfillState
from terrafusion_sync.migrations.deploy import timeouts
from terrafusion_sync.migrations.deploy.retry import LockRetries
from terrafusion_sync.migrations.outcome import Report


@dataclass(frozen=True)
class WalkLimits:
    """How a walk may run: its target time per batch and the revision's timeouts."""

    target: float
    lock: str
    statement: str
    limits: timeouts.Timeouts


# long: one walk (state, batch, lock timeout, finish); SQL, pacing, ledger live apart
class KeysetWalk:
    """One backfill (a ``tfsync_backfill`` row) walked to its end, or until stopped."""

    def __init__(
        self, conn: Connection, row: Any, call: Call, limits: WalkLimits, report: Report
    ) -> None:
        self.conn, self.row, self.call = conn, row, call
        self.limits, self.report = limits, report
        self.ledger = BackfillLedger(conn, row)
        self.key = keyset.Key(tuple(row.key_columns), tuple(row.key_types))
        self.last: list[str] | None = row.last_key
        self.walked, self.changed, self.batches = row.rows_walked, row.rows_changed, row.batches
        self.pacing = Pacing(limits.target, row.batch_size or FIRST_BATCH)
        self.label = f"backfill {row.revision} {row.table_name}"

    def run(self, file: str) -> BackfillState:
        """Walk to the end (``done``), or to the state an operator set meanwhile.

        ``file`` (the revision's) is named in the message of a failure.
        """
        from terrafusion_sync.migrations.backfill.row_progress import RowProgress

        estimate = self._estimate()
        self.ledger.start(estimate)
        resumed = f", resuming after {self.walked:,} rows" if self.walked else ""
        self.report(
            f"  {self.label}: about {estimate:,} rows, batches of about "
            f"{self.limits.target * 1000:.0f} ms{resumed}"
        )
        stopped: BackfillState | None = None
        retries = LockRetries(self.limits.limits)
        with RowProgress(self.report, self.label, estimate, self.walked) as shown:
            done = False
            while not done and stopped is None:
                try:
                    done, stopped = self._batch()
                except sa_exc.DBAPIError as exc:
                    self._after_error(exc, retries, file)
                    continue
                retries.reset()
                shown.update(self.walked)
        if stopped is not None:
            self.report(f"  {self.label}: {stopped} by an operator after {self.walked:,} rows")
            return stopped
        self._finish()
        return BackfillState.DONE

    def _finish(self) -> None:
        verb = "deleted" if self.call.delete else "changed"
        note = (
            f"{self.row.table_name}: {self.changed:,} rows {verb}, {self.walked:,} walked "
            f"in {self.batches:,} batches"
        )
        self.ledger.finish(note=note)
        took = time.perf_counter() - self.ledger.clock
        self.report(f"  backfilled {self.row.revision} {note} ({took:.2f} s)")

    def _estimate(self) -> int:
        if self.row.rows_estimate is not None:
            return int(self.row.rows_estimate)
        guess = self.conn.execute(
            sa.text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:t)"),
            {"t": self.call.table},
        ).scalar()
        if guess is None or guess <= 0:  # never analyzed: count, once
            guess = self.conn.execute(sa.text(f"SELECT count(*) FROM {self.call.table}")).scalar()
        return int(guess or 0)

    def _batch(self) -> tuple[bool, BackfillState | None]:
        """One batch and its progress, committed together: (was it the last, the state an
        operator set meanwhile, which rolled the batch back)."""
        conn, clock, size = self.conn, time.perf_counter(), self.pacing.size
        walked, last, after = self._next_range(size)
        params = {"last": self.last} if after else {}
        changed = 0
        if walked:
            change = sa.text(self.call.batch_sql(self.key, after=after))
            changed = conn.execute(change, {**params, "end": last}).rowcount
        elapsed = time.perf_counter() - clock
        stopped = self.ledger.batch_done(last, walked, changed, size, elapsed)
        if stopped is not None:
            return False, stopped
        self.last = last if last is not None else self.last
        self.walked, self.changed, self.batches = (
            self.walked + walked,
            self.changed + changed,
            self.batches + 1,
        )
        self.pacing.took(time.perf_counter() - clock)
        return walked < size, None

    def _next_range(self, size: int) -> tuple[int, list[str] | None, bool]:
        """The next batch's keys: how many, the last of them, and whether it starts after
        a key done (the first batch starts at the table's start)."""
        after = self.last is not None
        params: dict[str, Any] = {"last": self.last} if after else {}
        # the batch's limits come with the first query of its transaction: one round trip;
        # a lost commit loses its batch and that batch's progress alike: no flush per batch
        limits_sql = (
            "SELECT set_config('lock_timeout', :lock, true),"
            " set_config('statement_timeout', :statement, true),"
            " set_config('synchronous_commit', 'off', true)"
        )
        limits = {"lock": self.limits.lock, "statement": self.limits.statement}
        if keyset.is_counted(self.key):
            counted = keyset.counted_sql(self.call.table, self.key, after=after)
            found = self.conn.execute(
                sa.text(f"{limits_sql}, batch.* FROM ({counted}) AS batch"),
                {**params, **limits, "size": size},
            )
            walked, last = found.one()[3:]
            return walked, last if walked else None, after
        end_sql = f"{limits_sql}, ({keyset.end_sql(self.call.table, self.key, after=after)})"
        found = self.conn.execute(sa.text(end_sql), {**params, **limits, "skip": size - 1})
        end = found.one()[3]
        if end is not None:
            return size, end, after
        tail_sql = keyset.tail_sql(self.call.table, self.key, after=after)
        walked, last = self.conn.execute(sa.text(tail_sql), params).one()
        return walked, last, after

    def _after_error(self, exc: sa_exc.DBAPIError, retries: LockRetries, file: str) -> None:
        """Retry a lock timeout with a smaller batch; else record the failure and stop."""
        conn, where = self.conn, f"{self.label} after {self.walked:,} rows"
        if exc.connection_invalidated:
            raise MigrationError(
                f"{where} lost its connection to PostgreSQL: {first_line(exc)}",
                "the batches before it stay done; run `make upgrade` again to resume",
            ) from exc
        conn.rollback()
        busy = None
        if timeouts.is_lock_timeout(exc):  # the holder still holds it: look it up
            busy = timeouts.busy_table(conn, getattr(exc, "statement", None))
            conn.rollback()
        retry = retries.next() if busy is not None else None
        if retry is not None:
            self.pacing.halve()
            self.report(
                f"  {where}: {busy} stayed locked past lock_timeout {self.limits.lock}; "
                f"{retry} with {self.pacing.size:,} rows in {retry.delay:.1f} s"
            )
            retries.wait(retry)
            return
        error = (
            f"could not lock {busy} within lock_timeout {self.limits.lock}, "
            f"{retries.attempts} attempts"
            if busy is not None
            else f"failed: {first_line(exc)}"
        )
        self.ledger.finish(error=error)
        raise MigrationError(f"{where} {error}", self._mend_hint(file, busy is None)) from exc

    def _mend_hint(self, file: str, clause_may_be_wrong: bool) -> str:
        revision = self.row.revision
        stays = "the batches before it stay done and the revision stays applied"
        cancel = f'to abandon it: tfsync backfill cancel {revision} --reason "..."'
        if not clause_may_be_wrong:
            return f"{stays}; run `make upgrade` again once the table is quieter, or {cancel}"
        return (
            f"{stays}; if the op.backfill call is wrong, fix it in {file}, accept the edit with "
            f'tfsync validate --accept {revision} --reason "...", then `make upgrade` runs the '
            f"fixed call from where it stopped (`tfsync backfill retry {revision}` if the "
            f"cause was elsewhere); {cancel}"
        )
