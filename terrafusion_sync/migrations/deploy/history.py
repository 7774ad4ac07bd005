"""History: one row for every step run (or refused), next to ``alembic_version``.

A successful step's row is written inside the step's own transaction, so it exists exactly
when the revision is applied; a failed step's row is written after the rollback. The table
is declared with the tooling's others in :mod:`..plumbing.tool_tables`.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Dialect

from terrafusion_sync.aio import await_
from terrafusion_sync.database import application_name, connect
from terrafusion_sync.migrations.plumbing import tool_tables

TABLE_NAME = tool_tables.HISTORY_TABLE_NAME
table = tool_tables.history_table


@dataclass(frozen=True)
class Entry:
    """One history row."""

    id: int
    revision: str
    direction: str
    checksum: str | None
    started_at: datetime
    finished_at: datetime
    duration_s: float
    success: bool
    error: str | None
    note: str | None
    db_user: str
    host: str
    application: str | None

    def describe(self, squashed_into: str | None = None) -> str:
        """One line of ``make history``: when, what, how long, who, checksum, result; and
        the baseline that replaced the file it ran, if ``tfsync squash`` replaced it."""
        result = "ok" if self.success else f"FAILED: {self.error}"
        if self.note:
            result += f" ({self.note})"
        if squashed_into:
            result += f" (file squashed into baseline {squashed_into})"
        return (
            f"{self.started_at:%Y-%m-%d %H:%M:%S} UTC  {self.direction:<9} {self.revision}  "
            f"{self.duration_s:7.2f} s  {self.db_user}@{self.host}  "
            f"{(self.checksum or '')[:19]}  {result}"
        )


def exists(conn: Connection) -> bool:
    """True when the database has a history table."""
    return bool(
        conn.execute(sa.text("SELECT to_regclass(:t) IS NOT NULL"), {"t": TABLE_NAME}).scalar()
    )


def record(
    conn: Connection,
    *,
    revision: str,
    direction: str,
    checksum: str | None,
    started_at: datetime,
    finished_at: datetime,
    duration_s: float,
    error: str | None = None,
    note: str | None = None,
) -> None:
    """Insert one row on ``conn``, in the transaction it is in (or one it begins).

    In a migration step the row follows the step's DDL, after which the driver prepares
    every statement again (asyncpg's prepared statements may be stale after DDL): two round
    trips and a re-preparation for each revision. So inside a transaction the row goes as
    one simple-protocol statement, its values rendered as SQL literals by SQLAlchemy (as
    Alembic renders ``--sql``): one round trip. It was a third of the cost of the safety.
    """
    sql = _insert_sql(
        conn.dialect,
        revision=revision,
        direction=direction,
        checksum=checksum,
        started_at=started_at,
        finished_at=finished_at,
        duration_s=duration_s,
        success=error is None,
        error=error,
        note=note,
        host=socket.gethostname(),
        application=application_name(),
    )
    driver = conn.connection.driver_connection
    if isinstance(driver, asyncpg.Connection) and driver.is_in_transaction():
        await_(driver.execute(sql))
    else:
        conn.exec_driver_sql(sql)  # begins the transaction the caller commits


def _insert_sql(dialect: Dialect, **values: Any) -> str:
    """``INSERT INTO ... VALUES (...)`` with each value rendered by its column type."""
    literals = [
        "NULL" if value is None else _literal(dialect, table.c[name].type)(value)
        for name, value in values.items()
    ]
    return f"INSERT INTO {TABLE_NAME} ({', '.join(values)}) VALUES ({', '.join(literals)})"


@functools.lru_cache(maxsize=64)  # per dialect: it knows how the server escapes
def _literal(dialect: Dialect, type_: sa.types.TypeEngine[Any]) -> Callable[[Any], str]:
    """SQLAlchemy's literal renderer (quoting, escaping) for ``type_``, looked up once."""
    render = type_.literal_processor(dialect)
    if render is None:  # pragma: no cover - every column type of the table has one
        raise TypeError(f"no SQL literal for {type_!r}")
    return render


def entries(conn: Connection, limit: int | None = None) -> list[Entry]:
    """The newest ``limit`` rows (all by default), oldest first."""
    if not exists(conn):
        return []
    query = sa.select(table).order_by(table.c.id.desc())
    if limit:
        query = query.limit(limit)
    return [Entry(**row._mapping) for row in reversed(conn.execute(query).all())]


def recorded_checksums(conn: Connection) -> dict[str, Entry]:
    """Per revision, the newest successful upgrade or accepted checksum."""
    if not exists(conn):
        return {}
    query = (
        sa.select(table)
        .where(table.c.success, table.c.direction.in_(("upgrade", "accept")))
        .order_by(table.c.id)
    )
    return {row.revision: Entry(**row._mapping) for row in conn.execute(query)}  # newest wins


async def read(url: URL, limit: int | None = None) -> list[Entry]:
    """The history of the database at ``url``, oldest first."""
    async with connect(url) as conn:
        return await conn.run_sync(lambda c: entries(c, limit))
