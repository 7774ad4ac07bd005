"""Rehearse the pending upgrade on a copy of the live database's own rows, measured.

The plan (:mod:`.plan`) prices each revision on made-up rows; the pre-flight knows a few
failures. Real rows hold what nobody expected (``'N/A'`` in a postal code, an old row a
new CHECK refuses, ten times the rows a ``WHERE`` was meant to match). So:

1. the plan is made first, for its estimates (read only on the live database);
2. the live database is copied (:mod:`.copy`: one read-only snapshot, ``ACCESS SHARE``
   only) into a new database on the same server, or on ``to``;
3. each pending revision runs there through the same safe upgrade as ``make upgrade``
   (:func:`~terrafusion_sync.migrations.deploy.runner.migrate`, backfills included), one
   revision at a time under a :class:`~.impact.ImpactMeter`: each statement's time and line,
   the locks taken and how long they were held, rewrites and full reads, the WAL written
   and the change in the copy's size, each backfill's rows and rate;
4. the first failure stops it: revision, file line, statement, PostgreSQL's error and,
   where it can be told, the failing row's key; the revisions after it are not rehearsed;
5. the copy is dropped, whatever happened (a cancelled run included), unless ``keep``.

The live database is never written: not a row, not the migration lock, not the history.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from alembic.config import Config
from alembic.script import Script
from sqlalchemy import event, text
from sqlalchemy.engine import URL, Connection

from terrafusion_sync.database import connect, quoted
from terrafusion_sync.database_errors import root_cause
from terrafusion_sync.errors import ConfigError, DatabaseError, TfsyncError, first_line
from terrafusion_sync.migrations.deploy import runner
from terrafusion_sync.migrations.deploy.timeouts import Timeouts
from terrafusion_sync.migrations.outcome import Report, quiet
from terrafusion_sync.migrations.planning import copy as copier
from terrafusion_sync.migrations.planning.impact import Impact, ImpactMeter, strongest
from terrafusion_sync.migrations.planning.plan import Plan, Planned, plan
from terrafusion_sync.migrations.planning.rehearsed import (
    Backfill,
    Failure,
    Rehearsal,
    Rehearsed,
    Statement,
    TableFigures,
)
from terrafusion_sync.migrations.plumbing.commands import current_revisions
from terrafusion_sync.migrations.plumbing.config import alembic_config, script_directory
from terrafusion_sync.migrations.plumbing.revision_lines import raised_at
from terrafusion_sync.migrations.plumbing.revisions import file_name, pending
from terrafusion_sync.migrations.plumbing.steps import ConnectionMigrator
from terrafusion_sync.migrations.sql import statements as st
from terrafusion_sync.provision import derived_name, drop_database, ensure_database
from terrafusion_sync.settings import url_label

_POOL_LOG = logging.getLogger("sqlalchemy.pool")
_NO_LAST_RESORT = logging.NullHandler()
"""While a rehearsal runs: a cancelled run (Ctrl-C) may interrupt a copy connection while it
closes, which SQLAlchemy's pool logs with a traceback; with no logging configured Python
would print it on stderr beside the one-line error. A configured log still gets it."""

_GAUGES = text("SELECT pg_current_wal_lsn()::text, pg_database_size(current_database())")
_BACKFILLS = text(
    "SELECT table_name, rows_changed, seconds, state FROM tfsync_backfill"
    " WHERE revision = :rev ORDER BY id"
)


@dataclass(frozen=True)
class Options:
    """How to rehearse: keep the copy, sample large tables, put the copy elsewhere."""

    keep: bool = False
    sample: float | None = None
    """Percent of each large table's rows to copy (None: all)."""
    to: URL | None = None
    """The server (and credentials) for the copy; None: the live database's server."""
    jobs: int = copier.JOBS


async def rehearse(
    url: URL,
    target: str = "head",
    *,
    cfg: Config | None = None,
    options: Options | None = None,
    limits: Timeouts | None = None,
    report: Report = quiet,
) -> Rehearsal:
    """Rehearse the upgrade of ``url`` to ``target`` on a copy; see the module doc."""
    cfg = cfg or alembic_config()
    options = options or Options()
    limits = limits or Timeouts()
    _check_sample(options.sample)
    scripts = script_directory(cfg)
    current = await current_revisions(url, cfg)
    to_run = pending(scripts, target, current)
    copy_url = _copy_url(url, options.to)
    found = Rehearsal(url_label(url), url_label(copy_url), current, kept=options.keep)
    if not to_run:
        return found
    created = False
    try:
        created = await _create(copy_url)
        _POOL_LOG.addHandler(_NO_LAST_RESORT)
        await _rehearse_on(copy_url, url, target, cfg, to_run, options, limits, report, found)
    except asyncio.CancelledError:
        raise _cancelled() from None
    except TfsyncError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():  # a connection the cancel cut mid-call
            raise _cancelled() from None
        raise
    finally:
        if created and not options.keep:
            await drop_database(copy_url)
        _POOL_LOG.removeHandler(_NO_LAST_RESORT)
    return found


