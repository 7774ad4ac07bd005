"""See before doing: what an upgrade would run, and what it would do to *this* database.

Per pending revision and per table it touches: the lock mode, whether the table is
rewritten or read in full, its size and row estimate here (``pg_class.reltuples``,
``pg_total_relation_size``), an estimate of how long the lock would be held here, and what
would fail on the rows there (:mod:`.preflight`).

Locks, rewrites, scans and their time are measured (:mod:`.impact`) on a scratch database
built from the migrations on the same server (the user needs CREATEDB): brought to this
database's revision, then each pending revision applied to tables filled with rows made
from their columns. The estimate scales each statement's measured time by the table's size
here over its size there. When no scratch database can be made, the plan says so and shows
what the SQL text tells (marked static), without estimates.

The live database is only read, in READ ONLY transactions; its SQL is Alembic's offline
rendering. No lock is taken on it.
"""

from __future__ import annotations

import asyncio
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any

from alembic.config import Config
from alembic.script import Script, ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from terrafusion_sync.database import connect
from terrafusion_sync.database_errors import translate_errors
from terrafusion_sync.errors import first_line
from terrafusion_sync.migrations.deploy.timeouts import Timeouts
from terrafusion_sync.migrations.outcome import Report, quiet
from terrafusion_sync.migrations.planning import preflight, waiting_nulls
from terrafusion_sync.migrations.planning.impact import (
    LOCK_MODES,
    Impact,
    ImpactMeter,
    measure_upgrade,
    sizes,
)
from terrafusion_sync.migrations.planning.preflight import LiveRowFailure
from terrafusion_sync.migrations.plumbing import phases
from terrafusion_sync.migrations.plumbing.commands import current_revisions, upgrade_sql
from terrafusion_sync.migrations.plumbing.config import alembic_config, script_directory
from terrafusion_sync.migrations.plumbing.revisions import file_name, pending
from terrafusion_sync.migrations.plumbing.steps import ConnectionMigrator
from terrafusion_sync.migrations.sql import alembic_output
from terrafusion_sync.migrations.sql import statements as st
from terrafusion_sync.provision import scratch_database

PLAN_ROWS = 20_000
"""Rows per table on the plan's scratch database: more than the review's, so that a
statement's fixed cost weighs less in the rate the estimates scale. Seen on PostgreSQL 15
on a shared machine: a 400000-row rewrite that took 1.3 s to 3.1 s on copies was estimated
at 14 s from 1000 rows, at 1.1 s to 3.1 s from 20000."""

STATIC_LOCKS = {
    st.CREATE_INDEX: "ShareLock",
    st.CREATE_TRIGGER: "ShareRowExclusiveLock",
    st.VALIDATE_CONSTRAINT: "ShareUpdateExclusiveLock",
    st.UPDATE: "RowExclusiveLock",
    st.DELETE: "RowExclusiveLock",
    st.INSERT: "RowExclusiveLock",
}
"""When nothing could be measured: the lock each kind of statement asks for (PostgreSQL's
documentation, "Explicit Locking"); any other ALTER TABLE takes AccessExclusiveLock."""


@dataclass(frozen=True)
class TableImpact:
    """What a revision would do to one table of this database."""

    table: str
    lock: str | None
    rewrite: bool
    scan: bool
    rows: int
    """Row estimate here (``pg_class.reltuples``)."""
    bytes: int
    """Size here, indexes and TOAST included (``pg_total_relation_size``)."""
    estimated_lock_s: float | None
    """Measured time scaled by size here; None when nothing could be measured."""

    def describe(self) -> str:
        """``report_jobs: AccessExclusiveLock, rewrite; 40000000 rows, 9.1 GB; lock ~12 s``."""
        work = [w for w, on in (("rewrite", self.rewrite), ("full scan", self.scan)) if on]
        held = (
            f"lock held ~{self.estimated_lock_s:.3g} s (estimate)"
            if self.estimated_lock_s is not None
            else "lock time unknown"
        )
        return (
            f"{self.table}: {self.lock or 'no lock seen'}"
            f"{', ' + ', '.join(work) if work else ', no rewrite, no scan'}; "
            f"{self.rows} rows, {_size(self.bytes)} here; {held}"
        )


