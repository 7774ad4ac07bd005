"""A column renamed under two live writers: expand + backfill + contract against plain DDL.

On a scratch database of the test server, three generated tables of
``BENCH_EXPAND_ROWS`` rows (default 1,000,000), vacuumed and analyzed. Two single-row
writers, each on its own connection in its own thread, stand for the two versions of the
application during a deploy: the **old** one writes only the old column, the **new** one
only the new column; each times every write and counts the ones that fail.

- **ours**: ``tfsync revision --rename`` writes the pair; the old writer writes while
  ``tfsync upgrade`` runs the expand and its batched backfill; the new writer starts once
  the new column exists; both write for a while; the old writer stops (the last old
  instance retired); ``tfsync upgrade --contract`` runs once the quiet period (1 s here)
  has passed; the new writer goes on a little, then stops.
- **plain rename**: ``ALTER TABLE ... RENAME COLUMN`` while the old writer writes; the new
  writer starts after it. Every old write after the rename fails.
- **plain type change**: ``ALTER TABLE ... ALTER COLUMN ... TYPE`` of the written column
  (text to varchar(64), a rewrite) while both write it: each waits for the rewrite.
- **ours, type change**: the same type change in the models; ``tfsync revision`` writes
  it as a pair (:mod:`terrafusion_sync.migrations.authoring.retypes`); both writers write
  the column while the expand, its backfill and the contract run (no quiet period: a type
  change's contract needs no proof that old code is gone).

Printed: each writer's failed writes and longest wait in each case (goal for ours: no
failed write and a longest wait under 0.5 s for both).
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import text
from sqlalchemy.engine import URL

from bench.timing import report
from terrafusion_sync import migrations
from terrafusion_sync.aio import run_blocking
from terrafusion_sync.core_models import Base
from terrafusion_sync.database import connect
from terrafusion_sync.embedded import database_url
from terrafusion_sync.errors import first_line
from terrafusion_sync.migrations.plumbing.config import VERSIONS_DIR
from terrafusion_sync.provision import scratch_database
from terrafusion_sync.settings import load_settings

ROWS = int(os.environ.get("BENCH_EXPAND_ROWS", "1000000"))
BOTH_WRITE = 2.0
"""Seconds both versions write between the phases."""


class Writer(threading.Thread):
    """Single-row writes of random rows through one column, each timed, until stopped."""

    def __init__(self, url: URL, table: str, column: str) -> None:
        super().__init__(daemon=True)
        self.url, self.table, self.column = url, table, column
        self.stop = threading.Event()
        self.longest = 0.0
        self.writes = 0
        self.failed = 0
        self.first_error = ""

    def run(self) -> None:
        asyncio.run(self._write())

    async def _write(self) -> None:
        statement = text(f"UPDATE {self.table} SET {self.column} = :value WHERE id = :id")
        async with connect(self.url) as conn:
            while not self.stop.is_set():
                start = time.perf_counter()
                row = random.randint(1, ROWS)
                try:
                    value = f"{self.column}-{row}-{self.writes}"  # a new value every time
                    await conn.execute(statement, {"id": row, "value": value})
                    await conn.commit()
                    self.writes += 1
                except Exception as exc:  # the column is gone: what an old instance meets
                    await conn.rollback()
                    self.failed += 1
                    self.first_error = self.first_error or first_line(exc)
                self.longest = max(self.longest, time.perf_counter() - start)
                await asyncio.sleep(0.005)

    def finish(self) -> Writer:
        self.stop.set()
        self.join()
        return self


def models(*, retyped: bool = False) -> sa.MetaData:
    """The application's models plus the bench table with ``parcel`` renamed ``parcel_no``
    (and, ``retyped``, the type change's table with ``parcel`` as varchar(64))."""
    metadata = sa.MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(metadata)
    sa.Table(
        "bench_ours",
        metadata,
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("parcel_no", sa.Text, nullable=False),
    )
    if retyped:
        sa.Table(
            "bench_ours_type",
            metadata,
            sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column("parcel", sa.String(64), nullable=False),
        )
    return metadata


async def _generate(url: URL, table: str) -> None:
    async with connect(url, autocommit=True) as conn:
        await conn.execute(
            text(f"CREATE TABLE {table} (id bigint PRIMARY KEY, parcel text NOT NULL)")
        )
        await conn.execute(
            text(f"INSERT INTO {table} SELECT g, 'parcel-' || g FROM generate_series(1, {ROWS}) g")
        )
        await conn.execute(text(f"VACUUM ANALYZE {table}"))


async def _ddl(url: URL, sql: str) -> None:
    async with connect(url) as conn:
        await conn.execute(text("SET lock_timeout = 0"))
        await conn.execute(text(sql))
        await conn.commit()


def ours(url: URL, cfg: Any) -> tuple[Writer, Writer]:
    old = Writer(url, "bench_ours", "parcel")
    old.start()
    time.sleep(0.5)
    run_blocking(migrations.upgrade(url, cfg=cfg))  # expand, then its batched backfill
    new = Writer(url, "bench_ours", "parcel_no")
    new.start()
    time.sleep(BOTH_WRITE)
    old.finish()  # the last old instance is retired
    time.sleep(1.2)
    quiet = migrations.Timeouts(contract_quiet="1s")
    run_blocking(migrations.upgrade(url, cfg=cfg, contract=True, limits=quiet))
    time.sleep(0.5)
    return old, new.finish()


def ours_type_change(url: URL, cfg: Any) -> tuple[Writer, Writer]:
    """Both versions write the same column through the type change's expand, backfill and
    contract."""
    old, new = Writer(url, "bench_ours_type", "parcel"), Writer(url, "bench_ours_type", "parcel")
    old.start()
    new.start()
    time.sleep(0.5)
    run_blocking(migrations.upgrade(url, cfg=cfg))  # expand, then its batched backfill
    time.sleep(BOTH_WRITE)
    run_blocking(migrations.upgrade(url, cfg=cfg, contract=True))
    time.sleep(0.5)
    return old.finish(), new.finish()


def plain(url: URL, table: str, sql: str, new_column: str) -> tuple[Writer, Writer]:
    old = Writer(url, table, "parcel")
    old.start()
    new = None
    if new_column == "parcel":  # a type change: both versions write the same column
        new = Writer(url, table, new_column)
        new.start()
    time.sleep(0.5)
    run_blocking(_ddl(url, sql))
    if new is None:
        new = Writer(url, table, new_column)
        new.start()
    time.sleep(BOTH_WRITE)
    return old.finish(), new.finish()


def main() -> None:
    """Print the figures of this benchmark."""
    server = database_url(load_settings(), test=True)
    with tempfile.TemporaryDirectory(prefix="bench_expand_") as tmp:
        versions = Path(tmp) / "versions"
        versions.mkdir()
        for source in VERSIONS_DIR.glob("*.py"):
            (versions / source.name).write_text(source.read_text())
        run_blocking(_bench(server, versions))


async def _bench(server: URL, versions: Path) -> None:
    async with scratch_database(server, "bench") as url:
        cfg = migrations.alembic_config(versions_dir=versions, target_metadata=models())
        await migrations.upgrade(url, cfg=cfg)
        start = time.perf_counter()
        await _generate(url, "bench_ours")
        rename = "bench_ours.parcel=parcel_no"
        pair = await migrations.revision(url, "rename parcel", cfg=cfg, renames=[rename])
        await _generate(url, "bench_rename")
        await _generate(url, "bench_retype")
        print(f"generated 3 tables of {ROWS:,} rows in {time.perf_counter() - start:.1f} s")
        print(f"wrote {', '.join(p.name for p in pair)}")
        cfg = migrations.alembic_config(versions_dir=versions, target_metadata=models())
        started = time.perf_counter()
        ours_old, ours_new = await asyncio.to_thread(ours, url, cfg)
        took = time.perf_counter() - started
        rename_sql = "ALTER TABLE bench_rename RENAME COLUMN parcel TO parcel_no"
        ren_old, ren_new = await asyncio.to_thread(
            plain, url, "bench_rename", rename_sql, "parcel_no"
        )
        retype_sql = "ALTER TABLE bench_retype ALTER COLUMN parcel TYPE varchar(64)"
        typ_old, typ_new = await asyncio.to_thread(plain, url, "bench_retype", retype_sql, "parcel")
        _print(took, (ours_old, ours_new), (ren_old, ren_new), (typ_old, typ_new))
        await _bench_type_change(url, versions, (typ_old, typ_new))


async def _bench_type_change(url: URL, versions: Path, plain_case: tuple[Writer, Writer]) -> None:
    """The type change as a pair, against the plain type change measured before."""
    await _ddl(url, "DROP TABLE bench_rename, bench_retype")  # measured: not in the models
    await _generate(url, "bench_ours_type")
    cfg = migrations.alembic_config(versions_dir=versions, target_metadata=models(retyped=True))
    pair = await migrations.revision(url, "retype parcel", cfg=cfg)
    print(f"wrote {', '.join(p.name for p in pair)}")
    cfg = migrations.alembic_config(versions_dir=versions, target_metadata=models(retyped=True))
    started = time.perf_counter()
    old, new = await asyncio.to_thread(ours_type_change, url, cfg)
    took = time.perf_counter() - started
    print(f"type change as expand + backfill + contract of {ROWS:,} rows: {took:.1f} s")
    for name, (first, second) in (("ours, type change", (old, new)), ("plain", plain_case)):
        print(
            f"  {name}: writer one {first.writes:,} writes, {first.failed:,} failed; "
            f"writer two {second.writes:,} writes, {second.failed:,} failed"
            + "".join(f"; {w.first_error}" for w in (first, second) if w.first_error)
        )
    for label, ours_writer, plain_writer in (
        ("one", old, plain_case[0]),
        ("two", new, plain_case[1]),
    ):
        report(
            f"longest wait, writer {label}",
            ("type change pair", ours_writer.longest),
            ("plain type change", plain_writer.longest),
        )


def _print(took: float, *cases: tuple[Writer, Writer]) -> None:
    (ours_old, ours_new), (ren_old, ren_new), (typ_old, typ_new) = cases
    print(f"expand + backfill + contract of {ROWS:,} rows, writers included: {took:.1f} s")
    for name, (old, new) in zip(("ours", "plain rename", "plain type change"), cases, strict=True):
        print(
            f"  {name}: old writer {old.writes:,} writes, {old.failed:,} failed; "
            f"new writer {new.writes:,} writes, {new.failed:,} failed"
            + "".join(f"; {w.first_error}" for w in (old, new) if w.first_error)
        )
    report(
        "longest wait, old writer",
        ("expand/contract", ours_old.longest),
        ("plain rename", ren_old.longest),
    )
    report(
        "longest wait, new writer",
        ("expand/contract", ours_new.longest),
        ("plain rename", ren_new.longest),
    )
    report(
        "longest wait, old writer",
        ("expand/contract", ours_old.longest),
        ("plain type change", typ_old.longest),
    )
    report(
        "longest wait, new writer",
        ("expand/contract", ours_new.longest),
        ("plain type change", typ_new.longest),
    )
    failed = ours_old.failed + ours_new.failed
    longest = max(ours_old.longest, ours_new.longest)
    met = failed == 0 and longest < 0.5
    print(
        f"  goal: no failed write and longest wait under 0.5 s with expand/contract: "
        f"{'met' if met else 'NOT met'} ({failed} failed, longest {longest:.3f} s); "
        f"the plain rename failed {ren_old.failed:,} old writes"
    )


if __name__ == "__main__":
    main()
