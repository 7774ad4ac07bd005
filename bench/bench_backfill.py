"""``op.backfill`` against one plain statement over a million rows, and a writer during each:
the rewrite (``UPDATE``) and the batched delete (``delete=True`` against one ``DELETE``).

On a scratch database of the test server, pairs of identical generated tables of
``BENCH_BACKFILL_ROWS`` rows (default 1,000,000), vacuumed and analyzed, are changed the
same way: one by a plain statement, the other by ``tfsync upgrade`` of a revision holding
``op.backfill`` (its step, then its batches at the default target time). The rewrite sets
``county = upper(county)`` where it is not yet; the delete removes every row
(``where="id > 0"``). Meanwhile a single-row writer, on its own connection in its own
thread, updates random rows of the table being changed, one short transaction at a time,
and its longest wait is kept.

Each case runs ``BENCH_BACKFILL_ROUNDS`` rounds (default 3) on tables made afresh, vacuumed
and analyzed, then a ``CHECKPOINT``, so that neither side pays for the other's dirty pages;
the two take turns going first, and between rounds the revision is downgraded (untimed) so
that its next upgrade records and walks the backfill again.

Printed, for each: the median total time (goal: the backfill at most 1.5 times the plain
statement) and the writer's longest wait over all rounds (goal: under 0.5 s with the
backfill, where behind the plain statement it waits for about the whole statement).
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import URL

from bench.chain import write_revision
from bench.timing import report
from terrafusion_sync import migrations
from terrafusion_sync.aio import run_blocking
from terrafusion_sync.database import connect
from terrafusion_sync.embedded import database_url
from terrafusion_sync.migrations.plumbing.config import VERSIONS_DIR
from terrafusion_sync.provision import scratch_database
from terrafusion_sync.settings import load_settings

ROWS = int(os.environ.get("BENCH_BACKFILL_ROWS", "1000000"))
ROUNDS = int(os.environ.get("BENCH_BACKFILL_ROUNDS", "3"))
SET = "county = upper(county)"
WHERE = "county <> upper(county)"
UPDATE_REV, DELETE_REV = "bf11be0c0001", "bf11be0c0002"
CASES = {
    # revision: (what, its tables (plain, batched), the plain statement, the op.backfill call)
    UPDATE_REV: (
        "UPDATE",
        ("bench_by_update", "bench_by_backfill"),
        f"UPDATE bench_by_update SET {SET} WHERE {WHERE}",
        f'op.backfill("bench_by_backfill", set={SET!r}, where={WHERE!r})',
    ),
    DELETE_REV: (
        "DELETE",
        ("bench_by_delete", "bench_by_batched_delete"),
        "DELETE FROM bench_by_delete WHERE id > 0",
        'op.backfill("bench_by_batched_delete", delete=True, where="id > 0")',
    ),
}


class Writer(threading.Thread):
    """Single-row updates of random rows of ``table``, each timed, until stopped."""

    def __init__(self, url: URL, table: str) -> None:
        super().__init__(daemon=True)
        self.url, self.table = url, table
        self.stop = threading.Event()
        self.longest = 0.0
        self.writes = 0

    def run(self) -> None:
        asyncio.run(self._write())

    async def _write(self) -> None:
        statement = text(f"UPDATE {self.table} SET touched = touched + 1 WHERE id = :id")
        async with connect(self.url) as conn:
            while not self.stop.is_set():
                start = time.perf_counter()
                await conn.execute(statement, {"id": random.randint(1, ROWS)})
                await conn.commit()
                self.longest = max(self.longest, time.perf_counter() - start)
                self.writes += 1
                await asyncio.sleep(0.005)


async def _prepare(url: URL, tables: tuple[str, ...]) -> None:
    """``tables`` made afresh with ``ROWS`` rows, vacuumed and analyzed; then a checkpoint."""
    async with connect(url, autocommit=True) as conn:
        for table in tables:
            await conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
            await conn.execute(
                text(
                    f"CREATE TABLE {table} (id bigint PRIMARY KEY, county text NOT NULL,"
                    " touched integer NOT NULL DEFAULT 0)"
                )
            )
            await conn.execute(
                text(
                    f"INSERT INTO {table} (id, county) SELECT g, 'county-' || (g % 39)"
                    f" FROM generate_series(1, {ROWS}) AS g"
                )
            )
            await conn.execute(text(f"VACUUM ANALYZE {table}"))
        await conn.execute(text("CHECKPOINT"))


def _during_writes(
    url: URL, table: str, work: Coroutine[Any, Any, object]
) -> tuple[float, float, int]:
    """Seconds ``work`` (a coroutine) took, the writer's longest wait, and its writes."""
    writer = Writer(url, table)
    writer.start()
    time.sleep(0.5)  # the writer is writing before the work starts
    start = time.perf_counter()
    run_blocking(work)
    elapsed = time.perf_counter() - start
    writer.stop.set()
    writer.join()
    return elapsed, writer.longest, writer.writes