@dataclass(frozen=True)
class Planned:
    """One revision that would run, and what it would do here."""

    script: Script
    lock_timeout: str
    statement_timeout: str
    tables: list[TableImpact] = field(default_factory=list)
    will_fail: list[LiveRowFailure] = field(default_factory=list)
    destroys: list[preflight.Destroys] = field(default_factory=list)
    """Tables and columns it drops that hold data here (a contract's old column aside)."""

    def describe(self) -> str:
        """``rev  doc  (file; lock_timeout 5s, statement_timeout 1h)``."""
        return (
            f"{self.script.revision}  {self.script.doc}  ({file_name(self.script)}; lock_timeout "
            f"{self.lock_timeout}, statement_timeout {self.statement_timeout})"
        )

    def as_json(self) -> dict[str, Any]:
        """The revision as the plan's JSON shows it."""
        return {
            "revision": self.script.revision,
            "file": file_name(self.script),
            "tables": [asdict(t) for t in self.tables],
            "will_fail": [{"table": w.table, "reason": w.reason} for w in self.will_fail],
            "phase": phases.phase_of(self.script),
            "destroys": [
                {"table": d.table, "column": d.column, "rows": d.rows} for d in self.destroys
            ],
        }


@dataclass(frozen=True)
class Plan:
    """Where the database is, the revisions to run in order, and their SQL."""

    current: tuple[str, ...]
    revisions: list[Planned]
    sql: str
    measured: str = ""
    """How locks and times were known: measured on a scratch database, or why not."""
    waiting: list[str] = field(default_factory=list)
    """Contract revisions that ``make upgrade`` leaves for ``make contract``."""
    waiting_fail: list[LiveRowFailure] = field(default_factory=list)
    """What of them would fail on the rows there (a NOT NULL over NULLs)."""

    def describe_lines(self, where: str, target: str) -> list[str]:
        """The plan as ``make plan`` prints it, before the SQL: ``where`` names the database."""
        at = ", ".join(self.current) or "base"
        lines = [f"plan for {where}: at {at}, target {target}"]
        if self.waiting:
            lines.append(
                f"{len(self.waiting)} contract revision(s) wait for `make contract`, not run "
                f"here: {', '.join(self.waiting)}"
            )
            lines += [f"  {f.revision} will fail: {f.table}: {f.reason}" for f in self.waiting_fail]
        if not self.revisions:
            return [*lines, "nothing to do: no revision would run"]
        lines.append(f"{len(self.revisions)} revision(s) would run, each in its own transaction:")
        for planned in self.revisions:
            lines.append(f"  {planned.describe()}")
            lines += [f"    {table.describe()}" for table in planned.tables]
            lines += [f"    will fail: {f.table}: {f.reason}" for f in planned.will_fail]
            lines += [
                f"    destroys: {d.describe()} (refused without --allow-data-loss)"
                for d in planned.destroys
            ]
        return [
            *lines,
            f"({self.measured})",
            "-- their SQL (offline rendering); nothing was changed",
        ]

    def as_json(self, database: str, target: str) -> dict[str, Any]:
        """``{"database", "current", "target", "revisions": [...]}`` for tools."""
        return {
            "database": database,
            "current": list(self.current),
            "target": target,
            "revisions": [p.as_json() for p in self.revisions],
            "waiting": self.waiting,
            "waiting_will_fail": [
                {"revision": f.revision, "table": f.table, "reason": f.reason}
                for f in self.waiting_fail
            ],
        }


Measured = tuple[dict[str, Impact], str]
"""Per revision what the scratch database showed, and how it was known."""


