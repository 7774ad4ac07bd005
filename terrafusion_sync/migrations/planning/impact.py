"""Measured, not guessed: what a revision really locks, rewrites and scans.

On a scratch database (the review's, or the plan's) each existing table a revision touches
is first filled with rows made from its column types (:func:`seed`); then the revision is
applied while a :class:`ImpactMeter` watches its connection. After every statement, inside the
step's transaction, one catalog query reads:

- the locks this backend holds (``pg_locks``, PostgreSQL's own mode names; the strongest
  per relation counts, since a lock is held until the transaction ends);
- each table's and index's storage (``pg_class.relfilenode``): a new one is a rewrite;
- the table's scan counters (``pg_stat_xact_user_tables``): a sequential scan during the
  statement means the table was read in full (to validate, to build an index, ...);
- the statement's time, and the revision file line that sent it.

Per statement rather than once per step (Alembic's ``on_version_apply``): so a finding can
be confirmed or refuted at its own line, and a revision with two ALTERs on one table tells
which of them rewrote it. Statements in an ``autocommit_block`` run outside the step's
transaction: their rewrites are still seen, but their locks are released and their scans
unaccounted by the time the probe looks, so they are reported without lock or scan. An
``op.backfill``, which the scratch run applies inline but a deploy runs in batches after
the revision commits, is not counted as the revision's.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection

from terrafusion_sync.database import quoted
from terrafusion_sync.errors import first_line
from terrafusion_sync.migrations.plumbing import revision_lines

SEED_ROWS = 1000
"""Rows put in each existing table a measured revision touches."""

LOCK_MODES = (
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
)
"""PostgreSQL's table lock modes, weakest first."""
BLOCKS_WRITES = frozenset(LOCK_MODES[4:])
"""Modes that make every INSERT, UPDATE and DELETE of the table wait."""

_SNAPSHOT = """
SELECT c.oid, c.oid::regclass::text, c.relkind::text, c.relfilenode,
       COALESCE(i.indrelid, c.oid)::regclass::text,
       CASE WHEN c.relkind = 'i' THEN 0 ELSE pg_stat_get_xact_numscans(c.oid) END,
       (SELECT array_agg(l.mode::text) FROM pg_locks l
         WHERE l.locktype = 'relation' AND l.relation = c.oid
           AND l.pid = pg_backend_pid() AND l.granted)
  FROM pg_class c
  LEFT JOIN pg_index i ON i.indexrelid = c.oid
 WHERE c.relkind IN ('r', 'p', 'i', 'm', 'v') AND {where}
"""
_OF_TABLES = text(_SNAPSHOT.format(where="(c.oid = ANY (:oids) OR i.indrelid = ANY (:oids))"))
"""The tables a revision touches and their indexes (sequential scans: tables only)."""
_OF_SCHEMA = text(_SNAPSHOT.format(where="c.relnamespace = current_schema()::regnamespace"))
"""Every table and index of the schema, when which tables are touched is not known."""
_IGNORED = ("alembic_version", "tfsync_")


def strongest(modes: Iterable[str]) -> str | None:
    """The strongest of ``modes`` (PostgreSQL's names), or None."""
    known = [m for m in modes if m in LOCK_MODES]
    return max(known, key=LOCK_MODES.index) if known else None


