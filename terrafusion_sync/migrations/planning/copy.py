"""A copy of a live database's rows, read in one snapshot, for the rehearsal to upgrade.

The live side is only read: one ``REPEATABLE READ READ ONLY`` transaction exports its
snapshot (``pg_export_snapshot``), and each worker connection imports it, so every table
is read as of the same instant while several are copied at once. ``COPY (SELECT …) TO``
takes ``ACCESS SHARE`` on the table, the weakest lock there is, until that table is read:
writers never wait on it.

The copy's schema is built by the migrations, run to the live database's own revision on
the copy (the same revision files the validation of applied files vouches for), not by
``pg_dump``: the embedded server's users may have no ``pg_dump`` matching the server, and
``--to`` may point at a server of another major version. A live table the migrations do
not create (drift) stops the copy with an error rather than a copy that differs.

Rows go over ``COPY … (FORMAT binary)`` from each live table straight into the same
table of the copy (asyncpg streams one into the other, no file in between), then every
sequence's value is set. As ``pg_restore`` does, the copy's indexes, primary keys, unique
constraints and foreign keys are dropped before the rows come and made again after them
(the indexes several at a time): building an index once from all rows is several times
cheaper than keeping it up to date row by row, and with no foreign key during the load
tables need no order. Each table is emptied and loaded in one transaction
(``COPY … FREEZE``: its rows need no second write to set their hint bits).

``sample`` keeps a share of each large table's rows, picked by a hash of the row's
place (stable within the snapshot); a row whose foreign key points at a parent row that
was left out is left out too, so every foreign key of the copy holds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from terrafusion_sync.database import connect
from terrafusion_sync.errors import MigrationError
from terrafusion_sync.migrations.backfill.row_progress import RowProgress
from terrafusion_sync.migrations.outcome import Report, quiet
from terrafusion_sync.migrations.plumbing import tool_tables

SAMPLE_MIN_ROWS = 10_000
"""A table with fewer rows (estimate) is copied whole even with ``sample``."""
JOBS = 2
"""Tables copied (and indexes built) at once: each is a pair of connections and a core's
worth of work."""
_QUEUE = 8
"""Chunks of COPY data in flight between the two servers, per table."""

_TABLES = text(
    """
SELECT c.oid, format('%I.%I', n.nspname, c.relname), GREATEST(c.reltuples, 0)::bigint,
       pg_relation_size(c.oid), c.relkind = 'p',
       (SELECT array_agg(quote_ident(a.attname) ORDER BY a.attnum) FROM pg_attribute a
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
           AND a.attgenerated = '')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
 ORDER BY 2
"""
)
_FOREIGN_KEYS = text(
    """
SELECT conrelid, confrelid,
       (SELECT array_agg(quote_ident(attname) ORDER BY k.i) FROM unnest(conkey)
          WITH ORDINALITY k(n, i) JOIN pg_attribute ON attrelid = conrelid AND attnum = k.n),
       (SELECT array_agg(quote_ident(attname) ORDER BY k.i) FROM unnest(confkey)
          WITH ORDINALITY k(n, i) JOIN pg_attribute ON attrelid = confrelid AND attnum = k.n)
  FROM pg_constraint WHERE contype = 'f' AND conrelid <> confrelid
"""
)
_SEQUENCES = text(
    """
SELECT format('%I.%I', schemaname, sequencename), last_value, last_value IS NOT NULL
  FROM pg_sequences WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
"""
)
_REVISION = text(
    "SELECT array_agg(version_num::text) FROM alembic_version"
    " WHERE to_regclass('alembic_version') IS NOT NULL"
)


@dataclass(frozen=True)
class ForeignKey:
    """``child (columns)`` references ``parent (ref_columns)``."""

    parent: int
    columns: tuple[str, ...]
    ref_columns: tuple[str, ...]


@dataclass
class Table:
    """One live table to copy: its name, columns, row estimate and parents."""

    oid: int
    name: str
    estimate: int
    bytes: int
    """Its size on disk (``pg_relation_size``): with ``estimate``, rows per byte copied."""
    partitioned: bool
    columns: list[str]
    parents: list[ForeignKey] = field(default_factory=list)
    share: int | None = None
    """With ``sample``: the rows kept of 10000, picked by a hash of their place."""
    where: str = ""
    """The sample's condition on its rows (alias ``t``), or empty: every row."""
    rows: int = 0
    """Rows copied."""


