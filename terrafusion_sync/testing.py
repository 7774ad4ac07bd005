"""pytest fixtures for code that uses this schema: load with ``pytest_plugins``.

```python
# tests/conftest.py
pytest_plugins = ["terrafusion_sync.testing"]
```

The test database (``TEST_DATABASE_URL``, else the embedded one) is brought to head once
per run, and only when the revision files changed (see
:mod:`terrafusion_sync.migrations.testdb`). Under pytest-xdist each worker gets a copy of
its own, dropped at the end. The fixtures:

- ``db_session``: an ``AsyncSession`` in a transaction rolled back after the test; the
  code under test may ``commit()``.
- ``fresh_database``: the URL of a database copied from the migrated template, for DDL or
  several connections; dropped after the test.
- ``migration_runner``: an empty database to move step by step between revisions, for
  testing a data migration (override ``migration_config`` for other revision files).
- ``test_database_url``, ``engine`` (pooled, whole run) and ``scratch_url`` (an empty
  database) underneath.

Async fixtures run on the session event loop: mark async tests
``pytest.mark.asyncio(loop_scope="session")`` (or set ``asyncio_default_test_loop_scope``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from alembic.config import Config
from sqlalchemy import Row, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from terrafusion_sync import migrations
from terrafusion_sync.aio import run_blocking
from terrafusion_sync.database import connect, create_engine
from terrafusion_sync.embedded import database_url
from terrafusion_sync.migrations.testdb import (
    copy_template,
    ensure_test_database,
    template_url,
    worker_url,
)
from terrafusion_sync.provision import drop_database, scratch_database
from terrafusion_sync.settings import load_settings

XDIST_WORKER_ENV = "PYTEST_XDIST_WORKER"


@dataclass(frozen=True)
class TestDatabases:
    """The configured test database and the one this process's tests use."""

    __test__ = False  # not a test class, whatever its name

    configured: URL
    """``TEST_DATABASE_URL`` (or the embedded one), kept at head by the preparation."""
    url: URL
    """What the tests use: ``configured``, or this xdist worker's copy of the template."""

    @property
    def template(self) -> URL:
        """The migrated template every copy is made from."""
        return template_url(self.configured)


@dataclass
class MigrationRunner:
    """One empty database, moved between revisions by the test; see ``migration_runner``."""

    url: URL
    cfg: Config

    async def upgrade(self, target: str = "head") -> list[str]:
        """Apply revisions up to ``target``; return the ids applied."""
        return (await migrations.upgrade(self.url, target, cfg=self.cfg)).applied

    async def downgrade(self, target: str) -> list[str]:
        """Undo revisions down to ``target`` (an id, ``-1`` or ``base``)."""
        return (await migrations.downgrade(self.url, target, cfg=self.cfg)).applied

    async def current(self) -> tuple[str, ...]:
        """The revision(s) the database is at (empty at base)."""
        return await migrations.current_revisions(self.url, self.cfg)

    async def execute(
        self, sql: str, params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None
    ) -> list[Row[Any]]:
        """Run one SQL statement and commit; return its rows (if it returns any).

        A list of parameter mappings runs the statement once per mapping.
        """
        async with connect(self.url) as conn:
            result = await conn.execute(text(sql), params)
            rows = list(result.all()) if result.returns_rows else []
            await conn.commit()
        return rows

    def connect(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection of your own: ``async with runner.connect() as conn: ...``."""
        return connect(self.url)


@pytest.fixture(scope="session")
def tfsync_test_databases() -> Iterator[TestDatabases]:
    """Prepare the test database (unless ``tfsync test`` did); copy it per xdist worker."""
    configured = database_url(load_settings(), test=True)
    run_blocking(ensure_test_database(configured))
    worker = os.environ.get(XDIST_WORKER_ENV)
    if not worker:
        yield TestDatabases(configured, configured)
        return
    url = run_blocking(copy_template(configured, worker_url(configured, worker).database or ""))
    try:
        yield TestDatabases(configured, url)
    finally:
        run_blocking(drop_database(url))


@pytest.fixture(scope="session")
def test_database_url(tfsync_test_databases: TestDatabases) -> URL:
    """The database at head the tests use (this worker's own under pytest-xdist)."""
    return tfsync_test_databases.url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def engine(test_database_url: URL) -> AsyncIterator[AsyncEngine]:
    """One pooled engine on the test database for the whole run."""
    engine = create_engine(test_database_url, pooled=True)
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture(loop_scope="session")
async def db_session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """An ``AsyncSession`` inside a transaction that is rolled back after the test.

    The code under test may ``commit()``: with ``create_savepoint`` that only releases a
    savepoint, and the outer rollback still removes every row the test wrote.
    """
    async with engine.connect() as conn:
        outer = await conn.begin()
        session = AsyncSession(
            bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield session
        finally:
            await session.close()
            await outer.rollback()


@pytest_asyncio.fixture(loop_scope="session")
async def fresh_database(tfsync_test_databases: TestDatabases) -> AsyncIterator[URL]:
    """A database of the test's own, copied from the migrated template; dropped afterwards.

    For DDL, several connections, or code that manages its own transactions.
    """
    template = tfsync_test_databases.template.database
    async with scratch_database(tfsync_test_databases.url, "fresh", template=template) as url:
        yield url


@pytest_asyncio.fixture(loop_scope="session")
async def scratch_url(test_database_url: URL) -> AsyncIterator[URL]:
    """An empty database of the test's own on the test server, dropped afterwards."""
    async with scratch_database(test_database_url, "test") as url:
        yield url


@pytest.fixture
def migration_config() -> Config:
    """The Alembic config ``migration_runner`` uses; override it to use other revisions."""
    return migrations.alembic_config()


@pytest_asyncio.fixture(loop_scope="session")
async def migration_runner(
    test_database_url: URL, migration_config: Config
) -> AsyncIterator[MigrationRunner]:
    """An empty database to upgrade to A, fill, upgrade to B and check; dropped afterwards."""
    async with scratch_database(test_database_url, "migrate") as url:
        yield MigrationRunner(url, migration_config)