@dataclass
class Relation:
    """What one revision did to one table or index."""

    name: str
    table: str
    """The table itself, or the table an index is on."""
    index: bool
    new: bool
    """Created by this revision (nobody else can be using it)."""
    lock: str | None = None
    rewrite: bool = False
    scan: bool = False
    seconds: float = 0.0
    """Time of the statements that rewrote or scanned it."""
    rows: int = 0
    """Rows in it when the revision started (seeded)."""
    bytes: int = 0
    """Its size when the revision started, indexes included (``pg_total_relation_size``)."""
    lines: list[int] = field(default_factory=list)
    """Revision file lines of the statements that rewrote or scanned it."""

    @property
    def blocks_writes(self) -> bool:
        """An existing table rewritten or read in full under a lock that stops writers."""
        return (
            not self.new
            and not self.index
            and (self.rewrite or self.scan)
            and self.lock in BLOCKS_WRITES
        )

    def describe(self) -> str:
        """``rewrote report_jobs under AccessExclusiveLock (measured)``."""
        if self.rewrite:
            what = f"rewrote {self.name}"
        elif self.scan:
            what = f"read all of {self.name}"
        else:
            what = f"neither rewrote nor read {self.name}"
        under = f" under {self.lock}" if self.lock else ""
        return f"{what}{under} (measured)"

    def facts(self) -> dict[str, Any]:
        """The measured facts, for JSON."""
        return {
            "table": self.name,
            "lock": self.lock,
            "rewrite": self.rewrite,
            "scan": self.scan,
            "seconds": round(self.seconds, 6),
            "rows": self.rows,
            "bytes": self.bytes,
        }


@dataclass
class Statement:
    """One statement a revision sent: its line, time, and what it did to which relation."""

    line: int | None
    seconds: float
    in_transaction: bool
    sql: str = ""
    at: float = 0.0
    """When it began, in seconds after :meth:`ImpactMeter.start`."""
    rewrote: list[str] = field(default_factory=list)
    scanned: list[str] = field(default_factory=list)
    locked: dict[str, str] = field(default_factory=dict)


@dataclass
class Impact:
    """What one revision did, measured on a scratch database."""

    revision: str
    seconds: float = 0.0
    relations: dict[str, Relation] = field(default_factory=dict)
    statements: list[Statement] = field(default_factory=list)
    seeded: dict[str, int] = field(default_factory=dict)
    not_seeded: dict[str, str] = field(default_factory=dict)
    """Tables left empty, and why."""
    failed_on_rows: str | None = None
    """The error when the seeded rows made the revision fail; it was then measured again on
    the emptied tables (``seeded`` says which and how many rows)."""

    def tables(self) -> list[Relation]:
        """The tables it touched that existed before it (not its indexes)."""
        return [r for r in self.relations.values() if not r.index and not r.new]

    def at_line(self, line: int) -> list[Relation]:
        """Existing relations rewritten or scanned by the statements at ``line``."""
        return [r for r in self.relations.values() if line in r.lines and not r.new]

    def touched_at(self, line: int) -> bool:
        """Whether a statement sent from ``line`` was measured inside the transaction."""
        return any(s.line == line and s.in_transaction for s in self.statements)


@dataclass
class _Seen:
    filenode: int
    scans: int


