"""Fixtures: the package's pytest plugin, shared with every project that tests this schema.

Every test runs against real PostgreSQL: ``TEST_DATABASE_URL`` when set, else the
embedded cluster's ``terrafusion_sync_test``. See :mod:`terrafusion_sync.testing` for
``test_database_url``, ``engine``, ``db_session``, ``fresh_database``, ``scratch_url`` and
``migration_runner``.
"""

import gc
import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import suppress
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy.engine import URL

from terrafusion_sync.migrations.plumbing.config import VERSIONS_DIR
from terrafusion_sync.migrations.testdb import drop_test_databases
from terrafusion_sync.provision import derived_name, scratch_database
from terrafusion_sync.review.seal import manifest_path
from terrafusion_sync.settings import load_settings

from helpers import StatementsCluster, execute, postgres_bindir

pytest_plugins = ["terrafusion_sync.testing"]

MAX_EXTRA_WORKERS = 16
"""Workers beyond one a core stop here: each holds connections of its own."""


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto`` (our addopts): three workers for every two cores, unless
    PYTEST_XDIST_AUTO_NUM_WORKERS.

    Part of a test's time is the server's, and a worker waiting on it leaves its core to
    another. Measured on 2 cores (make test, 434 tests, the test cluster in RAM): 2 workers
    took 111 s (twice), 3 took 94-101 s (three runs), 4 took 98-120 s (seven) and 6 took
    131 s. More than one a core only up to 16 workers, each with connections of its own
    (PostgreSQL allows 100 by default); never fewer than one a core.
    """
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own hook reads it
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    cores = len(usable) if usable else os.cpu_count() or 1
    return max(cores, min(cores * 3 // 2, MAX_EXTRA_WORKERS))


YOUNG_OBJECTS_BEFORE_A_COLLECTION = 10_000
"""The collector's first threshold in a worker (Python's default is 700)."""


def pytest_collection_finish(session: pytest.Session) -> None:
    """Spare the garbage collector the objects every test of a worker shares.

    What a worker holds after collection (SQLAlchemy, Alembic, the models, the collected
    items) lives as long as it does: frozen, no collection walks it again. What a test
    makes and drops (reflected tables, Alembic's revision maps) the collector then looks
    at far less often with a first threshold of 10,000 rather than 700, and still frees
    its cycles. Measured with ``gc.callbacks`` over a whole run (436 tests, 3 workers):
    the workers spent 7.8 s of CPU collecting, 6.8 s frozen alone, 2.5 s frozen with this
    threshold, 2.7 s with 50,000.
    """
    gc.freeze()
    gc.set_threshold(YOUNG_OBJECTS_BEFORE_A_COLLECTION, *gc.get_threshold()[1:])


@pytest.fixture(scope="session")
def cluster_state_dir() -> Iterator[Callable[[], Path]]:
    """Make state folders for throwaway embedded clusters, removed after the run.

    They live under ``.tfsync/`` rather than pytest's temporary folder: under root the
    cluster runs as the ``pgserver`` user, and every new pytest run (an xdist worker, a
    nested run) makes pytest's per-user temporary root private again, locking that user out.
    """
    root = load_settings().state_dir / "test-clusters" / str(os.getpid())

    def make() -> Path:
        path = root / secrets.token_hex(4)
        path.mkdir(parents=True)
        return path

    yield make
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def versions(tmp_path: Path) -> Path:
    """A copy of versions/ (and its seal manifest, beside it) that the test may change."""
    copy = tmp_path / "versions"
    shutil.copytree(VERSIONS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(manifest_path(VERSIONS_DIR), manifest_path(copy))
    return copy


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A clean configuration for in-process CLI calls: no .env, no URLs, no tfsync settings,
    unless the test sets them."""
    monkeypatch.setenv("TFSYNC_ENV_FILE", str(tmp_path / "absent.env"))
    for name in (
        "DATABASE_URL",
        "TEST_DATABASE_URL",
        "TFSYNC_DEBUG",
        "TFSYNC_VERSIONS_DIR",
        "TFSYNC_LOCK_TIMEOUT",
        "TFSYNC_STATEMENT_TIMEOUT",
        "TFSYNC_LOCK_RETRIES",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest_asyncio.fixture(loop_scope="session")
async def own_test_url(test_database_url: URL) -> AsyncIterator[URL]:
    """A test database name of this test's own; it and its template are dropped afterwards."""
    url = test_database_url.set(
        database=derived_name(test_database_url.database or "", "own", secrets.token_hex(3))
    )
    try:
        yield url
    finally:
        await drop_test_databases(url)


@pytest.fixture(scope="session")
def statements_server() -> Iterator[URL]:
    """A throwaway cluster with pg_stat_statements preloaded (see ``helpers``), stopped and
    removed after the run; skipped when this machine has no such PostgreSQL binaries."""
    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries shipping pg_stat_statements here")
    folder = Path(tempfile.mkdtemp(prefix="tfsync-statements-"))
    cluster = StatementsCluster(bindir, folder)
    try:
        yield cluster.start()
    finally:
        with suppress(Exception):
            cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest_asyncio.fixture(loop_scope="session")
async def statements_url(statements_server: URL) -> AsyncIterator[URL]:
    """An empty database of the test's own on that cluster, pg_stat_statements created."""
    async with scratch_database(statements_server, "statements") as url:
        # in public, as CREATE EXTENSION puts it by default (its views are the extension's:
        # autogenerate and the drift check leave them alone, see test_entities.py)
        await execute(url, "CREATE EXTENSION pg_stat_statements")
        yield url
