"""The statements of both halves of a rename, as lines of a revision's body.

:mod:`.expand_contract` decides what goes where; this module says it in SQL (and the
little Python around it) so that the written revision is a file a DBA can read: the
trigger function in full at the top, one ``op.execute`` per statement.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import renderers
from alembic.autogenerate.api import AutogenContext
from alembic.operations import MigrateOperation, ops

from terrafusion_sync import compat
from terrafusion_sync.database import postgresql_dialect, qualified, quoted
from terrafusion_sync.migrations.authoring.renames import Rename
from terrafusion_sync.migrations.plumbing.retiring import KEEP_IN_STEP
from terrafusion_sync.migrations.plumbing.tool_tables import CONTRACT_WATCH_TABLE_NAME

WATCH = CONTRACT_WATCH_TABLE_NAME
WATCH_EVERY = "5 seconds"
"""The trigger notes an old-path write at most this often: old writers never queue on it."""


@dataclass(frozen=True)
class Halves:
    """Where the operations of a pair go: expand's upgrade, contract's upgrade and downgrade
    (the expand's downgrade is its upgrade reversed)."""

    expand: ops.UpgradeOps
    contract: ops.UpgradeOps
    contract_down: ops.DowngradeOps


Lines = Callable[[AutogenContext], list[str]]


class Ops(MigrateOperation):
    """A group of lines that reverses into another group (expand's own downgrade)."""

    def __init__(self, lines: Lines, reversed_lines: Lines) -> None:
        self.lines, self.reversed_lines = lines, reversed_lines

    def reverse(self) -> Ops:
        return Ops(self.reversed_lines, self.lines)


@renderers.dispatch_for(Ops)
def _render_ops(ctx: AutogenContext, op: Ops) -> list[str]:
    return op.lines(ctx)


def short_name(*parts: str) -> str:
    """A PostgreSQL name from ``parts``, shortened with a hash past 63 bytes."""
    name = "_".join(parts)
    if len(name.encode()) <= 63:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name.encode()[:54].decode(errors='ignore')}_{digest}"


