"""Never stall the application: ``lock_timeout`` and ``statement_timeout`` before each revision.

A DDL statement waiting for its table lock queues every later reader and writer of that
table behind it. With ``lock_timeout`` it gives up instead; the runner retries a few times
with backoff (:mod:`.retry`: the queue drains in between), then names the busy table and
who holds it.
A revision overrides the settings with module-level ``lock_timeout = "30s"`` /
``statement_timeout = "0"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import Connection

from terrafusion_sync.errors import first_line
from terrafusion_sync.settings import (
    DEFAULT_BACKFILL_BATCH_TIME,
    DEFAULT_CONTRACT_QUIET,
    DEFAULT_LOCK_RETRIES,
    DEFAULT_LOCK_TIMEOUT,
    DEFAULT_STATEMENT_TIMEOUT,
    Settings,
    duration,
)

if TYPE_CHECKING:
    from alembic.script import Script


@dataclass(frozen=True)
class Timeouts:
    """What each revision runs under, and how often a lock timeout is retried."""

    lock: str = DEFAULT_LOCK_TIMEOUT
    statement: str = DEFAULT_STATEMENT_TIMEOUT
    retries: int = DEFAULT_LOCK_RETRIES
    backoff: float = 0.5
    """Seconds before the first retry; doubled (with jitter) for each next one (:mod:`.retry`)."""
    backfill_batch: str = DEFAULT_BACKFILL_BATCH_TIME
    """How long each batch of an ``op.backfill`` should take (``TFSYNC_BACKFILL_BATCH_TIME``)."""
    contract_quiet: str = DEFAULT_CONTRACT_QUIET
    """No old-path write for this long before a contract runs (``TFSYNC_CONTRACT_QUIET``)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Timeouts:
        """The configured values (``TFSYNC_LOCK_TIMEOUT``, ...)."""
        return cls(
            settings.lock_timeout,
            settings.statement_timeout,
            settings.lock_retries,
            backfill_batch=settings.backfill_batch_time,
            contract_quiet=settings.contract_quiet,
        )

    def for_revision(self, script: Script) -> tuple[str, str]:
        """``(lock_timeout, statement_timeout)`` for ``script``, its own values first."""
        # Alembic: only with a script
        from terrafusion_sync.migrations.plumbing.revisions import file_name

        module = script.module
        where = f"{script.revision} ({file_name(script)})"
        lock = getattr(module, "lock_timeout", None)
        statement = getattr(module, "statement_timeout", None)
        return (
            self.lock if lock is None else duration(str(lock), f"lock_timeout in {where}"),
            self.statement
            if statement is None
            else duration(str(statement), f"statement_timeout in {where}"),
        )


def apply(conn: Connection, lock: str, statement: str, *, durable: bool = True) -> None:
    """Set both timeouts for the session (they also hold inside an autocommit block).

    ``durable=False`` lets the step commit without waiting for its WAL flush; the runner
    asks for it on every step but the last, whose synchronous commit then flushes them all.
    """
    conn.execute(
        text(
            "SELECT set_config('lock_timeout', :lock, false), "
            "set_config('statement_timeout', :statement, false), "
            "set_config('synchronous_commit', :sync, false)"
        ),
        {"lock": lock, "statement": statement, "sync": "on" if durable else "off"},
    )


def is_lock_timeout(exc: BaseException) -> bool:
    """True for PostgreSQL's ``lock_not_available`` (55P03): the lock was not had in time."""
    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    cause = getattr(orig, "__cause__", None)
    return getattr(orig, "sqlstate", None) == "55P03" or isinstance(
        cause, asyncpg.LockNotAvailableError
    )


def is_statement_timeout(exc: BaseException) -> bool:
    """True for ``query_canceled`` (57014) caused by ``statement_timeout``."""
    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    return getattr(orig, "sqlstate", None) == "57014" and "statement timeout" in str(orig)


def busy_table(conn: Connection, statement: str | None) -> str:
    """Which table of ``statement`` another session holds a lock on, and who that is."""
    from terrafusion_sync.migrations.sql.statements import tables  # pglast: only when needed

    candidates = tables(statement or "")  # as PostgreSQL's parser reads it
    first = None
    for name in candidates:
        row = conn.execute(
            text(
                "SELECT c.oid::regclass::text, l.pid, a.application_name, a.state, l.mode"
                " FROM pg_class c"
                " LEFT JOIN pg_locks l ON l.relation = c.oid AND l.granted"
                "  AND l.pid <> pg_backend_pid()"
                " LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE c.oid = to_regclass(:name) ORDER BY l.pid IS NULL LIMIT 1"
            ),
            {"name": name},
        ).first()
        if row is None:
            continue
        table, pid, app, state, mode = row
        if pid is not None:
            who = f"{app!r}" if app else "a session"
            return f"table {table} (held in {mode} by {who}, backend pid {pid}, {state})"
        first = first or f"table {table}"
    return first or "a table of the statement"


def describe_error(exc: Any) -> str:
    """The first line of a database error, without SQLAlchemy's wrapping."""
    return first_line(exc)
