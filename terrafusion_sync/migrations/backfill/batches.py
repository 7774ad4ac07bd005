"""Backfills: rewriting a live table's rows in short batches, resumable after any kill.

``op.backfill(table, set=..., where=...)`` in a revision (registered by :mod:`.ops`) checks
its input, then records the backfill in ``tfsync_backfill``, inside the revision's own
transaction: recorded exactly when the revision is applied. Once the step has committed,
the runner calls :func:`run_pending`, still holding the migration lock. It walks the
table's primary key in keyset batches (``WHERE key > last ORDER BY key LIMIT n``, never
OFFSET), each one short transaction under the project's ``lock_timeout`` and
``statement_timeout`` that rewrites the batch's rows matching ``where`` and, in the same
commit, moves the row of ``tfsync_backfill`` on (last key, rows walked and changed). A
run killed at any point therefore resumes after the last committed batch, and no row is
rewritten twice by the walk itself.

The batch size adapts so that a batch takes about the target time (the call's
``batch_time``, else ``TFSYNC_BACKFILL_BATCH_TIME``): a writer of the same rows waits for
one batch at most. Slow batches shrink it at once; a lock timeout halves it and retries
with backoff, then stops with the table and who holds it. An upgrade reports success only
once every backfill of an applied revision is done: the ``tfsync_migration_state``
shortcut (:mod:`.uptodate`) is recorded only after them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import URL, Connection

from terrafusion_sync.database import connect
from terrafusion_sync.errors import MigrationError, first_line
from terrafusion_sync.migrations.deploy import history, timeouts
from terrafusion_sync.migrations.deploy.retry import LockRetries
from terrafusion_sync.migrations.outcome import Report
from terrafusion_sync.migrations.plumbing import tool_tables
from terrafusion_sync.settings import seconds

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory

table = tool_tables.backfill_table
FIRST_BATCH = 1000
"""Rows in a backfill's first batch; the target time sizes every later one."""
MAX_BATCH = 100_000
GROWTH = 2.0
"""A batch is at most this many times the size of the one before."""


@dataclass(frozen=True)
class Call:
    """What ``op.backfill`` was asked: ``UPDATE table SET set_sql WHERE where_sql``."""

    table: str
    """Quoted, schema-qualified when a schema was given: ready for SQL."""
    set_sql: str
    where_sql: str = "true"
    batch_time: str | None = None
    """A duration (``300ms``); None: ``TFSYNC_BACKFILL_BATCH_TIME``."""

    def plain_sql(self) -> str:
        """The whole backfill as one statement (what plain ``alembic`` runs)."""
        return f"UPDATE {self.table} SET {self.set_sql}\n WHERE ({self.where_sql}\n)"

    def rendered(self) -> str:
        """What ``--sql`` shows: SQL comments saying what runs after the revision, and how."""
        each = self.batch_time or "TFSYNC_BACKFILL_BATCH_TIME"

        def lines(word: str, sql: str) -> str:
            return "\n".join(
                f"--   {word if i == 0 else ' ' * len(word)} {part}"
                for i, part in enumerate(sql.strip().splitlines())
            )

        return (
            f"-- op.backfill on {self.table}, run by tfsync once this revision has committed:\n"
            f"-- in batches on its primary key, each its own short transaction of about {each},\n"
            "-- resumable after a kill (progress in tfsync_backfill); for each batch of keys:\n"
            f"{lines('SET', self.set_sql)}\n{lines('WHERE', self.where_sql)}\n"
        )


@dataclass(frozen=True)
class Key:
    """A table's primary key: its columns (quoted) and their types, in index order."""

    columns: tuple[str, ...]
    types: tuple[str, ...]


@dataclass(frozen=True)
class Status:
    """One backfill, as ``tfsync backfill status`` lists it."""

    revision: str
    table: str
    state: str
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
        """One line of ``make backfills``: rows done of the estimate, batches, rate, state."""
        total = f" of ~{self.rows_estimate:,}" if self.rows_estimate is not None else ""
        error = f"  {self.error}" if self.error else ""
        return (
            f"{self.revision}  {self.table}  {self.state:<7} {self.rows_walked:,}{total} rows "
            f"walked, {self.rows_changed:,} changed, {self.batches:,} batches, "
            f"{self.rate:,.0f} rows/s{error}"
        )