@dataclass
class PlanCache:
    """What plans of several databases share, made once per revision range, not per
    database: the offline SQL, and the scratch database's measurements (per server).

    A fleet of 40 databases at one revision builds one scratch database, not 40. Use one
    cache with one ``cfg``'s revision files, on one event loop."""

    scripts: ScriptDirectory | None = None
    """The revision files, loaded once (each plan's ``cfg`` may differ only in what
    Alembic is handed); None: each plan loads them from its ``cfg``."""
    sql: dict[str, str] = field(default_factory=dict)
    measured: dict[tuple[URL, tuple[str, ...], tuple[str, ...]], Measured] = field(
        default_factory=dict
    )
    alembic: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held while Alembic renders or measures: its module-global context is one per
    process, so plans sharing a cache may run at once and still never share it."""

    async def sql_of(self, url: URL, spec: str, cfg: Config, scripts: ScriptDirectory) -> str:
        """The offline SQL of ``spec`` (``FROM:TO``), rendered once."""
        async with self.alembic:
            if spec not in self.sql:
                self.sql[spec] = await upgrade_sql(url, spec, cfg=cfg, scripts=scripts)
        return self.sql[spec]

    async def measure(
        self,
        url: URL,
        cfg: Config,
        current: tuple[str, ...],
        to_run: list[str],
        touched: dict[str, list[str]],
    ) -> Measured:
        """:func:`_measure`, once per server and revision range."""
        key = (url.set(database=""), current, tuple(to_run))
        async with self.alembic:
            if key not in self.measured:
                self.measured[key] = await _measure(url, cfg, current, to_run, touched)
        return self.measured[key]


# long: read the live tables, render, measure, join: in the order a plan is made
async def plan(
    url: URL,
    target: str = "head",
    *,
    cfg: Config | None = None,
    limits: Timeouts | None = None,
    report: Report = quiet,
    cache: PlanCache | None = None,
    current: tuple[str, ...] | None = None,
    live: AsyncConnection | None = None,
) -> Plan:
    """What ``upgrade`` to ``target`` would do on ``url``; changes nothing there.

    ``report`` hears what takes time (reading the live tables, the scratch measurement).
    ``cache`` shares the work with plans of other databases at the same revisions;
    ``current`` is the database's revision when the caller has just read it (a fleet has),
    and ``live`` the connection to ``url`` it read it on (else the plan opens its own).
    """
    cache = cache or PlanCache()
    cfg = cfg or alembic_config()
    limits = limits or Timeouts()
    scripts = cache.scripts or script_directory(cfg)
    target = phases.upgrade_target(scripts, target, contract=False)
    if current is None:
        current = await current_revisions(url, cfg)
    to_run = pending(scripts, target, current)
    waits = [s for s in phases.waiting(scripts, current) if s not in to_run]
    waiting = [s.revision for s in waits]
    waiting_fail = await _waiting_nulls(url, waits)
    if not to_run:
        return Plan(current, [], "", waiting=waiting, waiting_fail=waiting_fail)
    sql = await cache.sql_of(url, _spec(scripts, current, target), cfg, scripts)
    by_revision = alembic_output.split(sql)
    touched = _touched(by_revision)
    everything = list(dict.fromkeys(t for tables in touched.values() for t in tables))
    report(f"reading {len(everything)} table(s) here and checking their rows (read only)")
    spared = frozenset(s.revision for s in to_run if phases.is_contract(s))
    async with connect(url) if live is None else nullcontext(live) as conn:
        with translate_errors(url, connecting=False):  # on ``live`` too, as inside connect()
            found, failing, lost = await conn.run_sync(
                lambda c: (
                    *_read_live(c, everything, by_revision, limits.statement),
                    preflight.destroyed(c, by_revision, spared),
                )
            )
    report(f"measuring {len(to_run)} revision(s) on a scratch database")
    revisions = [s.revision for s in to_run]
    impacts, how = await cache.measure(url, cfg, current, revisions, touched)
    planned = [
        Planned(
            script,
            *limits.for_revision(script),
            tables=_tables_of(script.revision, impacts, found, by_revision, touched),
            will_fail=[w for w in failing if w.revision == script.revision],
            destroys=[d for d in lost if d.revision == script.revision],
        )
        for script in to_run
    ]
    return Plan(current, planned, sql, how, waiting, waiting_fail)


async def _waiting_nulls(url: URL, waits: list[Script]) -> list[LiveRowFailure]:
    """What of the waiting contracts would fail on the rows here (read only)."""
    if not any(phases.left_alone(s) for s in waits):
        return []

    def read(conn: Connection) -> list[LiveRowFailure]:
        conn.execute(text("SET TRANSACTION READ ONLY"))
        try:
            return waiting_nulls.null_rows(conn, waits)
        finally:
            conn.rollback()

    async with connect(url) as conn:
        return await conn.run_sync(read)


def _tables_of(
    rev: str,
    impacts: dict[str, Impact],
    live: dict[str, tuple[int, int]],
    by_revision: list[tuple[str, str]],
    touched: dict[str, list[str]],
) -> list[TableImpact]:
    """What ``rev`` does to each table: measured, else read from its SQL."""
    if rev in impacts:
        return _measured_tables(impacts[rev], live)
    return _static_tables(dict(by_revision).get(rev, ""), touched.get(rev, []), live)


def _spec(scripts: ScriptDirectory, current: tuple[str, ...], target: str) -> str:
    """``FROM:TO`` from the database's main-line revision (known: no reconnect)."""
    main = [c for c in current if not phases.is_contract(scripts.get_revision(c))]
    return f"{main[0]}:{target}" if len(main) == 1 else target