@dataclass
class Copied:
    """What a copy took: the live revision(s), tables and rows copied, and its time."""

    revisions: tuple[str, ...]
    tables: list[Table]
    seconds: float
    sample: float | None

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    def describe(self) -> str:
        """``copied 3 tables, 1,000,000 rows in 4.2 s (238,095 rows/s)``."""
        share = f" ({self.sample:g} % sample of large tables)" if self.sample else ""
        rate = self.rows / self.seconds if self.seconds else 0.0
        return (
            f"copied {len(self.tables)} tables, {self.rows:,} rows{share} in "
            f"{self.seconds:.1f} s ({rate:,.0f} rows/s)"
        )


@dataclass(frozen=True)
class Snapshot:
    """What the live database looked like in the exported snapshot."""

    snapshot: str
    revisions: tuple[str, ...]
    tables: list[Table]
    sequences: list[tuple[str, int, bool]]


async def copy_database(
    live: URL,
    copy: URL,
    build_schema: Callable[[Connection, tuple[str, ...]], None],
    *,
    sample: float | None = None,
    jobs: int = JOBS,
    report: Report = quiet,
) -> Copied:
    """Copy the rows of ``live`` into the existing, empty database ``copy``.

    ``build_schema(connection, revisions)`` brings ``copy`` to the live revision(s) (the
    migrations); the rows, sequences, ``alembic_version`` and the tooling's tables follow.
    """
    clock = time.perf_counter()
    async with connect(live) as anchor:  # holds the snapshot until every table is read
        anchor = await _snapshot_transaction(anchor)
        seen = await _read_live(anchor, sample)
        async with connect(copy) as target:
            await target.run_sync(lambda c: build_schema(c, seen.revisions))
            rebuild = await target.run_sync(_prepare_copy(seen.tables))
        await _copy_tables(copy, live, seen, jobs, report)
    await _rebuild(copy, rebuild, jobs, report)
    async with connect(copy) as target:
        for name, value, called in seen.sequences:
            await target.execute(
                text("SELECT setval(CAST(:s AS regclass), :v, :c)"),
                {"s": name, "v": value, "c": called},
            )
        await target.commit()
    return Copied(seen.revisions, seen.tables, time.perf_counter() - clock, sample)


async def _snapshot_transaction(conn: AsyncConnection) -> AsyncConnection:
    """``conn`` in a REPEATABLE READ, READ ONLY transaction (begun on its first query)."""
    return await conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)


async def _read_live(conn: AsyncConnection, sample: float | None) -> Snapshot:
    snapshot = str(await conn.scalar(text("SELECT pg_export_snapshot()")))
    revisions = tuple(sorted(await conn.scalar(_REVISION) or ()))
    tables = {
        oid: Table(oid, name, int(estimate), int(size), bool(partitioned), list(columns or ()))
        for oid, name, estimate, size, partitioned, columns in await conn.execute(_TABLES)
    }
    for child, parent, columns, ref_columns in await conn.execute(_FOREIGN_KEYS):
        if child in tables and parent in tables:
            tables[child].parents.append(ForeignKey(parent, tuple(columns), tuple(ref_columns)))
    ordered = list(tables.values())
    if sample is not None:
        _sample(ordered, tables, sample)
    sequences = [(n, int(v), bool(c)) for n, v, c in await conn.execute(_SEQUENCES) if c]
    return Snapshot(snapshot, revisions, ordered, sequences)


def _sample(ordered: list[Table], tables: dict[int, Table], percent: float) -> None:
    """Set each table's ``where``: large tables keep ``percent`` of their rows, and a row
    pointing at a parent row left out is left out too."""
    tooling = {"alembic_version", *tool_tables.TOOL_TABLES}
    for table in ordered:
        if table.estimate >= SAMPLE_MIN_ROWS and table.name.split(".")[-1] not in tooling:
            table.share = round(percent * 100)
    for table in ordered:
        table.where = _kept(table, "t", tables, frozenset({table.oid}))


def _kept(table: Table, alias: str, tables: dict[int, Table], path: frozenset[int]) -> str:
    """The condition (on ``alias``) that a row of ``table`` is kept: its own share, and
    each foreign key NULL or pointing at a kept parent row (a cycle is not followed)."""
    conditions = []
    if table.share is not None:
        conditions.append(f"(abs(hashtext({alias}.ctid::text)) % 10000) < {table.share}")
    for key in table.parents:
        if key.parent in path:
            continue
        parent, inner_alias = tables[key.parent], f"p{len(path)}"
        inner = _kept(parent, inner_alias, tables, path | {key.parent})
        if not inner:
            continue
        joined = " AND ".join(
            f"{inner_alias}.{r} = {alias}.{c}"
            for c, r in zip(key.columns, key.ref_columns, strict=True)
        )
        nulls = " OR ".join(f"{alias}.{c} IS NULL" for c in key.columns)
        conditions.append(
            f"({nulls} OR EXISTS (SELECT 1 FROM {parent.name} {inner_alias}"
            f" WHERE {joined} AND {inner}))"
        )
    return " AND ".join(conditions)


