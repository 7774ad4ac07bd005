"""What testing against the migrated schema costs: ``python -m bench.run bench_tests``.

A suite of ordinary async tests that each write rows is generated in a temporary folder
and run on a test database of the bench's own (``<test database>_bench`` and its
template, dropped at the end), so the figures do not depend on the project's tests:

1. warm ``make test`` against bare ``pytest`` on the same 200 tests: what the workflow adds;
   and the warm check of the test database against asking Alembic for its status;
2. per test, each isolation fixture (``db_session``, ``fresh_database``) against migrating a
   fresh database for every test;
3. a database copied from a template against one migrated, on a generated 200-revision
   chain (how the two grow with the history);
4. the isolation overhead per test of ``db_session`` on the 200 tests (fixture setup and
   teardown), against a session with no isolation; the target is single-digit ms.

See bench/README.md for how to read them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL

from bench.chain import write_chain
from bench.timing import compare, report, timed
from terrafusion_sync import migrations
from terrafusion_sync.aio import run_blocking
from terrafusion_sync.database import connect
from terrafusion_sync.embedded import database_url
from terrafusion_sync.migrations import alembic_config
from terrafusion_sync.migrations.testdb import (
    drop_test_databases,
    prepare_test_database,
    template_url,
)
from terrafusion_sync.provision import MAINTENANCE_DATABASE, derived_name, scratch_database
from terrafusion_sync.settings import PROJECT_DIR, child_environ, load_settings, mask_text

FILES = 20
TESTS_PER_FILE = 10
ROWS_PER_TEST = 5
SMALL_FILES = 1
"""Copying or migrating a database per test is slow: those modes run on the first file."""
REPEAT = 3
CHAIN_LENGTH = 200
"""A generated history (bench/chain.py) shows how migrating per test grows and a copy does not."""
TARGET_MS = 10.0
MAKE_TEST_GOAL = 1.05
"""Issue 23: a warm `make test` at most this many times bare pytest on the same suite."""

PYTEST_INI = """[pytest]
asyncio_mode = strict
asyncio_default_fixture_loop_scope = session
asyncio_default_test_loop_scope = session
addopts = -q -p no:cacheprovider
"""

CONFTEST = '''"""The session each generated test uses, isolated the way BENCH_ISOLATION says."""

import json
import os
import time
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession

from terrafusion_sync import migrations
from terrafusion_sync.database import create_engine
from terrafusion_sync.provision import scratch_database

pytest_plugins = ["terrafusion_sync.testing"]

ISOLATION = os.environ.get("BENCH_ISOLATION", "db_session")
SPENT = {"setup_teardown": 0.0, "tests": 0}

if ISOLATION == "db_session":

    @pytest.fixture
    def session(db_session):
        return db_session

elif ISOLATION == "none":

    @pytest_asyncio.fixture(loop_scope="session")
    async def session(engine):
        async with AsyncSession(engine, expire_on_commit=False) as session:
            yield session

elif ISOLATION == "fresh_database":

    @pytest_asyncio.fixture(loop_scope="session")
    async def session(fresh_database):
        engine = create_engine(fresh_database)
        async with AsyncSession(engine, expire_on_commit=False) as session:
            yield session
        await engine.dispose()

elif ISOLATION == "migrate":

    @pytest_asyncio.fixture(loop_scope="session")
    async def session(test_database_url):
        async with scratch_database(test_database_url, "bench") as url:
            await migrations.upgrade(url)
            engine = create_engine(url)
            async with AsyncSession(engine, expire_on_commit=False) as session:
                yield session
            await engine.dispose()


def pytest_runtest_logreport(report):
    if report.when in ("setup", "teardown"):
        SPENT["setup_teardown"] += report.duration
    elif report.when == "call":
        SPENT["tests"] += 1


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session):
    start = time.perf_counter()
    try:
        return (yield)
    finally:
        out = os.environ.get("BENCH_TIMING_FILE")
        if out:
            SPENT["loop"] = time.perf_counter() - start
            Path(out).write_text(json.dumps(SPENT))
'''

TEST_HEADER = """import uuid

import pytest
from sqlalchemy import func, select

from terrafusion_sync.core_models import PropertyOperational

pytestmark = pytest.mark.asyncio(loop_scope="session")
"""

TEST_FUNCTION = """

