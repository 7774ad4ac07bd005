"""Fixtures: the package's pytest plugin, shared with every project that tests this schema.

Every test runs against real PostgreSQL: ``TEST_DATABASE_URL`` when set, else the
embedded cluster's ``terrafusion_sync_test``. See :mod:`terrafusion_sync.testing` for
``test_database_url``, ``engine``, ``db_session``, ``fresh_database``, ``scratch_url`` and
``migration_runner``.
"""

import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from terrafusion_sync.settings import load_settings

pytest_plugins = ["terrafusion_sync.testing"]


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
