"""The safe run of an upgrade or downgrade, on one connection, one revision at a time.

An upgrade to head with nothing to do stops after one query (:mod:`.uptodate`). Otherwise,
in order: take the migration lock (:mod:`.lock`), make sure the tooling's tables exist,
refuse if an applied file changed (:mod:`.validation`), then let Alembic run the steps, each
in its own transaction (``transaction_per_migration`` in env.py). Before each step the
timeouts are set (:mod:`.timeouts`) and, for a downgrade, the data-loss guard watches
(:mod:`.guard`); after it, inside the same transaction, the history row is written
(:mod:`.history`). A failed step is rolled back, recorded, and reported in one line naming
the revision file and the failing statement; a lock timeout is retried with backoff first
(:mod:`.retry`).
An upgrade runs ``op.backfill``'s batches (:mod:`...backfill`) between the steps: those a
killed or failed run left unfinished first, then each revision's once it has committed;
``op.backfill`` records under the revision the runner names as each step begins. A
downgrade step drops its revision's backfill records.

Steps commit with ``synchronous_commit`` off except the last (and a failure's record),
whose synchronous commit flushes the WAL of all before it: a server crash mid-run can only
lose whole revisions at the end, never part of one, and success is reported only once
everything is durable. It saves one WAL flush per revision.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from alembic.config import Config
from alembic.runtime.migration import MigrationContext, MigrationInfo, RevisionStep
from alembic.script import Script, ScriptDirectory
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection

from terrafusion_sync.database import connect
from terrafusion_sync.errors import MigrationError, RevisionCallError, TfsyncError, first_line
from terrafusion_sync.migrations.backfill import calls as backfill_calls
from terrafusion_sync.migrations.backfill.pending import run_pending
from terrafusion_sync.migrations.deploy import contract as old_code
from terrafusion_sync.migrations.deploy import (
    guard,
    history,
    lock,
    timeouts,
    uptodate,
    validation,
)
from terrafusion_sync.migrations.deploy.retry import LockRetries, Retry
from terrafusion_sync.migrations.outcome import Outcome, Report
from terrafusion_sync.migrations.plumbing import phases, revision_lines, tool_tables
from terrafusion_sync.migrations.plumbing.alembic_errors import alembic_errors
from terrafusion_sync.migrations.plumbing.checksums import (
    checksum_of,
    fingerprint,
    revision_checksums,
)
from terrafusion_sync.migrations.plumbing.commands import offline_sql
from terrafusion_sync.migrations.plumbing.config import script_directory, versions_dir
from terrafusion_sync.migrations.plumbing.environment import StepBackfills
from terrafusion_sync.migrations.plumbing.revisions import current_heads, file_name
from terrafusion_sync.migrations.plumbing.steps import planned_steps, run_env

STATEMENT_SHOWN = 160


@dataclass
class _MigrationRun:
    """What one run knows: its settings, the step in progress, and what it applied."""

    conn: Connection
    scripts: ScriptDirectory
    target: str
    upgrading: bool
    limits: timeouts.Timeouts
    report: Report
    watch: guard.Guard
    checksums: dict[Path, str]
    """Every revision file's checksum, read once at the start of the run."""
    applied: list[str] = field(default_factory=list)
    step: Script | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    clock: float = 0.0
    current_limits: tuple[str, str] = ("", "")
    heads: tuple[str, ...] = ()
    """Where the database is: before the steps, then after them."""
    in_effect: tuple[str, str, bool] | None = None
    """The session's timeouts and durability now; None after a rollback (unknown)."""
    backfills: StepBackfills = field(default_factory=StepBackfills)
    """The step ``op.backfill`` records under, and what it recorded (see :meth:`backfill_now`)."""
    forced: str | None = None
    """Why a contract went ahead despite a recent old-path write (``--force``), for history."""

    @property
    def direction(self) -> str:
        return "upgrade" if self.upgrading else "downgrade"

    def steps(self, heads: Any, _: MigrationContext) -> Iterator[RevisionStep]:
        """Alembic's own steps, each prepared just before its transaction begins."""
        planned = planned_steps(self.scripts, self.target, heads, upgrading=self.upgrading)
        self.heads = tuple(heads)
        for index, step in enumerate(planned):
            self.backfill_now()
            self.step = step.revision
            self.backfills.revision = step.revision.revision
            self.started_at, self.clock = datetime.now(UTC), time.perf_counter()
            self.current_limits = self.limits.for_revision(step.revision)
            wanted = (*self.current_limits, index == len(planned) - 1)
            if wanted != self.in_effect:  # session settings outlive commits: set on change
                timeouts.apply(self.conn, *self.current_limits, durable=wanted[2])
                self.in_effect = wanted
            if not self.upgrading or not phases.is_contract(step.revision):
                self.watch.watch(step.revision.revision, file_name(step.revision), self.direction)
            yield step

    def backfill_now(self) -> None:
        """Run the backfills the steps recorded, their schema change committed: before the
        next step, which may rely on them (a NOT NULL on the backfilled column)."""
        if self.backfills.recorded:
            self.backfills.recorded.clear()
            # just recorded from the files, inside Alembic's run: nothing to mend
            run_pending(self.conn, self.scripts, self.limits, self.report, mend=False)

    def applied_one(self, *, step: MigrationInfo, **_: Any) -> None:
        """After a step, in its transaction: the history row, then the progress line."""
        script = cast(Script, step.up_revision)  # what Alembic ran: a Script of this run
        elapsed = time.perf_counter() - self.clock
        note = None
        if self.watch.allowed:
            note = "data loss allowed: " + ", ".join(loss.describe() for loss in self.watch.allowed)
        if self.forced and phases.is_contract(script):
            note = "; ".join(filter(None, [note, self.forced]))
        history.record(
            self.conn,
            revision=script.revision,
            direction=self.direction,
            checksum=checksum_of(script.path, self.checksums),
            started_at=self.started_at,
            finished_at=datetime.now(UTC),
            duration_s=elapsed,
            note=note,
        )
        if not step.is_upgrade:  # an upgrade again records its backfills afresh
            backfill_calls.forget(self.conn, script.revision)
        if phases.is_contract(script):  # its proof is spent, or starts again
            (old_code.forget if step.is_upgrade else old_code.watch_again)(self.conn, script)
        self.watch.stop()
        self.step = None
        arrow = "upgraded  " if step.is_upgrade else "downgraded"
        self.report(f"  {arrow} {script.revision}  {script.doc}  ({elapsed:.2f} s)")
        self.applied.append(script.revision)


