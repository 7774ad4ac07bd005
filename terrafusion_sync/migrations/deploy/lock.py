"""One runner at a time: a session-level advisory lock held for a whole upgrade or downgrade.

The lock lives on the migration connection itself, so it dies with that backend: a runner
killed with SIGKILL leaves no lock behind. ``client_connection_check_interval`` makes the
backend notice a vanished client even in the middle of a long statement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import Connection

# pg_advisory_lock(int4, int4): shows in pg_locks as classid=NAMESPACE, objid=KEY, objsubid=2
NAMESPACE = 0x7F51C  # "tfsync"
KEY = 1  # the migrations of this database (advisory locks are per database already)
CLIENT_CHECK_INTERVAL = "2s"


@dataclass(frozen=True)
class Holder:
    """The session holding the migration lock, as ``pg_stat_activity`` shows it."""

    pid: int
    application: str | None
    client: str | None
    since: datetime | None

    def describe(self) -> str:
        """``tfsync@host:123 (backend pid 456, from 10.0.0.5, since 14:02:11 UTC)``."""
        parts = [f"backend pid {self.pid}"]
        if self.client:
            parts.append(f"from {self.client}")
        if self.since:
            parts.append(f"since {self.since:%H:%M:%S %Z}".strip())
        who = self.application or "another session"
        return f"{who} ({', '.join(parts)})"


def holder(conn: Connection) -> Holder | None:
    """Who holds the migration lock of this database, if anyone."""
    row = conn.execute(
        text(
            "SELECT l.pid, a.application_name, host(a.client_addr), a.xact_start"
            " FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :ns"
            " AND l.objid = :key AND l.objsubid = 2"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ),
        {"ns": NAMESPACE, "key": KEY},
    ).first()
    if row is None:
        return None
    return Holder(row[0], row[1] or None, row[2], row[3] or None)


def acquire(conn: Connection, report: Callable[[str], None]) -> Holder | None:
    """Take the lock, waiting for the current holder (reported) if there is one.

    Leaves ``conn`` outside any transaction; returns whom we waited for, if anyone.
    """
    version = conn.dialect.server_version_info
    if version is not None and version >= (14,):
        conn.execute(text(f"SET client_connection_check_interval = '{CLIENT_CHECK_INTERVAL}'"))
    got = conn.execute(
        text("SELECT pg_try_advisory_lock(:ns, :key)"), {"ns": NAMESPACE, "key": KEY}
    ).scalar()
    waited = None
    if not got:
        waited = holder(conn)
        who = waited.describe() if waited else "another session (it just finished)"
        report(f"waiting for the migration lock: held by {who}")
        # wait as long as it takes: the holder is itself bounded by its timeouts
        conn.execute(text("SET LOCAL lock_timeout = 0"))
        conn.execute(text("SET LOCAL statement_timeout = 0"))
        conn.execute(text("SELECT pg_advisory_lock(:ns, :key)"), {"ns": NAMESPACE, "key": KEY})
        report("got the migration lock")
    conn.commit()  # Alembic must find the connection outside a transaction
    return waited


def release(conn: Connection) -> None:
    """Give the lock back; if the session is broken the lock already died with it."""
    if conn.invalidated:  # the session was lost: using conn again would open a new one
        return
    try:
        if conn.in_transaction():
            conn.rollback()
        conn.execute(text("SELECT pg_advisory_unlock(:ns, :key)"), {"ns": NAMESPACE, "key": KEY})
        conn.commit()
    except sa_exc.SQLAlchemyError:
        pass  # never hide the error that got us here; closing the connection frees the lock
