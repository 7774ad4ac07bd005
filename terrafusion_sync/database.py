"""Where the databases are and how to reach them: the one path every command takes.

Engines are async (asyncpg) with ``NullPool``: a migration run opens one connection and
closes it, and nothing lingers that could hold a lock. Driver and network errors are
translated here into one-line :class:`DatabaseError` messages with the password masked.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import asyncpg
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from terrafusion_sync.errors import DatabaseError, MissingDatabaseError, TfsyncError
from terrafusion_sync.settings import Settings, mask_text

MAINTENANCE_DATABASE = "postgres"
MAX_NAME_LENGTH = 63
"""PostgreSQL truncates longer identifiers, so derived names are kept within this."""


def database_url(settings: Settings, *, test: bool = False) -> URL:
    """The application (or test) database URL; the embedded cluster when none is set."""
    configured = settings.test_database_url if test else settings.database_url
    if configured is not None:
        return configured
    from terrafusion_sync import embedded  # only now: starting PostgreSQL needs pgserver

    name = embedded.TEST_DATABASE if test else embedded.APP_DATABASE
    return embedded.embedded_url(settings.state_dir, name)


def url_label(url: URL) -> str:
    """Where a URL points, for messages: ``host:port/db`` or ``socket-dir/db``, no secrets."""
    if url.host:
        return f"{url.host}:{url.port or 5432}/{url.database}"
    return f"{url.query.get('host', 'localhost')}/{url.database}"


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


@contextmanager
def translate_errors(url: URL, *, connecting: bool) -> Iterator[None]:
    """Turn driver and socket errors into one-line, password-free :class:`DatabaseError`."""
    try:
        yield
    except TfsyncError:  # already one line (a migration error may wrap a driver error)
        raise
    except Exception as exc:
        translated = describe_error(exc, url, connecting=connecting)
        if translated is None:
            raise
        raise translated from exc


def describe_error(exc: BaseException, url: URL, *, connecting: bool) -> DatabaseError | None:
    """A :class:`DatabaseError` for a known database failure, else ``None``.

    ``connecting``: while opening the connection, when any socket error or timeout means
    the server could not be reached; after, only a dropped connection is ours to explain.
    """
    cause = _root_cause(exc)
    where = url_label(url)
    if not connecting:
        dropped = isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated
        if dropped or isinstance(cause, ConnectionError | asyncpg.ConnectionDoesNotExistError):
            return DatabaseError(
                f"lost the connection to PostgreSQL at {where}: {_reason(cause)}",
                "the server restarted, ended the session or the network dropped; what was "
                "in progress was rolled back: run the command again",
            )
        if not isinstance(cause, asyncpg.PostgresError):
            return None
    if isinstance(cause, asyncpg.InvalidPasswordError):
        return DatabaseError(
            f"password authentication failed for user {url.username!r} at {where}",
            "check the user and password in the database URL",
        )
    if isinstance(cause, asyncpg.InvalidAuthorizationSpecificationError):
        return DatabaseError(
            f"PostgreSQL at {where} refused user {url.username!r}: {mask_text(str(cause))}",
            "check the user in the database URL",
        )
    if isinstance(cause, asyncpg.InvalidCatalogNameError):
        return MissingDatabaseError(
            f"database {url.database!r} does not exist at {where}",
            f"create it (createdb {url.database}) or fix the database URL",
        )
    if isinstance(cause, socket.gaierror):
        return DatabaseError(
            f"cannot resolve host {url.host!r} ({where})", "check the host name in the database URL"
        )
    if isinstance(cause, (OSError, TimeoutError, asyncpg.CannotConnectNowError)):
        return DatabaseError(
            f"cannot connect to PostgreSQL at {where}: {_reason(cause)}",
            "is the server running and reachable? check host and port in the database URL",
        )
    if isinstance(cause, asyncpg.PostgresError):
        return DatabaseError(
            f"PostgreSQL at {where}: {mask_text(str(cause).splitlines()[0])}",
            "see the message above; nothing was changed",
        )
    return None


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
            copy = f' TEMPLATE "{template}"' if template else ""
            await conn.execute(text(f'CREATE DATABASE "{url.database}"{copy}'))
        except sa_exc.DBAPIError as exc:
            if isinstance(_root_cause(exc), asyncpg.DuplicateDatabaseError):
                return False  # another process created it first
            raise
        return True


async def drop_database(url: URL) -> None:
    """Drop the database ``url`` names, if it exists (scratch databases only)."""
    async with connect(url.set(database=MAINTENANCE_DATABASE), autocommit=True) as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))


def _reason(cause: BaseException) -> str:
    return getattr(cause, "strerror", None) or str(cause) or type(cause).__name__


def _root_cause(exc: BaseException) -> BaseException:
    """Unwrap SQLAlchemy's DBAPI wrappers down to the asyncpg or OS exception."""
    seen = exc
    if isinstance(seen, sa_exc.DBAPIError) and seen.orig is not None:
        seen = seen.orig
    while seen.__cause__ is not None and not isinstance(seen, asyncpg.PostgresError | OSError):
        seen = seen.__cause__
    return seen


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
