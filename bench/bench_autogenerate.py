"""What the enum, view, function and trigger comparators add to autogenerate.

One scratch database at head; the same comparison as ``make revision`` and the drift
check (Alembic's ``compare_metadata`` of the models against it) runs in two fresh
processes, side by side: with the comparators of alembic-postgresql-enum and alembic_utils
registered for ``db_objects.ENTITIES`` (what ``env.py`` does), and with Alembic's alone.
Fresh processes, because a registered comparator cannot be unregistered. Goal: at most
1.2x (issue 20).
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time

from bench.timing import report
from terrafusion_sync import migrations
from terrafusion_sync.embedded import database_url
from terrafusion_sync.provision import scratch_database
from terrafusion_sync.settings import PROJECT_DIR, load_settings

ROUNDS = 4
"""Processes per variant, in turns."""
CALLS = 7
"""Comparisons per process; the first (which loads the catalog caches) is not counted."""
GOAL = 1.2


def compare_many(url: str, with_entities: str, calls: str = str(CALLS)) -> None:
    """In a fresh process: compare the models with ``url`` ``calls`` times; prints the
    median seconds of the warm calls (of the only one when there is one)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    from terrafusion_sync.core_models import Base
    from terrafusion_sync.migrations.plumbing.tool_tables import include_name

    if with_entities == "1":
        from terrafusion_sync.migrations import entities

        entities.compare_with_models()
    engine = create_engine(url.replace("+asyncpg", "+psycopg"))
    samples = []
    with engine.connect() as conn:
        opts: dict[str, object] = {"compare_type": True, "compare_server_default": True}
        opts |= {"include_name": include_name, "include_schemas": False}
        for _ in range(int(calls)):
            start = time.perf_counter()
            with conn.begin():
                context = MigrationContext.configure(conn, opts=opts)
                diffs = compare_metadata(context, Base.metadata)
            samples.append(time.perf_counter() - start)
    assert diffs == [], diffs  # at head: nothing differs, either way
    print(statistics.median(samples[1:] or samples))


def _one(url: str, with_entities: bool, calls: int = CALLS) -> float:
    """Seconds of a warm comparison; with ``calls`` 1, of the whole cold process."""
    start = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from bench.bench_autogenerate import compare_many; "
            "compare_many(*sys.argv[1:])",
            url,
            "1" if with_entities else "0",
            str(calls),
        ],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return float(done.stdout.split()[-1]) if calls > 1 else time.perf_counter() - start


async def _measure(calls: int) -> tuple[float, float]:
    server = database_url(load_settings(), test=True)
    async with scratch_database(server, "bench") as scratch:
        await migrations.upgrade(scratch)
        url = scratch.render_as_string(hide_password=False)
        with_them: list[float] = []
        without: list[float] = []
        for round_ in range(ROUNDS):
            order = (True, False) if round_ % 2 == 0 else (False, True)
            for flag in order:
                seconds = await asyncio.to_thread(_one, url, flag, calls)
                (with_them if flag else without).append(seconds)
        return statistics.median(with_them), statistics.median(without)


def main() -> None:
    names = ("with enum+entity comparators", "Alembic alone")
    print(f"{ROUNDS} processes each, median of {CALLS - 1} warm comparisons per process")
    with_them, without = asyncio.run(_measure(CALLS))
    ratio = report("one comparison, warm", (names[0], with_them), (names[1], without))
    print(f"goal: at most {GOAL}x -> {'met' if ratio <= GOAL else 'NOT met'} ({ratio:.2f}x)")
    with_them, without = asyncio.run(_measure(1))
    report(
        "one autogenerate as a command pays it (fresh process: imports, connect, compare)",
        (names[0], with_them),
        (names[1], without),
    )