def migrate(
    conn: Connection,
    cfg: Config,
    target: str,
    *,
    upgrading: bool,
    limits: timeouts.Timeouts,
    allow_data_loss: bool = False,
    force: bool = False,
    contract: bool = False,
    report: Report,
) -> Outcome:
    """Run an upgrade (or downgrade) to ``target`` safely on ``conn``; say what it did.

    An upgrade first finishes the backfills of applied revisions (a pending one may rely on
    them), then checks the live rows (:mod:`.preflight`) and refuses, running no revision,
    when a pending revision would fail on them or drop data outside a contract revision,
    unless ``force`` (``allow_data_loss``). An upgrade to head leaves contract revisions
    waiting; with ``contract`` they run, once the database shows no old application
    writes (:mod:`.contract`), or anyway with ``force``.
    """
    checksums = revision_checksums(versions_dir(cfg))
    files = fingerprint(checksums)
    if upgrading:
        heads = uptodate.heads_if_current(conn, files, target)
        if heads is not None:
            return Outcome([], heads)
    scripts = script_directory(cfg)
    with alembic_errors():
        scripts.get_heads()  # every revision file loaded now: one that cannot be changes nothing
    if upgrading:
        target = phases.upgrade_target(scripts, target, contract=contract)
    lock.acquire(conn, report)
    watch = guard.Guard(conn, allow=allow_data_loss)
    run = _MigrationRun(conn, scripts, target, upgrading, limits, report, watch, checksums)
    try:
        _before_steps(run, cfg, force=force, contract=contract, allow_data_loss=allow_data_loss)
        retries = LockRetries(limits)
        while True:  # left by the return of a finished run, or by the error of a failed one
            try:
                return _run_steps(run, cfg, files)
            except Exception as exc:
                retries.wait(_after_failure(run, exc, retries))
    finally:
        watch.close()
        lock.release(conn)