def _cancelled() -> TfsyncError:
    return TfsyncError(
        "the rehearsal was cancelled",
        "its copy was dropped and the live database was only read; run it again",
    )


async def _rehearse_on(
    copy_url: URL,
    url: URL,
    target: str,
    cfg: Config,
    to_run: list[Script],
    options: Options,
    limits: Timeouts,
    report: Report,
    found: Rehearsal,
) -> None:
    """The plan, the copy into ``copy_url`` (analyzed), then each revision run there."""
    the_plan = await plan(url, target, cfg=cfg, limits=limits, report=report)
    found.plan_note = the_plan.measured or "nothing measured"
    report(f"copying {found.database} into {found.copy} (one read-only snapshot)")
    found.copied = await copier.copy_database(
        url,
        copy_url,
        _schema_builder(cfg),
        sample=options.sample,
        jobs=options.jobs,
        report=report,
    )
    report(f"  {found.copied.describe()}")
    async with connect(copy_url, autocommit=True) as conn:
        await conn.execute(text("ANALYZE"))  # the planner sees the rows, as it does live
    async with connect(copy_url) as conn:
        await conn.run_sync(lambda c: _run_all(c, cfg, to_run, the_plan, limits, report, found))


def _check_sample(sample: float | None) -> None:
    if sample is not None and not 0 < sample <= 100:
        raise ConfigError(
            f"--sample {sample:g} is not a share of rows", "give a percent above 0, at most 100"
        )


def _copy_url(url: URL, to: URL | None) -> URL:
    """A new database name on ``to``'s server (else ``url``'s), unique to this run."""
    unique = (str(os.getpid()), secrets.token_hex(3))
    name = derived_name(url.database or "tfsync", "rehearse", *unique)
    return (to or url).set(database=name)


async def _create(copy_url: URL) -> bool:
    """Create the copy's database; a user who may not gets one line saying so."""
    try:
        return await ensure_database(copy_url)
    except DatabaseError as exc:
        if isinstance(root_cause(exc.__cause__ or exc), asyncpg.InsufficientPrivilegeError):
            raise DatabaseError(
                f"user {copy_url.username!r} may not create the rehearsal's copy at "
                f"{url_label(copy_url.set(database=None))}: {first_line(exc.__cause__ or exc)}",
                "grant it CREATEDB (ALTER ROLE … CREATEDB), or rehearse on a server where it "
                "may: --to URL",
            ) from exc
        raise


def _schema_builder(cfg: Config) -> Callable[[Connection, tuple[str, ...]], None]:
    """The copy's schema: the migrations run to the live database's revision(s)."""

    def build(conn: Connection, revisions: tuple[str, ...]) -> None:
        stepper = ConnectionMigrator(cfg, conn)
        for revision in revisions:
            stepper.upgrade(revision)

    return build


def _run_all(
    conn: Connection,
    cfg: Config,
    to_run: list[Script],
    the_plan: Plan,
    limits: Timeouts,
    report: Report,
    found: Rehearsal,
) -> None:
    """Each pending revision in turn, measured, until one fails."""
    planned = {p.script.revision: p for p in the_plan.revisions}
    probe = ImpactMeter(conn, {str(s.path) for s in to_run if s.path})
    for index, script in enumerate(to_run):
        report(f"rehearsing {script.revision}  {script.doc}")
        rehearsed = _run_one(conn, cfg, script, probe, limits, report)
        _beside_plan(rehearsed, planned.get(script.revision))
        found.revisions.append(rehearsed)
        if not rehearsed.ok:
            found.not_rehearsed = [s.revision for s in to_run[index + 1 :]]
            return


def _run_one(
    conn: Connection,
    cfg: Config,
    script: Script,
    probe: ImpactMeter,
    limits: Timeouts,
    report: Report,
) -> Rehearsed:
    """One revision through the safe upgrade, watched statement by statement."""
    wal_before, size_before = _gauges(conn)
    failure = None
    probe.start(script.revision)
    clock = time.perf_counter()
    with _FailedStatement(conn) as failed:
        try:
            runner.migrate(
                conn, cfg, script.revision, upgrading=True, limits=limits, force=True, report=report
            )
        except TfsyncError as exc:
            seconds = time.perf_counter() - clock
            failure = _failure(conn, script, exc, failed.seconds)
        else:
            seconds = time.perf_counter() - clock
        finally:
            impact = probe.stop()
    wal_after, size_after = _gauges(conn)
    backfills = [
        Backfill(t, int(r), float(s), str(state))
        for t, r, s, state in conn.execute(_BACKFILLS, {"rev": script.revision})
    ]
    conn.commit()
    return Rehearsed(
        script.revision,
        file_name(script),
        script.doc or "",
        seconds,
        statements=[Statement(s.line, s.sql, s.seconds) for s in impact.statements if s.line],
        tables=_tables(impact),
        backfills=backfills,
        wal_bytes=wal_after - wal_before,
        size_delta_bytes=size_after - size_before,
        failure=failure,
    )