_PRIMARY_KEY = sa.text(
    "SELECT quote_ident(a.attname), format_type(a.atttypid, a.atttypmod)"
    " FROM pg_index i"
    " CROSS JOIN LATERAL unnest(CAST(i.indkey AS int2[])) WITH ORDINALITY AS k(attnum, ord)"
    " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
    " WHERE i.indrelid = to_regclass(:t) AND i.indisprimary ORDER BY k.ord"
)


def validate(conn: Connection, call: Call, where: str) -> Key:
    """The table's key, once PostgreSQL has accepted the table, ``set`` and ``where``.

    ``where`` names the call (revision, file, line) for the one-line error. Runs in the
    caller's transaction; a statement PostgreSQL rejects is tried in a savepoint.
    """

    def refuse(problem: str) -> MigrationError:
        return MigrationError(
            f"{where}: op.backfill on {call.table}: {problem}",
            "the revision was rolled back and nothing was changed; fix the op.backfill call",
        )

    if conn.execute(sa.text("SELECT to_regclass(:t)"), {"t": call.table}).scalar() is None:
        raise refuse("no such table")
    found = conn.execute(_PRIMARY_KEY, {"t": call.table}).all()
    if not found:
        raise refuse("the table has no primary key, which the batches walk")
    key = Key(tuple(r[0] for r in found), tuple(r[1] for r in found))
    from terrafusion_sync.migrations.sql.statements import clauses_problem  # pglast: only here

    problem = clauses_problem(call.set_sql, call.where_sql)
    if problem is not None:
        raise refuse(problem)
    try:
        with conn.begin_nested():
            conn.execute(
                sa.text("EXPLAIN " + rewrite_sql(call, key, after=True)),
                {"last": [None] * len(key.columns), "end": [None] * len(key.columns)},
            )
    except sa_exc.DBAPIError as exc:
        raise refuse(f"PostgreSQL rejects set/where: {first_line(exc)}") from exc
    return key