class ImpactMeter:
    """Watches a connection's statements during one revision's upgrade; see the module doc.

    ``paths`` maps revision file names to revision ids, to find the line that sent each
    statement.
    """

    def __init__(self, conn: Connection, paths: Iterable[str]):
        self.conn = conn
        self.paths = set(paths)
        self.impact: Impact | None = None
        self._seen: dict[int, _Seen] = {}
        self._known: set[int] = set()
        """Relations that existed before the step (the others are its own)."""
        self._oids: list[int] | None = None
        """The tables watched (None: the whole schema)."""
        self._transaction: Any = None
        self._started = 0.0
        self._busy = False

    def start(self, revision: str, tables: Iterable[str] | None = None) -> None:
        """Before the step: remember the storage of ``tables`` and their indexes (None:
        every relation of the schema), then watch."""
        self.impact = Impact(revision)
        self._seen = {}
        self._oids = None
        if tables is not None:
            found = text("SELECT to_regclass(:t)::oid")
            self._oids = [
                oid for t in tables if (oid := self.conn.execute(found, {"t": t}).scalar())
            ]
        for oid, _name, _kind, filenode, _table, scans, _modes in self._snapshot():
            self._seen[oid] = _Seen(filenode, scans)
        self._known = set(self._seen)
        self._transaction = None
        self._clock = time.perf_counter()
        event.listen(self.conn, "before_cursor_execute", self._before)
        event.listen(self.conn, "after_cursor_execute", self._after)

    def stop(self) -> Impact:
        """After the step (committed or not): stop watching; what was measured."""
        event.remove(self.conn, "before_cursor_execute", self._before)
        event.remove(self.conn, "after_cursor_execute", self._after)
        assert self.impact is not None
        self.impact.seconds = time.perf_counter() - self._clock
        return self.impact

    def _snapshot(self) -> list[Any]:
        self._busy = True
        try:
            if self._oids is None:
                return list(self.conn.execute(_OF_SCHEMA).all())
            return list(self.conn.execute(_OF_TABLES, {"oids": self._oids}).all())
        finally:
            self._busy = False

    def _before(self, conn: Connection, cursor: Any, statement: str, *_: Any) -> None:
        if self._busy:
            return
        transaction = conn.get_transaction()
        if transaction is not self._transaction and _in_transaction(conn):
            # a new step transaction: its scan counters start from what is pending now
            self._transaction = transaction
            for oid, _n, _k, filenode, _t, scans, _m in self._snapshot():
                seen = self._seen.setdefault(oid, _Seen(filenode, scans))
                seen.scans = scans
        self._started = time.perf_counter()

    def _after(self, conn: Connection, cursor: Any, statement: str, *_: Any) -> None:
        if self._busy or _bookkeeping(statement):
            return
        seconds = time.perf_counter() - self._started
        inside = _in_transaction(conn)
        line, deferred = self._origin()
        if deferred:
            # op.backfill, run inline here, runs in batches after the commit when deployed:
            # what it does is not the revision's, only the counters move on
            for oid, _n, _k, filenode, _t, scans, _m in self._snapshot():
                self._seen[oid] = _Seen(filenode, scans)
            return
        done = Statement(line, seconds, inside, statement, self._started - self._clock)
        assert self.impact is not None
        for oid, name, kind, filenode, table, scans, modes in self._snapshot():
            if name.startswith(_IGNORED) or table.startswith(_IGNORED):
                continue
            seen = self._seen.get(oid)
            new = oid not in self._known
            rel = self.impact.relations.get(name)
            if rel is None:
                rel = Relation(name, table, kind == "i", new)
            lock = strongest(modes or ()) if inside else None
            if lock and (rel.lock is None or LOCK_MODES.index(lock) > LOCK_MODES.index(rel.lock)):
                rel.lock = lock
            rewrote = seen is not None and filenode != seen.filenode and not new
            scanned = inside and seen is not None and scans > seen.scans and not new
            if rewrote or scanned:
                rel.rewrite |= rewrote
                rel.scan |= scanned
                rel.seconds += seconds
                if done.line is not None:
                    rel.lines.append(done.line)
                (done.rewrote if rewrote else done.scanned).append(name)
            if lock:
                done.locked[name] = lock
            if rel.lock or rewrote or scanned or name in self.impact.relations:
                self.impact.relations[name] = rel
            self._seen[oid] = _Seen(filenode, scans)
        self.impact.statements.append(done)

    def _origin(self) -> tuple[int | None, bool]:
        """The revision line that sent the statement, and whether ``op.backfill`` did."""
        from terrafusion_sync.migrations.backfill.ops import run_backfill

        line, called = revision_lines.on_stack(self.paths)
        return line, run_backfill.__code__ in called


def _in_transaction(conn: Connection) -> bool:
    """False inside Alembic's ``autocommit_block`` (no transaction holds the locks)."""
    return conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT"


def _bookkeeping(statement: str) -> bool:
    head = statement.lstrip()[:12].upper()
    return head.startswith(("SELECT", "SHOW", "SET ")) or "alembic_version" in statement


