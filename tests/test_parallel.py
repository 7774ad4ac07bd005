"""``pytest -n 2``: a database per worker, no test sees another's rows, nothing left behind.

A small suite that uses every fixture is written to a temporary folder and run by bare
pytest with two xdist workers, on a test database name of its own, so it neither touches
nor depends on the databases of the run that started it.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from terrafusion_sync.database import connect
from terrafusion_sync.migrations.testdb import template_url
from terrafusion_sync.provision import MAINTENANCE_DATABASE
from terrafusion_sync.settings import PROJECT_DIR

from helpers import run_process

pytestmark = pytest.mark.asyncio(loop_scope="session")

INNER_CONFTEST = """
import os
from pathlib import Path

import pytest

pytest_plugins = ["terrafusion_sync.testing"]


@pytest.fixture(autouse=True)
def record_worker_database(test_database_url):
    \"\"\"Leave ``<worker>`` in INNER_SEEN_DIR, holding the name of the database it used.\"\"\"
    worker = os.environ.get("PYTEST_XDIST_WORKER", "none")
    (Path(os.environ["INNER_SEEN_DIR"]) / worker).write_text(test_database_url.database)
"""
INNER_INI = """[pytest]
asyncio_mode = strict
asyncio_default_fixture_loop_scope = session
asyncio_default_test_loop_scope = session
addopts = -p no:cacheprovider
"""
INNER_TESTS = """
import os

import pytest
from sqlalchemy import func, insert, select, text

from terrafusion_sync.core_models import PropertyOperational, ReportJob

pytestmark = pytest.mark.asyncio(loop_scope="session")
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "none")


@pytest.mark.parametrize("n", range(8))
async def test_db_session_starts_empty_and_may_commit(db_session, n):
    count = select(func.count()).select_from(PropertyOperational)
    assert await db_session.scalar(count) == 0
    db_session.add_all(
        PropertyOperational(property_id=f"p{n}-{i}", parcel_number=f"{n}-{i}", county_id="x")
        for i in range(3)
    )
    await db_session.commit()
    assert await db_session.scalar(count) == 3


@pytest.mark.parametrize("n", range(8))
async def test_a_worker_sees_only_its_own_rows(engine, test_database_url, n):
    assert test_database_url.database.endswith("_" + WORKER)
    async with engine.begin() as conn:  # committed for real, in this worker's database
        await conn.execute(
            insert(ReportJob).values(report_id=f"{WORKER}-{n}", report_type="t", county_id=WORKER)
        )
    async with engine.connect() as conn:
        assert set(await conn.scalars(select(ReportJob.county_id))) == {WORKER}


async def test_fresh_database_takes_ddl(fresh_database):
    from terrafusion_sync.database import connect

    async with connect(fresh_database) as conn:
        await conn.execute(text("CREATE TABLE notes (body text)"))
        await conn.commit()


async def test_migration_runner_starts_empty(migration_runner):
    assert await migration_runner.current() == ()
    assert await migration_runner.upgrade()
"""


async def databases_named(server: URL, prefix: str) -> set[str]:
    async with connect(server.set(database=MAINTENANCE_DATABASE)) as conn:
        rows = await conn.scalars(
            text("SELECT datname FROM pg_database WHERE starts_with(datname, :prefix)"),
            {"prefix": prefix},
        )
        return set(rows)


async def test_two_workers_each_get_a_database_and_leave_none_behind(
    own_test_url: URL, tmp_path: Path
) -> None:
    suite, seen = tmp_path / "suite", tmp_path / "seen"
    suite.mkdir()
    seen.mkdir()
    (suite / "conftest.py").write_text(INNER_CONFTEST)
    (suite / "pytest.ini").write_text(INNER_INI)
    (suite / "test_inner.py").write_text(INNER_TESTS)
    done = await asyncio.to_thread(
        run_process,
        [sys.executable, "-m", "pytest", "-n", "2", "-q", str(suite)],
        cwd=PROJECT_DIR,
        timeout=300,
        TEST_DATABASE_URL=own_test_url.render_as_string(hide_password=False),
        INNER_SEEN_DIR=str(seen),
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "18 passed" in done.stdout
    used = {path.name: path.read_text() for path in seen.iterdir()}
    assert set(used) == {"gw0", "gw1"}  # both workers ran tests...
    assert used["gw0"] != used["gw1"]  # ...each on a database of its own
    left = await databases_named(own_test_url, own_test_url.database or "")
    assert left == {own_test_url.database, template_url(own_test_url).database}
