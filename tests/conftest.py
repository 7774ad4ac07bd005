"""Fixtures: the test database (at head, prepared once), isolated sessions, scratch databases.

Every test runs against real PostgreSQL: ``TEST_DATABASE_URL`` when set, else the
embedded cluster's ``terrafusion_sync_test``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from terrafusion_sync.aio import run_blocking
from terrafusion_sync.database import database_url, scratch_database
from terrafusion_sync.migrations import prepare_test_database
from terrafusion_sync.settings import load_settings


@pytest.fixture(scope="session")
def test_database_url() -> URL:
    """The test database, created if missing and brought to head once per run."""
    url = database_url(load_settings(), test=True)
    run_blocking(prepare_test_database(url))
    return url


@pytest_asyncio.fixture(scope="session")
async def engine(test_database_url: URL) -> AsyncIterator[AsyncEngine]:
    """One pooled engine on the test database for the whole run."""
    engine = create_async_engine(test_database_url)
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture
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


@pytest_asyncio.fixture
async def scratch_url(test_database_url: URL) -> AsyncIterator[URL]:
    """An empty database of the test's own on the test server, dropped afterwards."""
    async with scratch_database(test_database_url, "test") as url:
        yield url