_DEFINITIONS = text(
    """
SELECT 'fk', format('ALTER TABLE %s ADD CONSTRAINT %I %s', k.conrelid::regclass, k.conname,
                    pg_get_constraintdef(k.oid)),
       format('ALTER TABLE %s DROP CONSTRAINT %I', k.conrelid::regclass, k.conname)
  FROM pg_constraint k WHERE k.contype = 'f' AND k.conrelid = ANY (CAST(:oids AS oid[]))
UNION ALL
SELECT 'key', pg_get_indexdef(k.conindid) || '; ' || format(
         'ALTER TABLE %s ADD CONSTRAINT %I %s USING INDEX %I', k.conrelid::regclass, k.conname,
         CASE k.contype WHEN 'p' THEN 'PRIMARY KEY' ELSE 'UNIQUE' END, k.conname),
       format('ALTER TABLE %s DROP CONSTRAINT %I', k.conrelid::regclass, k.conname)
  FROM pg_constraint k
 WHERE k.contype IN ('p', 'u') AND NOT k.condeferrable
   AND k.conrelid = ANY (CAST(:oids AS oid[]))
UNION ALL
SELECT 'index', pg_get_indexdef(i.indexrelid),
       format('DROP INDEX %s', i.indexrelid::regclass)
  FROM pg_index i
 WHERE i.indrelid = ANY (CAST(:oids AS oid[]))
   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
"""
)


@dataclass
class Rebuild:
    """What the load leaves out of the copy and makes again after it, in this order."""

    indexes: list[str] = field(default_factory=list)
    """``CREATE INDEX``: plain ones, and those primary keys and unique constraints use."""
    keys: list[str] = field(default_factory=list)
    """``ADD CONSTRAINT … USING INDEX``: primary keys and unique constraints."""
    foreign_keys: list[str] = field(default_factory=list)


def _prepare_copy(tables: list[Table]) -> Callable[[Connection], Rebuild]:
    """On the copy, after the migrations: the tooling's tables, then the indexes and
    constraints the load leaves out dropped (foreign keys first); a live table the copy
    lacks is drift."""

    def prepare(conn: Connection) -> Rebuild:
        tool_tables.ensure_table(conn)
        found = {
            t.name: conn.execute(text("SELECT to_regclass(:t)::oid"), {"t": t.name}).scalar()
            for t in tables
        }
        missing = [name for name, oid in found.items() if oid is None]
        if missing:
            raise MigrationError(
                f"the live database has table(s) its revision files do not create: "
                f"{', '.join(missing)}",
                "the rehearsal builds the copy's schema from the migrations; bring the "
                "schema and the revision files together first (make review shows drift)",
            )
        rebuild = Rebuild()
        drops: dict[str, list[str]] = {"fk": [], "key": [], "index": []}
        for kind, create, drop in conn.execute(_DEFINITIONS, {"oids": list(found.values())}):
            drops[kind].append(drop)
            if kind == "fk":
                rebuild.foreign_keys.append(create)
            elif kind == "key":
                index, key = create.split("; ")
                rebuild.indexes.append(index)
                rebuild.keys.append(key)
            else:
                rebuild.indexes.append(create)
        for statement in drops["fk"] + drops["key"] + drops["index"]:
            conn.execute(text(statement))
        conn.commit()
        return rebuild

    return prepare


async def _copy_tables(copy: URL, live: URL, seen: Snapshot, jobs: int, report: Report) -> None:
    """Copy every table, ``jobs`` at a time, with progress."""
    total = sum(t.estimate for t in seen.tables)
    with RowProgress(report, f"copying {len(seen.tables)} tables", total) as progress:
        done = _Done(progress, len(seen.tables), report)
        queue: asyncio.Queue[Table] = asyncio.Queue()
        for table in sorted(seen.tables, key=lambda t: -t.bytes):  # the longest first
            queue.put_nowait(table)
        await asyncio.gather(
            *(_worker(live, copy, seen.snapshot, queue, done) for _ in range(jobs))
        )