@dataclass(frozen=True)
class RenameSql:  # long: both halves' SQL, read top to bottom as the written files show it
    """The statements of both halves of one rename, as lines of a revision's body."""

    rename: Rename

    @property
    def names(self) -> tuple[str, str, str]:
        """Quoted table, old column, new column."""
        r = self.rename
        return qualified(r.table, r.schema), quoted(r.old.name), quoted(r.new.name)

    @property
    def function(self) -> str:
        """Name of the trigger and of its function."""
        return short_name(KEEP_IN_STEP, self.rename.table, self.rename.new.name)

    @property
    def check(self) -> str:
        return short_name("ck", self.rename.table, self.rename.new.name, "not_null")

    @property
    def constant(self) -> str:
        """The module-level name holding the trigger function's SQL."""
        return f"keep_{self.rename.new.name}_in_step".lower()

    @property
    def not_null(self) -> bool:
        return not self.rename.new.nullable

    @property
    def nulls_to_fill(self) -> bool:
        """The new column is NOT NULL while the old one may hold NULL."""
        return self.not_null and bool(self.rename.old.nullable)

    @property
    def note(self) -> str | None:
        """What ``tfsync revision`` says when NULLs must be filled by hand."""
        r = self.rename
        if self.nulls_to_fill and default_sql(r.new.server_default) is None:
            return null_note(r.table, r.new.name)
        return None

    def keep_in_step(self) -> str:
        """CREATE FUNCTION: the trigger function copying old to new and back."""
        _, old, new = self.names
        r = self.rename
        literal = {
            k: v.replace("'", "''")
            for k, v in {"t": r.table, "o": r.old.name, "n": r.new.name}.items()
        }
        return f"""
CREATE OR REPLACE FUNCTION {self.function}() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.{old} IS NULL THEN
            NEW.{old} := NEW.{new};
            RETURN NEW;
        END IF;
        NEW.{new} := NEW.{old};
    ELSIF NEW.{new} IS DISTINCT FROM OLD.{new} THEN
        NEW.{old} := NEW.{new};
        RETURN NEW;
    ELSIF NEW.{old} IS DISTINCT FROM OLD.{old} THEN
        NEW.{new} := NEW.{old};
    ELSE
        -- neither changed: a row the backfill has not reached yet is filled now
        NEW.{new} := NEW.{old};
        RETURN NEW;
    END IF;
    -- written through {old} alone: only the old application does that
    IF to_regclass('{WATCH}') IS NOT NULL THEN
        UPDATE {WATCH} SET last_old_write_at = now()
         WHERE table_name = '{literal["t"]}' AND old_column = '{literal["o"]}'
           AND last_old_write_at < now() - interval '{WATCH_EVERY}';
        IF NOT FOUND THEN
            INSERT INTO {WATCH} VALUES ('{literal["t"]}', '{literal["o"]}', '{literal["n"]}', now())
            ON CONFLICT DO NOTHING;
        END IF;
    END IF;
    RETURN NEW;
END
$fn$
"""

    def _watch_from_now(self) -> str:
        r = self.rename
        values = ", ".join(
            "'" + v.replace("'", "''") + "'" for v in (r.table, r.old.name, r.new.name)
        )
        return (
            f"DO $do$ BEGIN IF to_regclass('{WATCH}') IS NOT NULL THEN "
            f"INSERT INTO {WATCH} VALUES ({values}, now()) ON CONFLICT (table_name, old_column) "
            "DO UPDATE SET new_column = EXCLUDED.new_column, "
            "last_old_write_at = EXCLUDED.last_old_write_at; END IF; END $do$"
        )

    def _check_unless_there(self) -> str:
        """The NOT NULL check ``NOT VALID``, unless an earlier attempt of the expand added it."""
        table, _, new = self.names
        return unless_there(table, self.check, f"CHECK ({new} IS NOT NULL) NOT VALID")

    def _trigger(self) -> str:
        table = self.names[0]
        return (
            f"CREATE OR REPLACE TRIGGER {self.function} BEFORE INSERT OR UPDATE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {self.function}()"
        )

    def _drop_trigger(self) -> list[str]:
        table = self.names[0]
        return [
            f"op.execute({f'DROP TRIGGER {self.function} ON {table}'!r})",
            f"op.execute({f'DROP FUNCTION {self.function}()'!r})",
        ]

    def expand_up(self, ctx: AutogenContext) -> list[str]:
        """Add the new column, keep it in step, note old-path writes, backfill.

        The index builds that follow (:mod:`.rename_indexes`) commit what came before them,
        so a build that fails (a lock timeout the runner retries) leaves the column and the
        trigger in place: each statement here may run again over what an attempt left."""
        table, old, new = self.names
        r = self.rename
        column = column_code(r.new, ctx, nullable=True)
        lines = [f"op.add_column({r.table!r}, {column}{_schema(r)}, if_not_exists=True)"]
        if r.new.server_default is not None:
            lines.append(
                execute(f"ALTER TABLE {table} ALTER COLUMN {new} SET DEFAULT {_default(r.new)}")
            )
        if r.old.server_default is not None:  # new code never sets it: the trigger would see
            lines.append(execute(f"ALTER TABLE {table} ALTER COLUMN {old} DROP DEFAULT"))
        if self.not_null:
            lines.append(execute(self._check_unless_there()))
        lines += [
            f"op.execute({self.constant})",
            execute(self._trigger()),
            execute(self._watch_from_now()),
            f"op.backfill({r.table!r}, set={f'{new} = {old}'!r}, "
            f"where={f'{new} IS NULL AND {old} IS NOT NULL'!r}{_schema(r)})",
        ]
        if self.nulls_to_fill:  # old rows with no value: VALIDATE would find them NULL
            lines += fill_nulls(r.table, r.new.name, r.new.server_default, r.schema)
        return lines

    def expand_down(self, ctx: AutogenContext) -> list[str]:
        """Remove what expand added (the data-loss guard watches the new column)."""
        table, old, _ = self.names
        r = self.rename
        lines = self._drop_trigger()
        if r.old.server_default is not None:
            lines.append(
                execute(f"ALTER TABLE {table} ALTER COLUMN {old} SET DEFAULT {_default(r.old)}")
            )
        if self.not_null:
            lines.append(execute(f"ALTER TABLE {table} DROP CONSTRAINT {self.check}"))
        lines.append(f"op.drop_column({r.table!r}, {r.new.name!r}{_schema(r)})")
        return lines

    def contract_up(self, ctx: AutogenContext) -> list[str]:
        """Validate, SET NOT NULL through the valid check, drop the trigger and old column."""
        table, _, new = self.names
        r = self.rename
        lines = []
        if self.not_null:  # the scan commits alone: it blocks no writer
            lines += [
                "with op.get_context().autocommit_block():",
                f"    {execute(f'ALTER TABLE {table} VALIDATE CONSTRAINT {self.check}')}",
                "",
                execute(f"ALTER TABLE {table} ALTER COLUMN {new} SET NOT NULL"),
                execute(f"ALTER TABLE {table} DROP CONSTRAINT {self.check}"),
            ]
        lines += self._drop_trigger()
        lines.append(f"op.drop_column({r.table!r}, {r.old.name!r}{_schema(r)})")
        return lines

    def contract_down(self, ctx: AutogenContext) -> list[str]:
        """Bring the old column back from the new one, then keep them in step again."""
        table, old, new = self.names
        r = self.rename
        lines = [
            f"op.add_column({r.table!r}, {column_code(r.old, ctx, nullable=True)}{_schema(r)})",
            execute(f"UPDATE {table} SET {old} = {new}"),
        ]
        if not r.old.nullable:
            lines.append(execute(f"ALTER TABLE {table} ALTER COLUMN {old} SET NOT NULL"))
        if self.not_null:
            lines += [
                execute(
                    f"ALTER TABLE {table} ADD CONSTRAINT {self.check} "
                    f"CHECK ({new} IS NOT NULL) NOT VALID"
                ),
                execute(f"ALTER TABLE {table} ALTER COLUMN {new} DROP NOT NULL"),
            ]
        # the quiet period starts again, as the expand's own row started it
        lines += [f"op.execute({self.constant})", execute(self._trigger())]
        lines.append(execute(self._watch_from_now()))
        return lines


