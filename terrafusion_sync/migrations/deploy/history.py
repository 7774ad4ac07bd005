"""History: one row for every step run (or refused), next to ``alembic_version``.

A successful step's row is written inside the step's own transaction, so it exists exactly
when the revision is applied; a failed step's row is written after the rollback. Beside it,
``tfsync_migration_state`` keeps one row: the files an upgrade last found the database at
head of (see :mod:`.uptodate`), and ``tfsync_backfill`` the progress of every
``op.backfill`` (see :mod:`.backfill`). Like ``alembic_version`` these tables belong to the tooling,
not to the models: autogenerate and the drift check ignore them (:func:`include_name`).
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
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import URL, Connection, Dialect

from terrafusion_sync.aio import await_
from terrafusion_sync.database import application_name, connect

TABLE_NAME = "tfsync_migration_history"

metadata = sa.MetaData()
table = sa.Table(
    TABLE_NAME,
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("revision", sa.String(64), nullable=False),
    sa.Column("direction", sa.String(16), nullable=False),  # upgrade, downgrade, accept
    sa.Column("checksum", sa.String(80)),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("duration_s", sa.Float, nullable=False),
    sa.Column("success", sa.Boolean, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("note", sa.Text),
    sa.Column("db_user", sa.Text, nullable=False, server_default=sa.text("current_user")),
    sa.Column("host", sa.Text, nullable=False),
    sa.Column("application", sa.Text),
)
_ORDER = sa.Index(f"ix_{TABLE_NAME}_revision", table.c.revision, table.c.id)

STATE_TABLE_NAME = "tfsync_migration_state"
state_table = sa.Table(
    STATE_TABLE_NAME,
    metadata,
    sa.Column("id", sa.Boolean, primary_key=True),  # always true: one row
    sa.Column("fingerprint", sa.String(80), nullable=False),
    sa.Column("heads", ARRAY(sa.Text), nullable=False),  # text[]: asyncpg knows it (see uptodate)
    sa.Column("history_id", sa.BigInteger),
    sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("id", name=f"ck_{STATE_TABLE_NAME}_one_row"),
)

BACKFILL_TABLE_NAME = "tfsync_backfill"
backfill_table = sa.Table(  # one row per op.backfill of an applied revision (see backfill.py)
    BACKFILL_TABLE_NAME,
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("revision", sa.String(64), nullable=False),
    sa.Column("table_name", sa.Text, nullable=False),
    sa.Column("set_sql", sa.Text, nullable=False),
    sa.Column("where_sql", sa.Text, nullable=False),
    sa.Column("key_columns", ARRAY(sa.Text), nullable=False),
    sa.Column("key_types", ARRAY(sa.Text), nullable=False),
    sa.Column("batch_time_ms", sa.Integer),  # None: TFSYNC_BACKFILL_BATCH_TIME
    sa.Column("state", sa.String(16), nullable=False),  # pending, running, failed, done
    sa.Column("last_key", ARRAY(sa.Text)),  # the last key of the last committed batch
    sa.Column("rows_walked", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("rows_changed", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("rows_estimate", sa.BigInteger),
    sa.Column("batches", sa.Integer, nullable=False, server_default="0"),
    sa.Column("batch_size", sa.Integer),
    sa.Column("seconds", sa.Float, nullable=False, server_default="0"),
    sa.Column("error", sa.Text),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.UniqueConstraint(
        "revision", "table_name", "set_sql", "where_sql", name=f"uq_{BACKFILL_TABLE_NAME}_call"
    ),
)

TOOL_TABLES = frozenset(metadata.tables)
"""The tooling's own tables, besides ``alembic_version``."""


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


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """For Alembic's ``include_name``: leave the tooling's tables out of autogenerate."""
    return not (type_ == "table" and name in TOOL_TABLES)


_MISSING = sa.text("SELECT n FROM unnest(CAST(:names AS text[])) AS n WHERE to_regclass(n) IS NULL")


def ensure_table(conn: Connection) -> None:
    """Create the tooling's tables if missing (call it holding the migration lock).

    One query finds which are missing: ``create_all``'s own check reflects each table in
    turn, which costs more than creating them, on every run.
    """
    missing = conn.execute(_MISSING, {"names": list(metadata.tables)}).scalars().all()
    if missing:
        metadata.create_all(conn, [metadata.tables[name] for name in missing], checkfirst=False)


def exists(conn: Connection) -> bool:
    """True when the database has a history table."""
    return conn.execute(sa.text("SELECT to_regclass(:t) IS NOT NULL"), {"t": TABLE_NAME}).scalar()


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