async def _rebuild(copy: URL, rebuild: Rebuild, jobs: int, report: Report) -> None:
    """The indexes, ``jobs`` at a time; then the keys on them, then the foreign keys."""
    report(
        f"  building {len(rebuild.indexes)} indexes ({len(rebuild.keys)} of them for primary "
        f"keys and unique constraints), then {len(rebuild.foreign_keys)} foreign keys"
    )
    queue: asyncio.Queue[str] = asyncio.Queue()
    for statement in rebuild.indexes:
        queue.put_nowait(statement)

    async def build() -> None:
        async with connect(copy, autocommit=True) as conn:
            while not queue.empty():
                await conn.execute(text(queue.get_nowait()))

    await asyncio.gather(*(build() for _ in range(jobs)))
    async with connect(copy) as conn:
        for statement in rebuild.keys + rebuild.foreign_keys:
            await conn.execute(text(statement))
        await conn.commit()


@dataclass
class _Done:
    """Rows and tables done so far, for the progress line."""

    progress: RowProgress
    tables: int
    report: Report
    rows: int = 0
    finished: int = 0
    streaming: dict[str, int] = field(default_factory=dict)
    """Rows (estimated from bytes) of the tables being copied now."""

    def streamed(self, table: Table, size: int) -> None:
        """``size`` more bytes of ``table`` went over: move the bar by the rows they hold."""
        if table.bytes and table.estimate:
            done = self.streaming.get(table.name, 0) + size * table.estimate // table.bytes
            self.streaming[table.name] = min(done, table.estimate)
            self.progress.update(self.rows + sum(self.streaming.values()))

    def table_done(self, table: Table) -> None:
        self.streaming.pop(table.name, None)
        self.rows += table.rows
        self.finished += 1
        self.progress.update(self.rows + sum(self.streaming.values()))
        self.report(
            f"  copied {table.name}: {table.rows:,} rows ({self.finished} of {self.tables} tables)"
        )


async def _worker(
    live: URL, copy: URL, snapshot: str, queue: asyncio.Queue[Table], done: _Done
) -> None:
    """Copy tables off ``queue`` until it is empty. Each is read in a transaction of its
    own that imports the exported snapshot, so its ``ACCESS SHARE`` lock ends with it, and
    emptied and loaded in one transaction of the copy."""
    async with connect(live) as source, connect(copy) as target:
        source = await _snapshot_transaction(source)
        while not queue.empty():
            table = queue.get_nowait()
            await source.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))
            await target.execute(text(f"TRUNCATE {table.name}"))  # a data migration's rows
            reader, writer = await _driver(source), await _driver(target)
            table.rows = await _copy_table(reader, writer, table, done)
            await source.rollback()
            await target.commit()
            done.table_done(table)


async def _copy_table(reader: Any, writer: Any, table: Table, done: _Done) -> int:
    """Stream ``table``'s rows from ``reader`` (live) into ``writer`` (the copy)."""
    columns = ", ".join(table.columns)
    where = f" WHERE {table.where}" if table.where else ""
    query = f"SELECT {columns} FROM {table.name} t{where}"
    chunks: asyncio.Queue[bytes | None] = asyncio.Queue(_QUEUE)

    async def produce() -> str:
        try:
            return str(await reader.copy_from_query(query, output=chunks.put, format="binary"))
        finally:
            await chunks.put(None)

    async def source() -> AsyncIterator[bytes]:
        while (chunk := await chunks.get()) is not None:
            done.streamed(table, len(chunk))
            yield chunk

    schema, _, name = table.name.rpartition(".")
    status, _ = await asyncio.gather(
        produce(),
        writer.copy_to_table(
            _unquoted(name),
            source=source(),
            columns=[_unquoted(c) for c in table.columns],
            schema_name=_unquoted(schema) if schema else None,
            format="binary",
            freeze=not table.partitioned,  # PostgreSQL freezes plain tables only
        ),
    )
    return int(status.split()[-1])


async def _driver(conn: AsyncConnection) -> Any:
    """The asyncpg connection under ``conn``, inside the transaction SQLAlchemy began."""
    raw = await conn.get_raw_connection()
    return raw.driver_connection


def _unquoted(name: str) -> str:
    """An identifier as ``quote_ident`` gave it, back to the name (asyncpg quotes again)."""
    if name.startswith('"') and name.endswith('"'):
        return name[1:-1].replace('""', '"')
    return name