async def test_writes_rows_{index:03d}(session):
    tag = uuid.uuid4().hex[:16]
    session.add_all(
        PropertyOperational(property_id=f"{{tag}}-{{i}}", parcel_number=str(i), county_id=tag)
        for i in range({rows})
    )
    await session.commit()
    written = select(func.count()).where(PropertyOperational.county_id == tag)
    assert await session.scalar(written) == {rows}
"""


@dataclass(frozen=True)
class Run:
    """One pytest run of the generated suite, as its own conftest measured it."""

    tests: int
    loop: float
    setup_teardown: float

    @property
    def per_test_ms(self) -> float:
        """Wall time of the test loop per test (fixtures and test bodies), in ms."""
        return 1000 * self.loop / self.tests

    @property
    def overhead_ms(self) -> float:
        """Fixture setup and teardown per test, in ms: what isolating a test costs."""
        return 1000 * self.setup_teardown / self.tests


def write_suite(folder: Path) -> tuple[list[Path], list[Path]]:
    """The generated suite; return (all test files, the first few for the slow modes)."""
    folder.mkdir(parents=True)
    (folder / "pytest.ini").write_text(PYTEST_INI)
    (folder / "conftest.py").write_text(CONFTEST)
    files = []
    for number in range(FILES):
        first = number * TESTS_PER_FILE
        body = "".join(
            TEST_FUNCTION.format(index=first + i, rows=ROWS_PER_TEST) for i in range(TESTS_PER_FILE)
        )
        path = folder / f"test_rows_{number:02d}.py"
        path.write_text(TEST_HEADER + body)
        files.append(path)
    return files, files[:SMALL_FILES]


def environment(bench_url: URL, **extra: str) -> dict[str, str]:
    """The bench's test database, and nothing inherited that would skip its check."""
    return child_environ(TEST_DATABASE_URL=bench_url.render_as_string(hide_password=False), **extra)