def _before_steps(
    run: _MigrationRun, cfg: Config, *, force: bool, contract: bool, allow_data_loss: bool
) -> None:
    """The checks that refuse before any change (a contract's: the proof that old code is
    gone), the tooling's tables, and the backfills a killed run left unfinished (they
    finish before any new revision runs)."""
    conn = run.conn
    tool_tables.ensure_table(conn)
    validation.refuse_changed(conn, run.scripts, run.checksums)
    if contract:
        run.forced = old_code.refuse_while_old_code(
            conn, run.scripts, run.limits.contract_quiet, force=force
        )
        conn.commit()  # the proof's snapshot of pg_stat_statements stays
        if not force:  # a NOT NULL whose VALIDATE would meet NULLs
            from terrafusion_sync.migrations.planning import waiting_nulls

            waiting_nulls.refuse(conn, phases.waiting(run.scripts, current_heads(conn)))
    conn.commit()
    if run.upgrading:  # a killed or failed run's backfills finish before any new revision
        run_pending(conn, run.scripts, run.limits, run.report)  # is run or checked
        if not force and not contract:
            _preflight(conn, cfg, run.scripts, run.target, run.limits, run.report, allow_data_loss)


def _run_steps(run: _MigrationRun, cfg: Config, files: str) -> Outcome:
    """Alembic's steps from where the database is, then the last step's backfills."""
    conn = run.conn
    with alembic_errors():
        run_env(
            cfg,
            run.scripts,
            conn,
            run.steps,
            run.target,
            on_step=[run.applied_one],
            backfills=run.backfills if run.upgrading else None,
        )
    if run.applied:
        run.heads = current_heads(conn)
        conn.commit()
    run.backfill_now()  # the last step's
    if run.upgrading and _at_heads_of(run.scripts, run.heads):
        uptodate.record(conn, files, run.heads)
    conn.commit()
    waits = phases.waiting(run.scripts, run.heads) if run.upgrading else []
    if waits and run.applied:  # an expand just applied: pg_stat_statements' counts from now
        old_code.snapshot_statements(conn, waits)
        conn.commit()
    return Outcome(run.applied, run.heads, tuple(s.revision for s in waits))


def _preflight(
    conn: Connection,
    cfg: Config,
    scripts: ScriptDirectory,
    target: str,
    limits: timeouts.Timeouts,
    report: Report,
    allow_data_loss: bool = False,
) -> None:
    """Refuse before any change when a pending revision would fail on the rows there, or
    would drop data outside a contract revision (unless ``allow_data_loss``).

    A database at base (or at several heads) has no live rows a revision knows of: skipped.
    A revision that cannot be rendered offline is not checked (the review reports it).
    """
    # the contract branch's head, if applied, is not where an upgrade starts
    current = tuple(
        c for c in current_heads(conn) if not phases.is_contract(scripts.get_revision(c))
    )
    conn.commit()
    if len(current) != 1 or (target in ("head", "heads") and _at_heads_of(scripts, current)):
        return
    try:
        sql = offline_sql(cfg, f"{current[0]}:{target}", scripts=scripts)
    except Exception as exc:
        report(
            "  pre-flight skipped: the pending SQL cannot be rendered offline "
            f"({first_line(exc, typed=True)})"
        )
        return
    # pglast: only with revisions to run
    from terrafusion_sync.migrations.planning import preflight
    from terrafusion_sync.migrations.sql import alembic_output

    files = {s.revision: file_name(s) for s in scripts.walk_revisions()}
    pending = alembic_output.split(sql)
    preflight.refuse(conn, pending, files, limits.statement)
    if not allow_data_loss:
        _refuse_data_loss(conn, scripts, pending, files)


def _refuse_data_loss(
    conn: Connection,
    scripts: ScriptDirectory,
    pending: list[tuple[str, str]],
    files: dict[str, str],
) -> None:
    """Refuse, changing nothing, an upgrade that drops data outside a contract revision."""
    from terrafusion_sync.migrations.planning import preflight

    contracts = frozenset(r for r, _ in pending if phases.is_contract(scripts.get_revision(r)))
    lost = preflight.destroyed(conn, pending, contracts)
    conn.rollback()
    if lost:
        first = lost[0]
        raise guard.DataLossError(
            f"upgrade of {first.revision} ({files.get(first.revision, '?')}) would drop "
            f"{', '.join(d.describe() for d in lost)}; nothing was changed",
            "if it was renamed, write the change as expand + contract (tfsync revision "
            "--rename TABLE.OLD=NEW); to drop it anyway: upgrade --allow-data-loss",
        )


def _at_heads_of(scripts: ScriptDirectory, heads: tuple[str, ...]) -> bool:
    with alembic_errors():
        return sorted(heads) == sorted(scripts.get_heads())