# -- rows made from column types ---------------------------------------------------------

_COLUMNS = text(
    """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typcategory::text, t.typname,
       a.atttypmod, a.attnotnull,
       a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '',
       EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = a.attrelid AND k.contype = 'f'
               AND a.attnum = ANY (k.conkey))
  FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
 WHERE a.attrelid = to_regclass(:table) AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum
"""
)


def value_for(sql_type: str, category: str, name: str, typmod: int) -> str | None:
    """An SQL expression of ``g`` (the row number) giving a value of the column's type."""
    if name in {"int2"}:
        return "(g % 32000)::smallint"
    if name in {"int4", "int8", "float4", "float8", "oid"}:
        return f"g::{sql_type}"
    if name == "numeric":
        if typmod < 4:
            return "g::numeric"
        precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
        whole = 10 ** max(precision - scale, 0)
        return f"(g % {whole})::{sql_type}" if whole > 1 else f"0::{sql_type}"
    if category == "S":  # text, varchar(n), char(n)
        if typmod > 4:
            return f"right('r' || g, {typmod - 4})::{sql_type}"
        return f"('seeded row ' || g || ' ' || md5(g::text))::{sql_type}"
    if category == "B":
        return "(g % 2 = 0)"
    if category == "D":
        return f"(timestamp '2026-01-01' + g * interval '1 minute')::{sql_type}"
    if category == "T":
        return "g * interval '1 second'"
    if name in {"json", "jsonb"}:
        return f"json_build_object('n', g)::{sql_type}"
    if name == "uuid":
        return "md5(g::text)::uuid"
    if name == "bytea":
        return "decode(md5(g::text), 'hex')"
    if category == "E":
        return f"(enum_range(NULL::{sql_type}))[1 + g % cardinality(enum_range(NULL::{sql_type}))]"
    return None


_TABLE = text(
    "SELECT c.oid::regclass::text FROM pg_class c"
    " WHERE c.oid = to_regclass(:t) AND c.relkind IN ('r', 'p')"
)


def seed(
    conn: Connection, tables: Iterable[str], rows: int = SEED_ROWS
) -> tuple[dict[str, int], dict[str, str]]:
    """Fill each empty existing table of ``tables`` with ``rows`` rows made from its columns.

    Columns with a default (or identity, or generated) get it; nullable columns of a type
    with no generator, and nullable foreign keys, stay NULL. A table with a NOT NULL
    foreign key, a NOT NULL column of an unknown type, or rows its constraints refuse is
    left empty. Returns ``({table: rows}, {table: why not})``; each table is committed.
    """
    seeded: dict[str, int] = {}
    skipped: dict[str, str] = {}
    for table in dict.fromkeys(tables):
        name = conn.execute(_TABLE, {"t": table}).scalar()  # a table, not a view
        if name is None or name in seeded:
            conn.rollback()
            continue
        if conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM {name})")).scalar():
            conn.rollback()
            continue  # it has rows already
        why = _seed_one(conn, name, rows)
        if why is None:
            seeded[name] = rows
        else:
            conn.rollback()
            skipped[name] = why
    return seeded, skipped


def _seed_one(conn: Connection, name: str, rows: int) -> str | None:
    """Put ``rows`` made-up rows in the empty table ``name`` and commit; else say why not."""
    columns, values = [], []
    for col, sql_type, category, typname, typmod, not_null, filled, foreign in conn.execute(
        _COLUMNS, {"table": name}
    ):
        if filled:
            continue
        value = None if foreign else value_for(sql_type, category, typname, typmod)
        if value is None and not_null:
            return f"no value made for NOT NULL column {col} ({sql_type})"
        if value is not None:
            columns.append(quoted(col))
            values.append(value)
    target = f"{name} ({', '.join(columns)})" if columns else name
    select = ", ".join(values)
    try:
        conn.execute(
            text(f"INSERT INTO {target} SELECT {select} FROM generate_series(1, :n) g"), {"n": rows}
        )
        conn.commit()
    except sa_exc.DBAPIError as exc:
        return f"its constraints refused the rows: {first_line(exc)}"
    return None