def unless_there(table: str, name: str, definition: str) -> str:
    """``ALTER TABLE table ADD CONSTRAINT name definition`` unless the table has it: see
    :func:`if_absent`."""
    return if_absent(table, name, f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")


def if_absent(table: str, name: str, statement: str) -> str:
    """``statement`` (adding the constraint ``name``) unless ``table`` has that constraint:
    an expand's index build commits what came before it, so a build that failed (a lock
    timeout the runner retries) may have left the constraint in place."""
    literal = name.strip('"').replace("'", "''")
    regclass = table.replace("'", "''")
    return (
        "DO $do$BEGIN IF NOT EXISTS (SELECT FROM pg_constraint WHERE conrelid = "
        f"'{regclass}'::regclass AND conname = '{literal}') THEN {statement}; END IF; END$do$"
    )


def execute(sql: str) -> str:
    """``op.execute('...')``."""
    return f"op.execute({sql!r})"


def _schema(rename: Rename) -> str:
    return f", schema={rename.schema!r}" if rename.schema else ""


def column_code(column: sa.Column[Any], ctx: AutogenContext, *, nullable: bool) -> str:
    """``sa.Column("name", <type>, nullable=...)``, the type as autogenerate renders it."""
    rendered = compat.render_type(column.type, ctx)
    return f"sa.Column({column.name!r}, {rendered}, nullable={nullable})"


def _default(column: sa.Column[Any]) -> str:
    return default_sql(column.server_default) or "NULL"


def default_sql(default: Any) -> str | None:
    """A server default as SQL (a model's ``server_default`` or a reflected one); None for
    none. A plain string is a literal, as SQLAlchemy writes it in ``DEFAULT``."""
    if default is None or default is False:
        return None
    arg = getattr(default, "arg", default)
    if isinstance(arg, str):
        return "'" + arg.replace("'", "''") + "'"
    if isinstance(arg, sa.TextClause):
        return arg.text
    if isinstance(arg, sa.ClauseElement):
        return str(arg.compile(dialect=postgresql_dialect()))
    return None


def fill_nulls(table: str, column: str, default: Any, schema: str | None = None) -> list[str]:
    """``op.backfill`` giving the rows where ``column`` is NULL its server ``default``, so a
    contract's VALIDATE of NOT NULL finds none; nothing without a default."""
    value = default_sql(default)
    if value is None:
        return []
    name = quoted(column)
    where = f", schema={schema!r}" if schema else ""
    return [
        f"op.backfill({table!r}, set={f'{name} = {value}'!r}, where={f'{name} IS NULL'!r}{where})"
    ]


def null_note(table: str, column: str) -> str:
    """What ``tfsync revision`` says of a NOT NULL column with no server default."""
    return (
        f"note: {table}.{column} becomes NOT NULL and has no server default: rows where it is "
        "NULL must be filled before `make contract`, with an op.backfill in the expand "
        f'(op.backfill({table!r}, set="{column} = ...", where="{column} IS NULL"))'
    )