class _FailedStatement:
    """How long the statement PostgreSQL refused ran (the probe sees only statements that
    finished): each statement's start is kept, and the error's hook (on the engine, which
    serves this one connection) reads the refused one's."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.started: dict[str, float] = {}
        self.seconds: float | None = None

    def __enter__(self) -> _FailedStatement:
        event.listen(self.conn, "before_cursor_execute", self._before)
        event.listen(self.conn.engine, "handle_error", self._error)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.conn, "before_cursor_execute", self._before)
        event.remove(self.conn.engine, "handle_error", self._error)

    def _before(self, conn: Connection, cursor: Any, statement: str, *_: object) -> None:
        self.started[statement] = time.perf_counter()

    def _error(self, context: Any) -> None:
        began = self.started.get(context.statement or "")
        if self.seconds is None and began is not None:
            self.seconds = time.perf_counter() - began


def _gauges(conn: Connection) -> tuple[int, int]:
    """The server's WAL position (``pg_lsn`` ``X/Y`` as a number) and the database's size."""
    wal, size = conn.execute(_GAUGES).one()
    conn.commit()
    high, low = str(wal).split("/")
    return (int(high, 16) << 32) + int(low, 16), int(size)


def _tables(impact: Impact) -> list[TableFigures]:
    """Each existing table the revision's own statements locked (not the tooling's, nor an
    ``op.backfill``'s batches, which take their locks one short transaction at a time):
    the strongest lock, held from the first of them that took it to the end of the last."""
    own = [s for s in impact.statements if s.in_transaction and s.line is not None]
    end = max((s.at + s.seconds for s in own), default=0.0)
    figures = []
    for rel in impact.tables():
        taken = [s for s in own if rel.name in s.locked]
        if taken:
            mode = strongest(s.locked[rel.name] for s in taken)
            held = end - taken[0].at
            figures.append(TableFigures(rel.name, mode, held, rel.rewrite, rel.scan, None))
    return figures


def _beside_plan(rehearsed: Rehearsed, planned: Planned | None) -> None:
    """Put the plan's figures beside the measured ones."""
    if planned is None:
        return
    by_table = {t.table: t for t in planned.tables}
    rehearsed.tables = [
        TableFigures(t.table, t.lock, t.lock_held_s, t.rewrite, t.scan, by_table.get(t.table))
        for t in rehearsed.tables
    ]
    estimates = [t.estimated_lock_s for t in planned.tables if t.estimated_lock_s is not None]
    rehearsed.plan_duration_s = max(estimates) if estimates else None


def _failure(conn: Connection, script: Script, exc: TfsyncError, seconds: float | None) -> Failure:
    """What failed: the statement, its file line and time, PostgreSQL's error, the row's key."""
    cause = exc.__cause__
    if cause is None:
        return Failure(None, raised_at(script.path, exc), str(exc), None)
    statement = getattr(cause, "statement", None)
    driver = root_cause(cause)
    detail = getattr(driver, "detail", None)
    key = detail or _failing_row(conn, statement, getattr(driver, "sqlstate", None))
    return Failure(statement, raised_at(script.path, cause), first_line(cause), key, seconds)


_TRIES = text(
    """
CREATE OR REPLACE FUNCTION pg_temp.tfsync_fails(query text, row_at tid) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE query USING row_at;
  RETURN false;
EXCEPTION WHEN others THEN
  RETURN true;
END $$
"""
)
_PRIMARY_KEY = text(
    "SELECT array_agg(quote_ident(a.attname) ORDER BY a.attnum) FROM pg_index i"
    " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)"
    " WHERE i.indrelid = to_regclass(:t) AND i.indisprimary"
)


def _failing_row(conn: Connection, statement: str | None, sqlstate: str | None) -> str | None:
    """For a type change whose cast failed (a data exception, class 22): the first row of
    the copy whose value the cast refuses, found one row at a time (on the copy only)."""
    if not statement or not (sqlstate or "").startswith("22"):
        return None
    change = next((a for a in st.actions(statement) if a.kind == st.ALTER_TYPE), None)
    if change is None or change.type_name is None or change.column is None:
        return None
    value = change.expression or quoted(change.column)
    query = f"SELECT ({value})::{change.type_name} FROM {change.table} WHERE ctid = $1"
    try:
        conn.execute(_TRIES)
        keys = conn.execute(_PRIMARY_KEY, {"t": change.table}).scalar() or ["ctid"]
        shown = ", ".join(keys)
        row = conn.execute(
            text(
                f"SELECT ({shown})::text, ({quoted(change.column)})::text FROM {change.table}"
                " WHERE pg_temp.tfsync_fails(:q, ctid) LIMIT 1"
            ),
            {"q": query},
        ).first()
    except Exception as exc:  # the search is a courtesy: its own failure is not the story
        conn.rollback()
        return f"not found ({first_line(exc)})"
    conn.rollback()
    if row is None:
        return None
    return f"({shown})={row[0]}: {change.column} = {row[1]!r}"