def empty(conn: Connection, tables: Iterable[str]) -> None:
    """Remove the rows :func:`seed` put in ``tables`` (those that still exist)."""
    names = [
        n
        for t in tables
        if (n := conn.execute(text("SELECT to_regclass(:t)::text"), {"t": t}).scalar())
    ]
    if names:
        conn.execute(text(f"TRUNCATE {', '.join(names)} CASCADE"))
    conn.commit()


def sizes(conn: Connection, tables: Iterable[str]) -> dict[str, tuple[int, int]]:
    """``{table: (rows, bytes)}``: the row estimate and size of each existing table."""
    names = list(tables)
    if not names:
        return {}
    rows = conn.execute(  # one query for them all, in their order
        text(
            "SELECT c.oid::regclass::text, c.reltuples::bigint, pg_total_relation_size(c.oid)"
            " FROM unnest(CAST(:t AS text[])) WITH ORDINALITY AS n(name, i)"
            " JOIN pg_class c ON c.oid = to_regclass(n.name) ORDER BY n.i"
        ),
        {"t": names},
    )
    return {name: (max(int(estimate), 0), int(total)) for name, estimate, total in rows}


def measure_upgrade(
    conn: Connection,
    upgrade: Any,
    target: str,
    probe: ImpactMeter,
    touched: Iterable[str] | None,
    rows: int = SEED_ROWS,
) -> Impact:
    """Seed the tables ``touched`` with ``rows`` rows each, run ``upgrade(target)`` under
    ``probe``; the impact.

    ``touched`` are the existing tables the revision's SQL names (None: not known, then
    every relation of the schema is watched). A revision that touches none (it only
    creates) is run unwatched: nothing it does can block a reader or writer of today.
    When the seeded rows make the revision fail (a NOT NULL column without a default, a
    constraint the made-up values break), the rows are removed, the error kept, and the
    revision measured again on the empty tables. A failure then is the revision's own, and
    is raised as ``upgrade`` raised it.
    """
    if touched is not None:
        touched = list(touched)
        if not touched:
            clock = time.perf_counter()
            upgrade(target)
            return Impact(target, seconds=time.perf_counter() - clock)
    seeded, skipped = seed(conn, touched or [], rows)
    measured = {name: (count, _bytes(conn, name)) for name, count in seeded.items()}
    conn.commit()
    impact, failed_on_rows = _metered(conn, upgrade, target, probe, touched, seeded)
    impact.seeded = seeded
    impact.not_seeded = skipped
    impact.failed_on_rows = failed_on_rows
    if not failed_on_rows:
        for rel in impact.relations.values():
            if rel.name in measured:
                rel.rows, rel.bytes = measured[rel.name]
    return impact


def _metered(
    conn: Connection,
    upgrade: Any,
    target: str,
    probe: ImpactMeter,
    touched: list[str] | None,
    seeded: dict[str, int],
) -> tuple[Impact, str | None]:
    """``upgrade(target)`` under ``probe``, the seeded rows removed afterwards; when they made
    it fail, measured again without them. Also the error the rows caused, if any."""
    probe.start(target, touched)
    try:
        upgrade(target)
    except Exception as exc:
        probe.stop()
        if not seeded:
            raise
        empty(conn, seeded)
        probe.start(target, touched)
        try:
            upgrade(target)
        finally:
            impact = probe.stop()
        return impact, first_line(exc)
    impact = probe.stop()
    if seeded:
        empty(conn, seeded)
    return impact, None


def _bytes(conn: Connection, table: str) -> int:
    return int(
        conn.execute(text("SELECT pg_total_relation_size(to_regclass(:t))"), {"t": table}).scalar()
        or 0
    )
