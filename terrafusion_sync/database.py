"""How to reach a database: the one path every command takes to open a connection.

Engines are async (asyncpg) with ``NullPool``: a migration run opens one connection and
closes it, and nothing lingers that could hold a lock. Driver and network errors become
one-line messages with the password masked (:mod:`.database_errors`). Which database a
command uses is :func:`terrafusion_sync.embedded.database_url`; creating and dropping
whole databases is :mod:`.provision`.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache

from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import URL, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.compiler import IdentifierPreparer

from terrafusion_sync.database_errors import translate_errors


def application_name() -> str:
    """``tfsync@<host>:<pid>``: how our sessions show in ``pg_stat_activity``."""
    return f"tfsync@{socket.gethostname()}:{os.getpid()}"[:63]


def create_engine(url: URL, *, pooled: bool = False) -> AsyncEngine:
    """An async engine named after this process; it keeps no idle connections unless
    ``pooled`` (the tests' engine for a whole run)."""
    pool = {} if pooled else {"poolclass": NullPool}
    return create_async_engine(
        url,
        connect_args={"server_settings": {"application_name": application_name()}},
        **pool,
    )


@asynccontextmanager
async def connect(url: URL, *, autocommit: bool = False) -> AsyncIterator[AsyncConnection]:
    """Open one connection to ``url``; failures become one-line :class:`DatabaseError`.

    Not reaching the server and losing it later are told apart; an error of the caller's
    own inside the block (a file it cannot read, a timeout of its own) stays what it is.
    """
    engine = create_engine(url)
    try:
        with translate_errors(url, connecting=True):
            conn = await engine.connect()
            if autocommit:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        with translate_errors(url, connecting=False):
            try:
                yield conn
            finally:
                await conn.close()
    finally:
        await engine.dispose()


def quoted(name: str) -> str:
    """``name`` as a PostgreSQL identifier, quoted by SQLAlchemy's identifier preparer.

    Quotes only where needed, and doubles any quote inside: a database named ``a"b``
    becomes ``"a""b"``.
    """
    return _preparer().quote(name)


@cache
def postgresql_dialect() -> Dialect:
    """SQLAlchemy's PostgreSQL dialect, to compile and quote SQL without a connection."""
    dialect: Dialect = postgresql.dialect()  # type: ignore[no-untyped-call]  # unannotated in SQLAlchemy
    return dialect


def _preparer() -> IdentifierPreparer:
    return postgresql_dialect().identifier_preparer