def _touched(by_revision: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Per revision, the tables it acts on that exist before the pending run."""
    created: set[str] = set()
    touched: dict[str, list[str]] = {}
    for revision, sql in by_revision:
        mine: dict[str, None] = {}
        for action in st.actions(sql):
            if action.kind == st.CREATE_TABLE:
                created.add(action.table)
            for table in (action.table, action.references):
                if table and table not in created and table != "alembic_version":
                    mine.setdefault(table, None)
        touched[revision] = list(mine)
    return touched


def _read_live(
    conn: Connection, tables: list[str], by_revision: list[tuple[str, str]], timeout: str
) -> tuple[dict[str, tuple[int, int]], list[LiveRowFailure]]:
    """The tables' sizes and what would fail on their rows: one READ ONLY transaction,
    each query stopping after ``timeout``."""
    if conn.in_transaction():
        conn.rollback()
    preflight.read_only(conn, timeout)
    try:
        found = {}
        for table, (rows, total) in sizes(conn, tables).items():
            if rows == 0:  # never analysed (reltuples -1): small enough to count
                rows = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() or 0
            found[table] = (int(rows), int(total or 0))
        return found, preflight.failures(conn, by_revision)
    finally:
        conn.rollback()


async def _measure(
    url: URL,
    cfg: Config,
    current: tuple[str, ...],
    pending: list[str],
    touched: dict[str, list[str]],
) -> Measured:
    """Measure ``pending`` on a scratch database at ``current``; or say why it could not."""
    if len(current) > 1:
        return {}, "not measured: the database has several heads"
    impacts: dict[str, Impact] = {}
    try:
        async with scratch_database(url, "plan") as scratch, connect(scratch) as conn:

            def run(sync: Connection) -> None:
                stepper = ConnectionMigrator(cfg, sync)
                if current:
                    stepper.upgrade(current[0])
                paths = {str(s.path) for s in stepper.scripts.walk_revisions()}
                probe = ImpactMeter(sync, paths)
                for rev in pending:
                    impacts[rev] = measure_upgrade(
                        sync, stepper.upgrade, rev, probe, touched.get(rev, []), PLAN_ROWS
                    )

            await conn.run_sync(run)
    except Exception as exc:
        if not impacts:
            return {}, f"not measured ({first_line(exc)}): locks from the SQL text (static)"
        return (
            impacts,
            f"measured until a revision failed on the scratch database: {first_line(exc)}",
        )
    return impacts, (
        f"measured on a scratch database built from the migrations, {PLAN_ROWS} rows per "
        "table; lock times scale the measured time by each table's size here (estimates)"
    )


def _measured_tables(impact: Impact, live: dict[str, tuple[int, int]]) -> list[TableImpact]:
    estimated = _estimates(impact, live)
    return [
        TableImpact(
            rel.name,
            rel.lock,
            rel.rewrite,
            rel.scan,
            *live.get(rel.name, (0, 0)),
            estimated.get(rel.name),
        )
        for rel in impact.tables()
        if rel.name in live
    ]


def _estimates(impact: Impact, live: dict[str, tuple[int, int]]) -> dict[str, float | None]:
    """Per table: the measured time from the statement that locked it to the commit, each
    statement that rewrote or read a table scaled by that table's size here over there."""
    per_statement: list[float | None] = []
    for statement in impact.statements:
        factor, unknown = 1.0, False
        for name in statement.rewrote + statement.scanned:
            table = impact.relations[name].table
            there = impact.relations[table].bytes if table in impact.relations else 0
            here = live.get(table, (0, 0))[1]
            if here and not there:
                unknown = True
                break
            factor = max(factor, here / there if there else 1.0)
        per_statement.append(None if unknown else statement.seconds * factor)
    found: dict[str, float | None] = {}
    for rel in impact.tables():
        first = next(
            (
                i
                for i, s in enumerate(impact.statements)
                if any(
                    impact.relations[n].table == rel.name for n in s.locked if n in impact.relations
                )
            ),
            None,
        )
        if first is None:
            found[rel.name] = 0.0
            continue
        rest = per_statement[first:]
        known = [seconds for seconds in rest if seconds is not None]
        found[rel.name] = round(sum(known), 6) if len(known) == len(rest) else None
    return found


def _static_tables(
    sql: str, touched: list[str], live: dict[str, tuple[int, int]]
) -> list[TableImpact]:
    """What the SQL text says (no measurement): lock by statement kind, rewrite and scan
    where PostgreSQL's documentation says a statement of that kind usually does them."""
    found: dict[str, TableImpact] = {}
    for action in st.actions(sql):
        rows_bytes = _live_of(action.table, live)
        if action.table not in touched or rows_bytes is None:
            continue
        lock = STATIC_LOCKS.get(action.kind, "AccessExclusiveLock")
        if action.kind == st.CREATE_INDEX and action.concurrently:
            lock = "ShareUpdateExclusiveLock"
        if action.kind == st.ADD_CONSTRAINT and action.constraint_type == st.FOREIGN_KEY:
            lock = "ShareRowExclusiveLock"
        scan = (
            action.kind in (st.SET_NOT_NULL, st.VALIDATE_CONSTRAINT)
            or (action.kind == st.CREATE_INDEX and not action.concurrently)
            or (action.kind == st.ADD_CONSTRAINT and not action.not_valid)
        )
        rewrite = action.kind == st.ALTER_TYPE
        name, (rows, size) = rows_bytes
        was = found.get(name)
        if was is not None:
            lock = max((lock, was.lock or ""), key=_rank)
            rewrite, scan = rewrite or was.rewrite, scan or was.scan
        found[name] = TableImpact(name, lock, rewrite, scan, rows, size, None)
    return list(found.values())


def _live_of(table: str, live: dict[str, tuple[int, int]]) -> tuple[str, tuple[int, int]] | None:
    for name in (table, table.split(".")[-1]):
        if name in live:
            return name, live[name]
    return None


def _rank(mode: str) -> int:
    return LOCK_MODES.index(mode) if mode in LOCK_MODES else -1


def _size(n: float) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} TB"
