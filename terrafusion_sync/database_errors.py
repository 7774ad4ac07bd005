"""Driver and network errors as one-line, password-free messages.

Not reaching the server and losing it later are told apart; an error of the caller's own
(a file it cannot read, a timeout of its own) stays what it is.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL

from terrafusion_sync.errors import DatabaseError, MissingDatabaseError, TfsyncError, first_line
from terrafusion_sync.settings import mask_text, url_label


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
    cause = root_cause(exc)
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
            f"PostgreSQL at {where}: {mask_text(first_line(cause))}",
            "see the message above; nothing was changed",
        )
    return None


def _reason(cause: BaseException) -> str:
    return getattr(cause, "strerror", None) or str(cause) or type(cause).__name__


def root_cause(exc: BaseException) -> BaseException:
    """Unwrap SQLAlchemy's DBAPI wrappers down to the asyncpg or OS exception."""
    seen = exc
    if isinstance(seen, sa_exc.DBAPIError) and seen.orig is not None:
        seen = seen.orig
    while seen.__cause__ is not None and not isinstance(seen, asyncpg.PostgresError | OSError):
        seen = seen.__cause__
    return seen
