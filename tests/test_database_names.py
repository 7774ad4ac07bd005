"""Any database name PostgreSQL accepts works wherever tfsync puts one in SQL.

Every name goes through SQLAlchemy's identifier preparer (``database.quoted``): a name
holding a double quote is created, migrated, copied as a template, stamped and dropped,
never a SQL syntax error.
"""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy.engine import URL

from terrafusion_sync import migrations
from terrafusion_sync.migrations.testdb import drop_test_databases, template_url
from terrafusion_sync.provision import derived_name, drop_database, ensure_database

from helpers import APP_TABLES, CHAIN, HEAD, rows, tables

pytestmark = pytest.mark.asyncio(loop_scope="session")

AWKWARD = 'say "hi"'
"""A piece of a database name that only works quoted, with its quotes doubled."""


def awkward_url(server: URL) -> URL:
    """A database name of this test's own, holding a double quote and a space."""
    return server.set(database=derived_name(server.database or "", AWKWARD, secrets.token_hex(3)))


async def exists(url: URL) -> bool:
    found = await rows(
        url.set(database="postgres"), "SELECT 1 FROM pg_database WHERE datname = :n", n=url.database
    )
    return bool(found)


async def test_a_database_named_with_a_double_quote_is_created_migrated_copied_and_dropped(
    test_database_url: URL,
) -> None:
    url = awkward_url(test_database_url)
    copy = url.set(database=f"{url.database}_copy")
    assert await ensure_database(url)
    try:
        assert await migrations.upgrade(url) == migrations.Outcome(list(CHAIN), (HEAD,))
        assert await migrations.upgrade(url) == migrations.Outcome([], (HEAD,))  # one query
        assert await tables(url) == APP_TABLES
        assert await ensure_database(copy, template=url.database)
        assert await tables(copy) == APP_TABLES
    finally:
        await drop_database(copy)
        await drop_database(url)
    assert not await exists(url)
    assert not await exists(copy)


async def test_a_test_database_named_with_a_double_quote_is_prepared_and_dropped(
    test_database_url: URL,
) -> None:
    url = awkward_url(test_database_url)
    try:
        prepared = await migrations.prepare_test_database(url)
        assert prepared.applied == CHAIN
        assert await tables(url) == APP_TABLES
        again = await migrations.prepare_test_database(url)  # the stamp reads back
        assert (again.rebuilt, again.applied) == (False, ())
    finally:
        await drop_test_databases(url)
    assert not await exists(url)
    assert not await exists(template_url(url))