def record(conn: Connection, revision: str, call: Call, key: Key) -> None:
    """Note the backfill as pending, in the revision's transaction (again: start over)."""
    values: dict[str, Any] = {
        "key_columns": list(key.columns),
        "key_types": list(key.types),
        "batch_time_ms": round(seconds(call.batch_time) * 1000) if call.batch_time else None,
        "state": "pending",
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


def _bound(key: Key, name: str) -> str:
    """The key's values from the text[] parameter ``name``, cast to their types."""
    return ", ".join(
        f"CAST((CAST(:{name} AS text[]))[{i + 1}] AS {t})" for i, t in enumerate(key.types)
    )


def range_sql(call: Call, key: Key, *, after: bool, size: int) -> str:
    """The next ``size`` keys after ``:last`` (a text[]): how many, and the last of them."""
    cols = ", ".join(key.columns)
    aliases = [f"_tfsync_k{i}" for i in range(len(key.columns))]
    start = f" WHERE ({cols}) > ({_bound(key, 'last')})" if after else ""
    select = ", ".join(f"{c} AS {a}" for c, a in zip(key.columns, aliases, strict=True))
    last = ", ".join(f"CAST({a} AS text)" for a in aliases)
    return (
        f"WITH batch AS MATERIALIZED (SELECT {select} FROM {call.table}{start}"
        f" ORDER BY {cols} LIMIT {int(size)})"
        " SELECT (SELECT count(*) FROM batch) AS walked,"
        f" (SELECT ARRAY[{last}] FROM batch"
        f" ORDER BY {', '.join(a + ' DESC' for a in aliases)} LIMIT 1) AS last_key"
    )


def rewrite_sql(call: Call, key: Key, *, after: bool) -> str:
    """The rows of one key range, ``:last`` (exclusive) to ``:end``, matching ``where``.

    Both bounds are given as values, so the planner sees a narrow range of the primary
    key's index (a join on the batch's keys would be hashed over the whole table).
    """
    keys = ", ".join(f"{call.table}.{c}" for c in key.columns)
    start = f"({keys}) > ({_bound(key, 'last')}) AND " if after else ""
    return (
        f"UPDATE {call.table} SET {call.set_sql}\n"
        f" WHERE {start}({keys}) <= ({_bound(key, 'end')}) AND ({call.where_sql}\n)"
    )


def next_size(size: int, elapsed: float, target: float) -> int:
    """The next batch's size: scaled to take ``target`` seconds, growing gradually."""
    factor = min(target / max(elapsed, 1e-3), GROWTH)
    return max(1, min(MAX_BATCH, int(size * factor)))


def run_pending(
    conn: Connection,
    scripts: ScriptDirectory,
    limits: timeouts.Timeouts,
    report: Report,
) -> None:
    """Run every unfinished backfill of an applied revision to its end, oldest first.

    Call it holding the migration lock, outside a transaction. Raises a one-line
    :class:`MigrationError` when one cannot go on; what it did stays done.
    """
    pending = conn.execute(
        sa.select(table).where(table.c.state != "done").order_by(table.c.id)
    ).all()
    if not pending:
        conn.rollback()
        return
    applied = _applied(conn, scripts)
    conn.rollback()
    for row in pending:
        if row.revision not in applied:
            continue  # downgraded since: a new upgrade records it afresh
        target = row.batch_time_ms / 1000 if row.batch_time_ms else seconds(limits.backfill_batch)
        lock, statement = limits.for_revision(scripts.get_revision(row.revision))
        _Walk(conn, row, target, limits, lock, statement, report).run()


def _applied(conn: Connection, scripts: ScriptDirectory) -> set[str]:
    from terrafusion_sync.migrations.plumbing.revisions import applied, current_heads

    return {script.revision for script in applied(scripts, current_heads(conn))}


# long: the batch walk; split by the backfill work of issue 22
class _Walk:
    """One backfill walked batch by batch from where its last committed batch ended."""

    def __init__(
        self,
        conn: Connection,
        row: Any,
        target: float,
        limits: timeouts.Timeouts,
        lock: str,
        statement: str,
        report: Report,
    ) -> None:
        self.conn, self.row, self.target, self.limits = conn, row, target, limits
        self.lock, self.statement, self.report = lock, statement, report
        self.call = Call(row.table_name, row.set_sql, row.where_sql)
        self.key = Key(tuple(row.key_columns), tuple(row.key_types))
        self.last: list[str] | None = row.last_key
        self.walked, self.changed = row.rows_walked, row.rows_changed
        self.batches = row.batches
        self.size = row.batch_size or FIRST_BATCH
        self.label = f"backfill {row.revision} {row.table_name}"

    def run(self) -> None:
        from terrafusion_sync.migrations.backfill.row_progress import RowProgress

        conn, row = self.conn, self.row
        started_at, clock = datetime.now(UTC), time.perf_counter()
        estimate = self._estimate()
        conn.execute(
            sa.update(table)
            .where(table.c.id == row.id)
            .values(
                state="running",
                rows_estimate=estimate,
                started_at=sa.func.coalesce(table.c.started_at, sa.func.now()),
            )
        )
        conn.commit()
        resumed = f", resuming after {self.walked:,} rows" if self.walked else ""
        self.report(
            f"  {self.label}: about {estimate:,} rows, batches of about "
            f"{self.target * 1000:.0f} ms{resumed}"
        )
        retries = LockRetries(self.limits)
        with RowProgress(self.report, self.label, estimate, self.walked) as shown:
            done = False
            while not done:
                try:
                    done, elapsed = self._batch()
                except sa_exc.DBAPIError as exc:
                    self._after_error(exc, retries, started_at, clock)
                    continue
                retries.reset()
                shown.update(self.walked)
                self.size = next_size(self.size, elapsed, self.target)
        note = (
            f"{row.table_name}: {self.changed:,} rows changed, {self.walked:,} walked "
            f"in {self.batches:,} batches"
        )
        self._finish(started_at, clock, note=note)
        self.report(f"  backfilled {row.revision} {note} ({time.perf_counter() - clock:.2f} s)")

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

    def _batch(self) -> tuple[bool, float]:
        """One batch and its progress, committed together; (was it the last, seconds)."""
        conn, clock = self.conn, time.perf_counter()
        # a lost commit loses its batch and that batch's progress alike: no flush per batch
        conn.execute(
            sa.text(
                "SELECT set_config('lock_timeout', :lock, true),"
                " set_config('statement_timeout', :statement, true),"
                " set_config('synchronous_commit', 'off', true)"
            ),
            {"lock": self.lock, "statement": self.statement},
        )
        after = self.last is not None
        params = {"last": self.last} if after else {}
        sql = range_sql(self.call, self.key, after=after, size=self.size)
        walked, last = conn.execute(sa.text(sql), params).one()
        changed = 0
        if walked:
            rewrite = sa.text(rewrite_sql(self.call, self.key, after=after))
            changed = conn.execute(rewrite, {**params, "end": last}).rowcount
        done = walked < self.size
        elapsed = time.perf_counter() - clock
        conn.execute(
            sa.update(table)
            .where(table.c.id == self.row.id)
            .values(
                last_key=last if last is not None else table.c.last_key,
                rows_walked=table.c.rows_walked + walked,
                rows_changed=table.c.rows_changed + changed,
                batches=table.c.batches + 1,
                batch_size=self.size,
                seconds=table.c.seconds + elapsed,
                error=None,
            )
        )
        conn.commit()
        self.last = last if last is not None else self.last
        self.walked += walked
        self.changed += changed
        self.batches += 1
        return done, time.perf_counter() - clock

    def _after_error(
        self, exc: sa_exc.DBAPIError, retries: LockRetries, started_at: datetime, clock: float
    ) -> None:
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
            self.size = max(1, self.size // 2)
            self.report(
                f"  {where}: {busy} stayed locked past lock_timeout {self.lock}; "
                f"{retry} with {self.size:,} rows in {retry.delay:.1f} s"
            )
            retries.wait(retry)
            return
        error = (
            f"could not lock {busy} within lock_timeout {self.lock}, {retries.attempts} attempts"
            if busy is not None
            else f"failed: {first_line(exc)}"
        )
        self._finish(started_at, clock, error=error)
        raise MigrationError(
            f"{where} {error}",
            "the batches before it stay done and the revision stays applied; fix the cause, "
            "then run `make upgrade` again to resume",
        ) from exc

    def _finish(
        self,
        started_at: datetime,
        clock: float,
        *,
        note: str | None = None,
        error: str | None = None,
    ) -> None:
        """The backfill's state and its history row, committed durably together."""
        conn = self.conn
        conn.execute(sa.text("SET LOCAL synchronous_commit = on"))
        done = error is None
        conn.execute(
            sa.update(table)
            .where(table.c.id == self.row.id)
            .values(
                state="done" if done else "failed",
                error=error,
                finished_at=sa.func.now() if done else None,
            )
        )
        history.record(
            conn,
            revision=self.row.revision,
            direction="backfill",
            checksum=None,
            started_at=started_at,
            finished_at=datetime.now(UTC),
            duration_s=time.perf_counter() - clock,
            error=error and f"{self.row.table_name}: {error}",
            note=note,
        )
        conn.commit()


def statuses(conn: Connection) -> list[Status]:
    """Every backfill recorded on the database, oldest first."""
    if conn.execute(sa.text("SELECT to_regclass(:t)"), {"t": table.name}).scalar() is None:
        return []
    rows = conn.execute(sa.select(table).order_by(table.c.id)).all()
    return [
        Status(
            r.revision,
            r.table_name,
            r.state,
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


async def read(url: URL) -> list[Status]:
    """:func:`statuses` of the database at ``url``."""
    async with connect(url) as conn:
        return await conn.run_sync(statuses)