def run_pytest(bench_url: URL, isolation: str, files: list[Path], out: Path) -> Run:
    """Bare pytest on ``files`` with one isolation mode; its own figures."""
    env = environment(bench_url, BENCH_ISOLATION=isolation, BENCH_TIMING_FILE=str(out))
    command = [sys.executable, "-m", "pytest", *map(str, files)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench_tests: {isolation} run failed:\n{mask_text(done.stdout[-2000:])}")
    spent = json.loads(out.read_text())
    return Run(spent["tests"], spent["loop"], spent["setup_teardown"])


def wall(command: list[str], env: dict[str, str], cwd: Path) -> float:
    """Wall time of one command, which must succeed."""
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        tail = mask_text((done.stdout + done.stderr)[-2000:])
        raise SystemExit(f"bench_tests: {' '.join(command[:3])} failed:\n{tail}")
    return elapsed


def median_run(runs: list[Run]) -> Run:
    """The run with the median loop time."""
    return sorted(runs, key=lambda r: r.loop)[len(runs) // 2]


def leftovers(bench_url: URL) -> list[str]:
    """Databases whose name starts with the bench's test database name."""

    async def names() -> list[str]:
        async with connect(bench_url.set(database=MAINTENANCE_DATABASE)) as conn:
            rows = await conn.scalars(
                text("SELECT datname FROM pg_database WHERE starts_with(datname, :p)"),
                {"p": bench_url.database},
            )
            return sorted(rows)

    return run_blocking(names())


def chain_figure(bench_url: URL, tmp: Path) -> None:
    """A copy of a template at the head of a long chain vs migrating that chain, per database."""
    cfg = alembic_config(versions_dir=tmp / "chain_versions")
    write_chain(tmp / "chain_versions", CHAIN_LENGTH)
    chain_url = bench_url.set(database=derived_name(bench_url.database or "", "chain"))
    try:
        run_blocking(prepare_test_database(chain_url, cfg=cfg))
        template = template_url(chain_url).database

        async def copy() -> None:
            async with scratch_database(chain_url, "copy", template=template):
                pass

        async def migrate() -> None:
            async with scratch_database(chain_url, "migrate") as url:
                await migrations.upgrade(url, cfg=cfg)

        report(
            f"per database, a copy of the template vs migrating, {CHAIN_LENGTH}-revision chain",
            ("copy", timed(lambda: run_blocking(copy()), repeat=REPEAT)),
            ("migrate", timed(lambda: run_blocking(migrate()), repeat=REPEAT)),
        )
    finally:
        run_blocking(drop_test_databases(chain_url))


def main() -> None:
    """Measure and print every figure of bench_tests."""
    configured = database_url(load_settings(), test=True)
    bench_url = configured.set(database=derived_name(configured.database or "", "bench"))
    total = FILES * TESTS_PER_FILE
    with tempfile.TemporaryDirectory(prefix="tfsync-bench-tests-") as tmp:
        files, small = write_suite(Path(tmp) / "suite")
        suite = files[0].parent
        out = Path(tmp) / "timing.json"
        try:
            measure(bench_url, suite, files, small, out, total)
        finally:
            run_blocking(drop_test_databases(bench_url))
    left = leftovers(bench_url)
    print(f"databases left behind by the bench: {', '.join(left) if left else 'none'}")


def measure(
    bench_url: URL, suite: Path, files: list[Path], small: list[Path], out: Path, total: int
) -> None:
    """Warm up, then measure each figure side by side, REPEAT times, and report medians."""
    print(
        f"generated suite: {total} async tests, each writing {ROWS_PER_TEST} rows;"
        f" test database {bench_url.database} (dropped at the end); median of {REPEAT} runs",
        flush=True,
    )
    run_pytest(bench_url, "db_session", small, out)  # warm: template and test database built

    stamp_check = timed(lambda: run_blocking(prepare_test_database(bench_url)), repeat=9)
    alembic_status = timed(lambda: run_blocking(migrations.status(bench_url)), repeat=9)
    report(
        "warm check that the test database is at head",
        ("stamp check", 1000 * stamp_check),
        ("alembic status", 1000 * alembic_status),
        unit="ms",
    )

    make_env = environment(bench_url, BENCH_ISOLATION="db_session")
    make = ["make", "--no-print-directory", "test", f"ARGS={suite}"]
    wall(make, make_env, PROJECT_DIR)  # warm: the nox environment exists and is current
    # bare pytest of that same environment (pytest 9): the bench's own has pytest-alembic's
    # pytest (below 9), for bench_review
    bare = [str(PROJECT_DIR / ".nox" / "test" / "bin" / "python"), "-m", "pytest", str(suite)]
    ratio = compare(
        f"warm `make test` vs bare `pytest`, same {total} tests",
        ("make test", "pytest"),
        lambda: wall(make, make_env, PROJECT_DIR),
        lambda: wall(bare, make_env, PROJECT_DIR),
        REPEAT,
    )
    met = "met" if ratio <= MAKE_TEST_GOAL else "NOT met"
    print(f"  warm make test vs bare pytest: {ratio:.2f}x (goal at most {MAKE_TEST_GOAL}x: {met})")

    runs: dict[str, list[Run]] = {mode: [] for mode in ("none", "db_session", "none-small")}
    runs |= {"fresh_database": [], "migrate": []}
    for _ in range(REPEAT):
        runs["none"].append(run_pytest(bench_url, "none", files, out))
        runs["db_session"].append(run_pytest(bench_url, "db_session", files, out))
        runs["none-small"].append(run_pytest(bench_url, "none", small, out))
        runs["fresh_database"].append(run_pytest(bench_url, "fresh_database", small, out))
        runs["migrate"].append(run_pytest(bench_url, "migrate", small, out))
    best = {mode: median_run(found) for mode, found in runs.items()}

    migrate = best["migrate"]
    for fixture in ("db_session", "fresh_database"):
        report(
            f"per test, {fixture} vs migrating a fresh database"
            f" ({best[fixture].tests} vs {migrate.tests} tests)",
            (fixture, best[fixture].per_test_ms),
            ("migrate per test", migrate.per_test_ms),
            unit="ms",
        )
    report(
        f"isolation overhead per test (fixture setup + teardown), {total} tests",
        ("db_session", best["db_session"].overhead_ms),
        ("no isolation", best["none"].overhead_ms),
        unit="ms",
    )
    report(
        f"isolation overhead per test, fresh_database vs migrating ({migrate.tests} tests)",
        ("fresh_database", best["fresh_database"].overhead_ms),
        ("migrate per test", migrate.overhead_ms),
        unit="ms",
    )
    chain_figure(bench_url, suite.parent)
    overhead = best["db_session"].overhead_ms - best["none"].overhead_ms
    verdict = "met" if overhead < TARGET_MS else "NOT met"
    print(
        f"{total} async tests writing rows, db_session: isolation overhead {overhead:.2f} ms"
        f" per test ({best['db_session'].overhead_ms:.2f} ms fixture time, of which"
        f" {best['none'].overhead_ms:.2f} ms a session without isolation also costs);"
        f" target single-digit ms: {verdict}",
        flush=True,
    )
