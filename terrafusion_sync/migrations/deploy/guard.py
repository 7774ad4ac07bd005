"""Neither a downgrade nor an upgrade loses data by surprise.

While a downgrade step runs (and an upgrade step that is not a contract revision, whose
dropping the old column is its purpose, proven safe by :mod:`.contract`), every statement
the connection sends is inspected just before it reaches the server (SQLAlchemy's
``before_cursor_execute``). A ``DROP TABLE`` or an ``ALTER TABLE ... DROP [COLUMN]`` (as
PostgreSQL's own parser reads it, :mod:`.statements`) is measured first: rows in the table,
or rows with a value in the column. If that is more than zero the statement is not sent,
the step's transaction rolls back, and the error says table, column and row count, unless
data loss was allowed (then the loss is noted in the history).

Why here and not elsewhere: an Alembic ``Operations`` hook sees only ``op.drop_*`` calls
and misses ``op.execute("DROP TABLE ...")`` and batch operations; rendering the step in
offline mode fails for steps that read the database and shows what would run, not what
the data is at that moment. Just before the cursor, every DROP is seen, in order, with the
database exactly as the step has left it so far, and nothing of it has run yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection

from terrafusion_sync.errors import MigrationError


class DataLossError(MigrationError):
    """A step would drop a table or column that holds rows."""


@dataclass(frozen=True)
class Loss:
    """What a statement would drop: a table (``column`` None) or a column, and its rows."""

    table: str
    column: str | None
    rows: int

    def describe(self) -> str:
        """``table report_jobs (3 rows)`` or ``column property_operational.email (12 rows)``."""
        what = f"column {self.table}.{self.column}" if self.column else f"table {self.table}"
        return f"{what} ({self.rows} row{'s' * (self.rows != 1)} with data)"


def measure(conn: Connection, table: str, column: str | None) -> Loss | None:
    """Rows that dropping ``table`` (or its ``column``) would lose; None if it does not exist."""
    found = conn.execute(
        text(
            "SELECT c.oid::regclass::text,"
            " (SELECT a.attname FROM pg_attribute a WHERE a.attrelid = c.oid"
            "  AND a.attname = :column AND NOT a.attisdropped)"
            " FROM pg_class c WHERE c.oid = to_regclass(:table) AND c.relkind IN ('r', 'p')"
        ),
        {"table": table, "column": column},
    ).first()
    if found is None or (column and found[1] is None):
        return None
    quote = conn.dialect.identifier_preparer.quote
    where = f" WHERE {quote(found[1])} IS NOT NULL" if column else ""
    rows = conn.execute(text(f"SELECT count(*) FROM {found[0]}{where}")).scalar() or 0
    return Loss(found[0], found[1], rows)


@dataclass
class Guard:
    """Watches one connection during downgrade steps; see the module docstring."""

    conn: Connection
    allow: bool = False
    revision: str = ""
    where: str = ""
    direction: str = "downgrade"
    active: bool = False
    allowed: list[Loss] = field(default_factory=list)
    _busy: bool = False
    _listening: bool = False

    def close(self) -> None:
        """Stop watching."""
        if self._listening:
            event.remove(self.conn, "before_cursor_execute", self._inspect)
            self._listening = False

    def watch(self, revision: str, where: str, direction: str = "downgrade") -> None:
        """Inspect the statements of the step of ``revision`` (file ``where``)."""
        if not self._listening:
            event.listen(self.conn, "before_cursor_execute", self._inspect)
            self._listening = True
        self.revision, self.where, self.active = revision, where, True
        self.direction = direction
        self.allowed = []

    def stop(self) -> None:
        """The step is over (or is an upgrade): inspect nothing."""
        self.active = False

    def _inspect(self, conn: Connection, cursor: Any, statement: str, *_: Any) -> None:
        if not self.active or self._busy:
            return
        if "drop" not in statement.lower():
            return  # no DROP to parse: most statements are let through without parsing
        from terrafusion_sync.migrations.sql.statements import drops  # pglast: only for a DROP

        targets = drops(statement)
        if not targets:
            return
        self._busy = True  # our own count queries pass through here too
        try:
            losses = [loss for t, c in targets if (loss := measure(conn, t, c)) and loss.rows]
        finally:
            self._busy = False
        if not losses:
            return
        if self.allow:
            self.allowed.extend(losses)
            return
        lost = ", ".join(loss.describe() for loss in losses)
        stays = "at this revision" if self.direction == "downgrade" else "before it"
        safe = (
            "back the data up or move it first"
            if self.direction == "downgrade"
            else "if it was renamed, write the change as expand + contract "
            "(tfsync revision --rename TABLE.OLD=NEW); if it is to go, back it up first"
        )
        raise DataLossError(
            f"{self.direction} of {self.revision} ({self.where}) would drop {lost}; "
            f"nothing was changed, the database stays {stays}",
            f"{safe}; to drop it anyway: {self.direction} --allow-data-loss",
        )
