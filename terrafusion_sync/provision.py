"""Whole databases on a server: create (or copy from a template), drop, and scratch ones.

Names are quoted with SQLAlchemy's identifier preparer (:func:`~terrafusion_sync.database.quoted`),
so any name PostgreSQL accepts works.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import URL

from terrafusion_sync.database import connect, quoted
from terrafusion_sync.database_errors import root_cause

MAINTENANCE_DATABASE = "postgres"
MAX_NAME_LENGTH = 63
"""PostgreSQL truncates longer identifiers, so derived names are kept within this."""


async def ensure_database(url: URL, *, template: str | None = None) -> bool:
    """Create the database ``url`` names if it does not exist; return whether it was created.

    With ``template`` the new database is a copy of that one (``CREATE DATABASE … TEMPLATE``).
    """
    async with connect(url.set(database=MAINTENANCE_DATABASE), autocommit=True) as conn:
        exists = await conn.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": url.database}
        )
        if exists:
            return False
        try:
            copy = f" TEMPLATE {quoted(template)}" if template else ""
            await conn.execute(text(f"CREATE DATABASE {quoted(url.database or '')}{copy}"))
        except sa_exc.DBAPIError as exc:
            if isinstance(root_cause(exc), asyncpg.DuplicateDatabaseError):
                return False  # another process created it first
            raise
        return True


async def drop_database(url: URL) -> None:
    """Drop the database ``url`` names, if it exists (scratch databases only)."""
    async with connect(url.set(database=MAINTENANCE_DATABASE), autocommit=True) as conn:
        await conn.execute(
            text(f"DROP DATABASE IF EXISTS {quoted(url.database or '')} WITH (FORCE)")
        )


def derived_name(base: str, *parts: str) -> str:
    """``<base>_<part>_…``, with ``base`` shortened so the name fits PostgreSQL's limit."""
    suffix = "_".join(parts)
    return f"{base[: MAX_NAME_LENGTH - len(suffix) - 1]}_{suffix}"


@asynccontextmanager
async def scratch_database(
    server_url: URL, purpose: str, *, template: str | None = None
) -> AsyncIterator[URL]:
    """A new database on ``server_url``'s server, dropped afterwards.

    It is named after ``server_url``'s database, so every scratch database of a test
    database shares its prefix. Empty, or a copy of ``template``.
    """
    unique = (str(os.getpid()), secrets.token_hex(3))
    url = server_url.set(database=derived_name(server_url.database or "tfsync", purpose, *unique))
    await ensure_database(url, template=template)
    try:
        yield url
    finally:
        await drop_database(url)
