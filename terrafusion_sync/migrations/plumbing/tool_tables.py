"""The tooling's own tables, next to ``alembic_version``, declared in one place.

- ``tfsync_migration_history``: one row for every step run or refused (:mod:`..deploy.history`);
- ``tfsync_migration_state``: one row, the files an upgrade last found the database at head
  of (:mod:`..deploy.uptodate`);
- ``tfsync_backfill``: the progress of every ``op.backfill`` (:mod:`..backfill.calls`);
- ``tfsync_contract_watch``: when a write last came through an old column that an expand
  revision keeps in step with its new one (:mod:`..authoring.expand_contract` writes the
  trigger that fills it, :mod:`..deploy.contract` reads it);
- ``tfsync_contract_statements``: snapshots of pg_stat_statements' calls of the statements
  that still name such an old column (:mod:`..deploy.statement_counts`).

Like ``alembic_version`` they belong to the tooling, not to the models: autogenerate and the
drift check leave them out (:func:`include_name`). One query creates whichever are missing
(:func:`ensure_table`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

HISTORY_TABLE_NAME = "tfsync_migration_history"
# Arrays are SQLAlchemy's generic ARRAY, which PostgreSQL's dialect takes as its own: the
# dialect is then not imported by a no-op upgrade, which reads these tables' names only.

metadata = sa.MetaData()
history_table = sa.Table(
    HISTORY_TABLE_NAME,
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
_ORDER = sa.Index(f"ix_{HISTORY_TABLE_NAME}_revision", history_table.c.revision, history_table.c.id)

STATE_TABLE_NAME = "tfsync_migration_state"
state_table = sa.Table(
    STATE_TABLE_NAME,
    metadata,
    sa.Column("id", sa.Boolean, primary_key=True),  # always true: one row
    sa.Column("fingerprint", sa.String(80), nullable=False),
    sa.Column("heads", sa.ARRAY(sa.Text), nullable=False),  # text[]: asyncpg knows it
    sa.Column("history_id", sa.BigInteger),
    sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("id", name=f"ck_{STATE_TABLE_NAME}_one_row"),
)

BACKFILL_TABLE_NAME = "tfsync_backfill"
backfill_table = sa.Table(  # one row per op.backfill of an applied revision (see backfill/calls.py)
    BACKFILL_TABLE_NAME,
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("revision", sa.String(64), nullable=False),
    sa.Column("table_name", sa.Text, nullable=False),
    sa.Column("set_sql", sa.Text, nullable=False),  # BACKFILL_DELETES: a batched delete
    sa.Column("where_sql", sa.Text, nullable=False),
    sa.Column("key_columns", sa.ARRAY(sa.Text), nullable=False),
    sa.Column("key_types", sa.ARRAY(sa.Text), nullable=False),
    sa.Column("batch_time_ms", sa.Integer),  # None: TFSYNC_BACKFILL_BATCH_TIME
    sa.Column("state", sa.String(16), nullable=False),  # see backfill/states.py
    sa.Column("last_key", sa.ARRAY(sa.Text)),  # the last key of the last committed batch
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

BACKFILL_DELETES = ""
"""``set_sql`` of a batched delete (``op.backfill(..., delete=True)``): a rewrite has a set."""

CONTRACT_WATCH_TABLE_NAME = "tfsync_contract_watch"
contract_watch_table = sa.Table(  # one row per old column an expand's trigger saw written
    CONTRACT_WATCH_TABLE_NAME,
    metadata,
    sa.Column("table_name", sa.Text, primary_key=True),
    sa.Column("old_column", sa.Text, primary_key=True),
    sa.Column("new_column", sa.Text, nullable=False),
    # the trigger updates it at most every few seconds: old writers never queue on this row
    sa.Column("last_old_write_at", sa.DateTime(timezone=True), nullable=False),
)

CONTRACT_STATEMENTS_TABLE_NAME = "tfsync_contract_statements"
contract_statements_table = sa.Table(  # the last two snapshots per old column, when they changed
    CONTRACT_STATEMENTS_TABLE_NAME,
    metadata,
    sa.Column("table_name", sa.Text, primary_key=True),
    sa.Column("old_column", sa.Text, primary_key=True),
    sa.Column("taken_at", sa.DateTime(timezone=True), primary_key=True),
    # {queryid: calls} of each pg_stat_statements entry naming the old column, not the new
    sa.Column("calls", sa.JSON, nullable=False),
)

TOOL_TABLES = frozenset(metadata.tables)
"""The tooling's own tables, besides ``alembic_version``."""


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
