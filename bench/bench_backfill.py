"""``op.backfill`` against one plain ``UPDATE`` of a million rows, and a writer during each.

On a scratch database of the test server, two identical generated tables of
``BENCH_BACKFILL_ROWS`` rows (default 1,000,000), vacuumed and analyzed, are rewritten the
same way (``county = upper(county)`` where it is not yet): one by a plain ``UPDATE``, the
other by ``tfsync upgrade`` of a revision holding ``op.backfill`` (its step, then its
batches at the default target time). Meanwhile a single-row writer, on its own
connection in its own thread, updates random rows of the table being rewritten, one
short transaction at a time, and its longest wait is kept.

Printed: the total time of each (goal: the backfill at most 1.5 times the UPDATE) and the
writer's longest wait during each (goal: under 0.5 s with the backfill, where behind the
plain UPDATE it waits for about the whole statement).
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL

from bench.timing import report
from terrafusion_sync import migrations
from terrafusion_sync.aio import run_blocking
from terrafusion_sync.database import connect
from terrafusion_sync.embedded import database_url
from terrafusion_sync.migrations.plumbing.config import VERSIONS_DIR
from terrafusion_sync.provision import scratch_database
from terrafusion_sync.settings import load_settings

ROWS = int(os.environ.get("BENCH_BACKFILL_ROWS", "1000000"))
SET = "county = upper(county)"
WHERE = "county <> upper(county)"
REVISION = '''"""backfill bench counties"""

from alembic import op

revision = "bf11be0c0001"
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.backfill("bench_by_backfill", set={set!r}, where={where!r})


def downgrade() -> None:
    pass
'''


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


async def _prepare(url: URL) -> None:
    async with connect(url, autocommit=True) as conn:
        for table in ("bench_by_update", "bench_by_backfill"):
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


def _during_writes(url: URL, table: str, work: object) -> tuple[float, float, int]:
    """Seconds ``work`` (a coroutine) took, the writer's longest wait, and its writes."""
    writer = Writer(url, table)
    writer.start()
    time.sleep(0.5)  # the writer is writing before the work starts
    start = time.perf_counter()
    run_blocking(work)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - start
    writer.stop.set()
    writer.join()
    return elapsed, writer.longest, writer.writes


async def _plain_update(url: URL) -> None:
    async with connect(url) as conn:
        await conn.execute(text(f"UPDATE bench_by_update SET {SET} WHERE {WHERE}"))
        await conn.commit()


async def _count_left(url: URL, table: str) -> int:
    async with connect(url) as conn:
        return (await conn.execute(text(f"SELECT count(*) FROM {table} WHERE {WHERE}"))).scalar()


def main() -> None:
    """Print the figures of this benchmark."""
    server = database_url(load_settings(), test=True)
    with tempfile.TemporaryDirectory(prefix="bench_backfill_") as tmp:
        versions = Path(tmp) / "versions"
        versions.mkdir()
        for source in VERSIONS_DIR.glob("*.py"):
            (versions / source.name).write_text(source.read_text())
        head = migrations.script_directory(migrations.alembic_config()).get_current_head()
        (versions / "2099_01_01_0000-bf11be0c0001_backfill_bench_counties.py").write_text(
            REVISION.format(down=head, set=SET, where=WHERE)
        )
        cfg = migrations.alembic_config(versions_dir=versions)
        run_blocking(_bench(server, cfg, head or ""))


async def _bench(server: URL, cfg: object, head: str) -> None:
    async with scratch_database(server, "bench") as url:
        await migrations.upgrade(url, head, cfg=cfg)  # type: ignore[arg-type]
        start = time.perf_counter()
        await _prepare(url)
        print(f"generated 2 tables of {ROWS:,} rows in {time.perf_counter() - start:.1f} s")

        def plain() -> tuple[float, float, int]:
            return _during_writes(url, "bench_by_update", _plain_update(url))

        def batched() -> tuple[float, float, int]:
            upgrade = migrations.upgrade(url, cfg=cfg)  # type: ignore[arg-type]
            return _during_writes(url, "bench_by_backfill", upgrade)

        # in threads of their own: each runs its own event loop beside the writer's
        update_s, update_wait, update_writes = await asyncio.to_thread(plain)
        backfill_s, backfill_wait, backfill_writes = await asyncio.to_thread(batched)
        left = [await _count_left(url, t) for t in ("bench_by_update", "bench_by_backfill")]
        print(f"rows left to change afterwards (update, backfill): {left}")
        ratio = report(
            f"total time, {ROWS:,} rows", ("op.backfill", backfill_s), ("one UPDATE", update_s)
        )
        print(
            f"  goal: op.backfill at most 1.5x one UPDATE: {'met' if ratio <= 1.5 else 'NOT met'}"
        )
        report(
            "longest wait of a single-row writer",
            ("during op.backfill", backfill_wait),
            ("during one UPDATE", update_wait),
        )
        print(
            f"  writes done: {backfill_writes:,} during op.backfill, {update_writes:,} during the"
            f" UPDATE; goal under 0.5 s with op.backfill: "
            f"{'met' if backfill_wait < 0.5 else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