def _after_failure(run: _MigrationRun, exc: Exception, retries: LockRetries) -> Retry:
    """Roll the failed step back and record it; the retry to make, else raise the error."""
    failed, run.in_effect = run.step, None
    if run.conn.in_transaction():
        run.conn.rollback()
    if failed is None:  # not in a step: nothing to record
        raise exc
    statement = getattr(exc, "statement", None) if isinstance(exc, sa_exc.DBAPIError) else None
    where = f"revision {failed.revision} ({file_name(failed)})"
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        # the session is gone, and the migration lock with it: touch nothing more
        raise MigrationError(
            f"{where} lost its connection to PostgreSQL: {timeouts.describe_error(exc)} "
            f"at: {_shown(statement)}",
            "the server rolled this revision back and the revisions before it stay applied; "
            f"run `make {run.direction}` again once the server answers",
        ) from exc
    if isinstance(exc, RevisionCallError):  # a call of the file refused its input: name it
        line = _line_in(failed, exc, " line {}")
        exc = MigrationError(f"{where}{line}: {exc.message}", exc.hint)
    error, busy = _what_failed(run, failed, exc, statement)
    now_at = _record_failure(run, failed, error)
    if isinstance(exc, TfsyncError):
        raise exc
    if busy is None:
        raise MigrationError(
            f"{where} failed: {error}",
            f"it was rolled back, the database stays at {now_at}; {_hint_after(run, exc)}",
        ) from exc
    lock_timeout = run.current_limits[0]
    retry = retries.next()
    if retry is None:
        raise MigrationError(
            f"{where} could not lock {busy} within lock_timeout {lock_timeout}, "
            f"{retries.attempts} attempts, at: {_shown(statement)}",
            f"nothing of it was applied, the database stays at {now_at}; retry when the table "
            'is quieter, or give this revision more time with lock_timeout = "30s" in its file',
        ) from exc
    run.report(
        f"  {where}: {busy} stayed locked past lock_timeout {lock_timeout}; "
        f"{retry} in {retry.delay:.1f} s"
    )
    return retry


def _what_failed(
    run: _MigrationRun, failed: Script, exc: Exception, statement: str | None
) -> tuple[str, str | None]:
    """The error for the history row, and the busy table when a lock was not had in time."""
    if isinstance(exc, TfsyncError):
        return str(exc), None
    if not isinstance(exc, sa_exc.DBAPIError):
        return f"{type(exc).__name__}: {exc}{_line_in(failed, exc)}", None
    error = f"{timeouts.describe_error(exc)} at: {_shown(statement)}"
    if not timeouts.is_lock_timeout(exc):
        return error, None
    busy = timeouts.busy_table(run.conn, statement)
    run.conn.rollback()
    return error, busy


def _record_failure(run: _MigrationRun, failed: Script, error: str) -> str:
    """The failed step's history row, flushed with every step before it; where it stays."""
    conn = run.conn
    timeouts.apply(conn, run.limits.lock, run.limits.statement, durable=True)  # flush all
    history.record(
        conn,
        revision=failed.revision,
        direction=run.direction,
        checksum=checksum_of(failed.path, run.checksums),
        started_at=run.started_at,
        finished_at=datetime.now(UTC),
        duration_s=time.perf_counter() - run.clock,
        error=error,
    )
    conn.commit()
    now_at = ", ".join(current_heads(conn)) or "base"
    conn.commit()
    return now_at


def _hint_after(run: _MigrationRun, exc: Exception) -> str:
    """What to do about a failed step that is not retried."""
    if isinstance(exc, sa_exc.DBAPIError) and timeouts.is_statement_timeout(exc):
        return (
            f"statement_timeout {run.current_limits[1]} was reached; if it must run long set "
            'statement_timeout = "0" in its file'
        )
    return f"fix the file, then run `make {run.direction}` again"


async def run(url: URL, cfg: Config, target: str, **options: Any) -> Outcome:
    """:func:`migrate` (same keyword options) on a new connection to ``url``."""
    async with connect(url) as conn:
        return await conn.run_sync(lambda sync_conn: migrate(sync_conn, cfg, target, **options))


def _shown(statement: str | None) -> str:
    flat = " ".join((statement or "?").split())
    return flat if len(flat) <= STATEMENT_SHOWN else flat[: STATEMENT_SHOWN - 3] + "..."


def _line_in(script: Script, exc: BaseException, shape: str = " (line {})") -> str:
    """`` (line N)`` of the revision file where ``exc`` was raised, if it was raised there."""
    line = revision_lines.raised_at(script.path, exc)
    return shape.format(line) if line else ""
