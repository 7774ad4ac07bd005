"""The statements of both halves of a column type change, as lines of a revision's body.

:mod:`.retypes` decides what goes where; this module says it in SQL so that the written
revisions are files a DBA can read (the trigger function in full at the top, one
``op.execute`` per statement). The column keeps its name throughout: both versions of the
application write it, and the trigger keeps the temporary column of the new type in step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate.api import AutogenContext

from terrafusion_sync.database import qualified, quoted
from terrafusion_sync.migrations.authoring.constraint_pairs import AUTOCOMMIT
from terrafusion_sync.migrations.authoring.rename_sql import (
    column_code,
    execute,
    short_name,
    unless_there,
)
from terrafusion_sync.migrations.authoring.retype_catalog import ColumnIndex
from terrafusion_sync.migrations.authoring.type_changes import sql_type
from terrafusion_sync.migrations.plumbing.retiring import KEEP_IN_STEP

TEMPORARY = "tfsync_new"
"""The suffix of the temporary column (and its indexes) of the new type."""

_BOUNDED_STRING = re.compile(r"(?:VARCHAR|CHARACTER VARYING|CHAR|CHARACTER)\((\d+)\)")
"""A string type with a length: its length is group 1."""


@dataclass(frozen=True)
class Retype:
    """One column whose type changes, as the database has it and the models want it."""

    table: str
    schema: str | None
    column: str
    old_type: Any
    new_type: Any
    was_not_null: bool
    not_null: bool
    old_default: str | None
    new_default: str | None
    using: str | None
    """``postgresql_using`` given with the change (an expression of the column), if any."""
    indexes: tuple[ColumnIndex, ...]

    @property
    def temporary(self) -> str:
        return short_name(self.column, TEMPORARY)


def cast(value: str, type_: Any) -> str:
    """``value`` as ``type_``. To a bounded string type it goes as ``text`` and the
    assignment checks the length: an explicit cast would cut a value short, silently."""
    target = sql_type(type_)
    return f"CAST({value} AS {'text' if _BOUNDED_STRING.fullmatch(target) else target})"


@dataclass(frozen=True)
class RetypeSql:  # long: both halves' SQL, read top to bottom as the written files show it
    """The statements of both halves of one type change."""

    change: Retype

    @property
    def names(self) -> tuple[str, str, str]:
        """Quoted table, column, temporary column."""
        c = self.change
        return qualified(c.table, c.schema), quoted(c.column), quoted(c.temporary)

    @property
    def function(self) -> str:
        """Name of the trigger and of its function."""
        return short_name(KEEP_IN_STEP, self.change.table, self.change.column, "retype")

    @property
    def check(self) -> str:
        return short_name("ck", self.change.table, self.change.temporary, "not_null")

    @property
    def constant(self) -> str:
        """The module-level name holding the trigger function's SQL."""
        return f"keep_{self.change.column}_retyped_in_step".lower()

    def forward(self, row: str) -> str:
        """The new value from the old column of ``row`` (``NEW``, or none: the table)."""
        c = self.change
        if c.using is None:
            return cast(f"{row}.{self.names[1]}" if row else self.names[1], c.new_type)
        return f"(SELECT {c.using} FROM (SELECT {row}.*) AS s)" if row else c.using

    def back(self) -> str:
        return cast(f"NEW.{self.names[2]}", self.change.old_type)

    def keep_in_step(self) -> str:
        """CREATE FUNCTION: the trigger function keeping both columns in step."""
        _, col, new = self.names
        return f"""
CREATE OR REPLACE FUNCTION {self.function}() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.{col} IS NULL AND NEW.{new} IS NOT NULL THEN
            NEW.{col} := {self.back()};  -- only the new column was given
            RETURN NEW;
        END IF;
    ELSIF NEW.{col} IS NOT DISTINCT FROM OLD.{col} AND NEW.{new} IS DISTINCT FROM OLD.{new} THEN
        -- only the new column was written (the backfill writes what the trigger would)
        IF NEW.{new} IS DISTINCT FROM {self.forward("NEW")} THEN
            NEW.{col} := {self.back()};
        END IF;
        RETURN NEW;
    END IF;
    -- the column written, or a row the backfill has not reached yet: fill the new one
    NEW.{new} := {self.forward("NEW")};
    RETURN NEW;
END
$fn$
"""

    def _trigger(self) -> str:
        return (
            f"CREATE OR REPLACE TRIGGER {self.function} BEFORE INSERT OR UPDATE ON {self.names[0]} "
            f"FOR EACH ROW EXECUTE FUNCTION {self.function}()"
        )

    def _drop_trigger(self) -> list[str]:
        return [
            execute(f"DROP TRIGGER {self.function} ON {self.names[0]}"),
            execute(f"DROP FUNCTION {self.function}()"),
        ]

    @staticmethod
    def _temporary_index(index: ColumnIndex) -> str:
        """The name (unquoted) of ``index``'s copy on the temporary column."""
        return short_name(index.name, TEMPORARY)

    def _build(self, index: ColumnIndex) -> str:
        """``CREATE INDEX CONCURRENTLY`` of ``index``'s copy on the temporary column, from
        the index PostgreSQL prints for the column."""
        name = quoted(self._temporary_index(index))
        head, _, body = index.definition.partition(" ON ")
        body = re.sub(
            rf"(?<=[(\s]){re.escape(self.names[1])}(?=[\s,)])", self.names[2], body, count=1
        )
        unique = "UNIQUE " if head.startswith("CREATE UNIQUE") else ""
        return f"CREATE {unique}INDEX CONCURRENTLY {name} ON {body}"

    def every_value_casts(self, ctx: AutogenContext) -> list[str]:
        """A read of every value through the cast, before the expand changes anything: a
        value the new type cannot hold stops it there, named by PostgreSQL, instead of
        failing the backfill later while the trigger, already in place, refuses every
        write to that row. In a transaction of its own, it takes no lock a writer waits on."""
        table, col, _ = self.names
        c = self.change
        longest = _BOUNDED_STRING.fullmatch(sql_type(c.new_type)) if c.using is None else None
        if longest is None:
            check = f"SELECT count({self.forward('')}) FROM {table} WHERE {col} IS NOT NULL"
        else:  # an explicit cast to a shorter string cuts it: count the values too long
            limit, shown = longest.group(1), f"{c.table}.{c.column}".replace("'", "''")
            check = (
                f"DO $do$BEGIN IF EXISTS (SELECT FROM {table} WHERE char_length({col}) > "
                f"{limit}) THEN RAISE EXCEPTION 'values of {shown} are longer than {limit} "
                "characters: shorten them, then run the upgrade again'; END IF; END$do$"
            )
        return [AUTOCOMMIT, f"    {execute(check)}", ""]

    def expand_up(self, ctx: AutogenContext) -> list[str]:
        """Add the column of the new type, keep it in step, build its indexes, backfill
        (:meth:`every_value_casts` comes first in the file, before any change).

        Each index build commits what came before it, so a build that fails (a lock timeout
        the runner retries, a statement timeout) leaves the column and the trigger in place:
        what comes before the builds may run again over what an earlier attempt left, and
        the NOT VALID check comes after them, in the revision's last transaction."""
        table, col, new = self.names
        c = self.change
        column = sa.Column(c.temporary, c.new_type)
        schema = f", schema={c.schema!r}" if c.schema else ""
        added = column_code(column, ctx, nullable=True)
        lines = [
            f"op.add_column({c.table!r}, {added}{schema}, if_not_exists=True)",
            f"op.execute({self.constant})",
            execute(self._trigger()),
        ]
        for index in c.indexes:  # a build that failed leaves an invalid index: drop it first
            leftover = qualified(self._temporary_index(index), c.schema)
            drop = f"DROP INDEX CONCURRENTLY IF EXISTS {leftover}"
            build = self._build(index)
            lines += [AUTOCOMMIT, f"    {execute(drop)}", f"    {execute(build)}", ""]
        if c.not_null:
            check = f"CHECK ({new} IS NOT NULL) NOT VALID"
            lines.append(execute(unless_there(table, self.check, check)))
        fill, unfilled = f"{new} = {self.forward('')}", f"{new} IS NULL AND {col} IS NOT NULL"
        lines.append(f"op.backfill({c.table!r}, set={fill!r}, where={unfilled!r}{schema})")
        return lines

    def expand_down(self, ctx: AutogenContext) -> list[str]:
        """Remove what expand added (its indexes go with the temporary column)."""
        c = self.change
        schema = f", schema={c.schema!r}" if c.schema else ""
        lines = self._drop_trigger()
        if c.not_null:
            lines.append(execute(f"ALTER TABLE {self.names[0]} DROP CONSTRAINT {self.check}"))
        lines.append(f"op.drop_column({c.table!r}, {c.temporary!r}{schema})")
        return lines

    def prove(self, ctx: AutogenContext) -> list[str]:
        """Every row copied, in a transaction of its own before the swap: VALIDATE the NOT
        NULL check, or a scan for a row not yet filled; neither blocks a writer."""
        table, col, new = self.names
        c = self.change
        if c.not_null:
            proof = f"ALTER TABLE {table} VALIDATE CONSTRAINT {self.check}"
        else:
            proof = (
                f"DO $do$BEGIN IF EXISTS (SELECT FROM {table} WHERE {new} IS NULL AND {col} "
                f"IS NOT NULL) THEN RAISE EXCEPTION 'rows of {c.table}.{c.column} not yet "
                f"copied to {c.temporary}: run make upgrade to finish the backfill'; "
                "END IF; END$do$"
            )
        return [AUTOCOMMIT, f"    {execute(proof)}", ""]

    def contract_up(self, ctx: AutogenContext) -> list[str]:
        """In the contract's one short transaction: the new column takes the old one's place."""
        table, col, new = self.names
        c = self.change
        schema = f", schema={c.schema!r}" if c.schema else ""
        lines = [
            *self._drop_trigger(),
            f"op.drop_column({c.table!r}, {c.column!r}{schema})",
            execute(f"ALTER TABLE {table} RENAME COLUMN {new} TO {col}"),
        ]
        if c.not_null:
            lines += [
                execute(f"ALTER TABLE {table} ALTER COLUMN {col} SET NOT NULL"),
                execute(f"ALTER TABLE {table} DROP CONSTRAINT {self.check}"),
            ]
        for index in c.indexes:
            temporary = quoted(self._temporary_index(index))
            lines.append(execute(f"ALTER INDEX {temporary} RENAME TO {quoted(index.name)}"))
        if c.new_default is not None:
            default = f"ALTER TABLE {table} ALTER COLUMN {col} SET DEFAULT {c.new_default}"
            lines.append(execute(default))
        return lines

    def contract_down(self, ctx: AutogenContext) -> list[str]:
        """The old type back from the new (correctness over speed), in step again."""
        table, col, new = self.names
        c = self.change
        lines = [
            execute(
                f"ALTER INDEX {quoted(index.name)} RENAME TO {quoted(self._temporary_index(index))}"
            )
            for index in c.indexes
        ]
        lines.append(execute(f"ALTER TABLE {table} RENAME COLUMN {col} TO {new}"))
        if c.new_default is not None:
            lines.append(execute(f"ALTER TABLE {table} ALTER COLUMN {new} DROP DEFAULT"))
        if c.not_null:
            lines += [
                execute(
                    f"ALTER TABLE {table} ADD CONSTRAINT {self.check} "
                    f"CHECK ({new} IS NOT NULL) NOT VALID"
                ),
                execute(f"ALTER TABLE {table} ALTER COLUMN {new} DROP NOT NULL"),
            ]
        schema = f", schema={c.schema!r}" if c.schema else ""
        column = sa.Column(c.column, c.old_type)
        lines += [
            f"op.add_column({c.table!r}, {column_code(column, ctx, nullable=True)}{schema})",
            execute(f"UPDATE {table} SET {col} = {cast(new, c.old_type)}"),
        ]
        if c.was_not_null:
            lines.append(execute(f"ALTER TABLE {table} ALTER COLUMN {col} SET NOT NULL"))
        if c.old_default is not None:
            default = f"ALTER TABLE {table} ALTER COLUMN {col} SET DEFAULT {c.old_default}"
            lines.append(execute(default))
        lines += [execute(index.definition) for index in c.indexes]
        return [*lines, f"op.execute({self.constant})", execute(self._trigger())]
