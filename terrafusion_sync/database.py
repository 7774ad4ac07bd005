"""How to reach a database: the one path every command takes to open a connection.

Engines are async (asyncpg) with ``NullPool``: a migration run opens one connection and
closes it, and nothing lingers that could hold a lock. Each process keeps its engines by
URL (:func:`_engine`), so that a dialect asks the server its version and settings once.
Driver and network errors become one-line messages with the password masked
(:mod:`.database_errors`). Which database a command uses is
:func:`terrafusion_sync.embedded.database_url`; creating and dropping whole databases is
:mod:`.provision`.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import URL, Dialect
from sqlalchemy.sql.compiler import IdentifierPreparer

from terrafusion_sync.database_errors import translate_errors

if TYPE_CHECKING:  # imported where used: a no-op upgrade never loads them (see fetch_row)
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

DIRECT_QUERY_KEYS = frozenset({"host", "port", "ssl"})
"""URL query keys :func:`fetch_row` passes to asyncpg itself; any other takes SQLAlchemy."""
ENGINES_KEPT = 32
"""Engines :func:`connect` keeps in a process, the most recently used (they hold no
connection: ``NullPool``)."""


def application_name() -> str:
    """``tfsync@<host>:<pid>``: how our sessions show in ``pg_stat_activity``."""
    return f"tfsync@{socket.gethostname()}:{os.getpid()}"[:63]


def create_engine(url: URL, *, pooled: bool = False) -> AsyncEngine:
    """An async engine named after this process; it keeps no idle connections unless
    ``pooled`` (the tests' engine for a whole run)."""
    from sqlalchemy.ext.asyncio import create_async_engine  # loads the ORM: only when used
    from sqlalchemy.pool import NullPool

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
    engine = _engine(url, os.getpid())
    with translate_errors(url, connecting=True):
        conn = await engine.connect()
        if autocommit:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
    with translate_errors(url, connecting=False):
        try:
            yield conn
        finally:
            await conn.close()


@lru_cache(maxsize=ENGINES_KEPT)
def _engine(url: URL, pid: int) -> AsyncEngine:
    """The engine of ``url`` in process ``pid`` (a forked child makes its own, named after
    itself). A new engine's first connection runs the dialect's set-up queries (server
    version, settings): kept, an engine pays them once, not at every :func:`connect`
    (measured: 4.8 ms a connection instead of 7.5 ms, 1.7 ms of this process's CPU instead
    of 3.4 ms). With ``NullPool`` it holds no connection between uses, in any event loop."""
    return create_engine(url)


def quoted(name: str) -> str:
    """``name`` as a PostgreSQL identifier, quoted by SQLAlchemy's identifier preparer.

    Quotes only where needed, and doubles any quote inside: a database named ``a"b``
    becomes ``"a""b"``.
    """
    return _preparer().quote(name)


def qualified(name: str, schema: str | None = None) -> str:
    """``schema.name`` (or ``name`` alone), each part :func:`quoted`."""
    return f"{quoted(schema)}.{quoted(name)}" if schema else quoted(name)


@cache
def postgresql_dialect() -> Dialect:
    """SQLAlchemy's PostgreSQL dialect, to compile and quote SQL without a connection."""
    from sqlalchemy.dialects import postgresql  # imported when used: not on a no-op's path

    dialect: Dialect = postgresql.dialect()  # type: ignore[no-untyped-call]  # unannotated in SQLAlchemy
    return dialect


def _preparer() -> IdentifierPreparer:
    return postgresql_dialect().identifier_preparer


async def fetch_row(url: URL, sql: str) -> dict[str, Any] | None:
    """The first row (by column name, or None) of one read-only query, on a
    connection of its own; failures are one-line :class:`DatabaseError` as with
    :func:`connect`.

    Straight through asyncpg where the URL allows (no query keys but host, port, ssl):
    for the one query of a no-op upgrade, a process that has nothing to do then loads
    neither SQLAlchemy's async engine and the ORM it imports, nor the PostgreSQL dialect:
    a third of what that process costs. Other URLs take :func:`connect`.
    """
    if not set(url.query) <= DIRECT_QUERY_KEYS:
        async with connect(url) as conn:
            row = (await conn.exec_driver_sql(sql)).first()
            return None if row is None else dict(row._mapping)
    import asyncpg

    args: dict[str, Any] = url.translate_connect_args(username="user")
    args |= {key: value for key, value in url.query.items()}
    if "port" in args:
        args["port"] = int(args["port"])
    with translate_errors(url, connecting=True):
        conn = await asyncpg.connect(
            **args, server_settings={"application_name": application_name()}
        )
    with translate_errors(url, connecting=False):
        try:
            record = await conn.fetchrow(sql)
            return None if record is None else dict(record)
        finally:
            await conn.close()