async def _plain(url: URL, statement: str) -> None:
    async with connect(url) as conn:
        await conn.execute(text(statement))
        await conn.commit()


async def _count_left(url: URL, table: str, where: str) -> int:
    async with connect(url) as conn:
        found = await conn.execute(text(f"SELECT count(*) FROM {table} WHERE {where}"))
        return int(found.scalar_one())


async def _walk(url: URL, rev: str) -> str:
    """The batches of ``rev``'s backfill: how many, and their time together."""
    async with connect(url) as conn:
        found = await conn.execute(
            text("SELECT batches, seconds FROM tfsync_backfill WHERE revision = :r"), {"r": rev}
        )
        batches, seconds = found.one()
    return f"{batches} batches, {seconds:.3f} s in them"


def main() -> None:
    """Print the figures of this benchmark."""
    server = database_url(load_settings(), test=True)
    with tempfile.TemporaryDirectory(prefix="bench_backfill_") as tmp:
        versions = Path(tmp) / "versions"
        versions.mkdir()
        for source in VERSIONS_DIR.glob("*.py"):
            (versions / source.name).write_text(source.read_text())
        head = migrations.script_directory(migrations.alembic_config()).get_current_head()
        down = head
        for rev, (what, _, _, call) in CASES.items():
            doc = f"backfill bench {what.lower()}"
            write_revision(versions, rev, down, doc, call)
            down = rev
        cfg = migrations.alembic_config(versions_dir=versions)
        run_blocking(_bench(server, cfg, head or ""))


async def _bench(server: URL, cfg: Config, head: str) -> None:
    async with scratch_database(server, "bench") as url:
        await migrations.upgrade(url, head, cfg=cfg)
        print(f"{ROUNDS} round(s) per case on 2 tables of {ROWS:,} rows made afresh each round")
        below = head  # each case's revision sits on the one before
        for rev in CASES:
            await _compare(url, cfg, rev, below)
            below = rev


async def _compare(url: URL, cfg: Config, rev: str, below: str) -> None:
    """One case, ``ROUNDS`` times: the plain statement and the revision's op.backfill, each
    with a writer, taking turns going first; medians of their times, the longest waits.
    Between rounds the database goes back to ``below``, the revision under ``rev``."""
    what, (plain_table, batched_table), statement, _ = CASES[rev]

    def plain() -> tuple[float, float, int]:
        return _during_writes(url, plain_table, _plain(url, statement))

    def batched() -> tuple[float, float, int]:
        upgrade = migrations.upgrade(url, rev, cfg=cfg)
        return _during_writes(url, batched_table, upgrade)

    runs: dict[str, list[tuple[float, float, int]]] = {"plain": [], "batched": []}
    for round_ in range(ROUNDS):
        if round_:  # untimed: the next upgrade records and walks the backfill afresh
            await migrations.downgrade(url, below, cfg=cfg)
        await _prepare(url, (plain_table, batched_table))
        order = [("plain", plain), ("batched", batched)]
        for name, fn in order if round_ % 2 == 0 else order[::-1]:
            # in a thread of its own: each runs its own event loop beside the writer's
            runs[name].append(await asyncio.to_thread(fn))
        where = WHERE if what == "UPDATE" else "id > 0"
        left = [await _count_left(url, t, where) for t in (plain_table, batched_table)]
        (plain_s, *_), (batched_s, *_) = runs["plain"][-1], runs["batched"][-1]
        print(
            f"  round {round_ + 1}: op.backfill {batched_s:.3f} s ({await _walk(url, rev)}),"
            f" one {what} {plain_s:.3f} s, ratio {batched_s / plain_s:.2f};"
            f" rows left to change afterwards (one {what}, op.backfill): {left}"
        )
    plain_s, batched_s = (statistics.median(r[0] for r in runs[k]) for k in ("plain", "batched"))
    plain_wait, batched_wait = (max(r[1] for r in runs[k]) for k in ("plain", "batched"))
    plain_writes, batched_writes = (sum(r[2] for r in runs[k]) for k in ("plain", "batched"))
    ratio = report(
        f"{what}: total time, {ROWS:,} rows, median of {ROUNDS}",
        ("op.backfill", batched_s),
        (f"one {what}", plain_s),
    )
    print(f"  goal: op.backfill at most 1.5x one {what}: {'met' if ratio <= 1.5 else 'NOT met'}")
    report(
        f"{what}: longest wait of a single-row writer, over {ROUNDS} rounds",
        ("during op.backfill", batched_wait),
        (f"during one {what}", plain_wait),
    )
    print(
        f"  writes done: {batched_writes:,} during op.backfill, {plain_writes:,} during the"
        f" {what}; goal under 0.5 s with op.backfill: "
        f"{'met' if batched_wait < 0.5 else 'NOT met'}"
    )
