"""Write a rename as two revisions, expand and contract, that old and new code both live with.

During a deploy the old and the new application write the same table for minutes or
hours. pgroll's answer, written here as two ordinary Alembic files a DBA can read:

- **expand** (``make upgrade``): the new column, added without a rewrite; a PL/pgSQL
  trigger keeping old and new in step both ways (on INSERT whichever was given, on UPDATE
  whichever changed; the new one when both did); ``op.backfill`` for the rows already
  there; NOT NULL as a ``CHECK ... NOT VALID``. The trigger also notes, in
  ``tfsync_contract_watch``, when a write came through the old column alone, which only
  old code does: that is what ``make contract`` waits on (:mod:`..deploy.contract`).
- **contract** (``make contract``): validate the check, SET NOT NULL through it (no scan),
  drop the trigger, its function and the old column. Its downgrade brings the old column
  back from the new one.

It hooks into autogenerate through ``process_revision_directives``: the one
``MigrationScript`` autogenerate made becomes the expand, and a second one, the
contract, is added after it (:func:`write_pairs`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import renderers
from alembic.autogenerate.api import AutogenContext
from alembic.operations import MigrateOperation, ops
from alembic.util import rev_id

from terrafusion_sync.database import quoted
from terrafusion_sync.migrations.authoring.renames import Ask, Rename, RenameSpec, decide
from terrafusion_sync.migrations.plumbing.tool_tables import CONTRACT_WATCH_TABLE_NAME

WATCH = CONTRACT_WATCH_TABLE_NAME
WATCH_EVERY = "5 seconds"
"""The trigger notes an old-path write at most this often: old writers never queue on it."""


class Code(MigrateOperation):
    """One line of Python in a written revision (``op.execute(keep_in_step)``)."""

    def __init__(self, line: str) -> None:
        self.line = line

    def reverse(self) -> Code:
        return self


@renderers.dispatch_for(Code)
def _render_code(_: AutogenContext, op: Code) -> str:
    return op.line


@dataclass(frozen=True)
class Layout:
    """Where a pair of revisions goes in the history."""

    main_head: str | None
    """The parent of an ordinary or expand revision (None: Alembic's own ``head``)."""
    contract_head: str | None
    """The newest contract revision, parent of the next contract (None: none yet)."""
    splice: bool = False
    """The main head has a child (a contract): Alembic must be told to branch from it."""


def write_pairs(
    directives: list[ops.MigrationScript],
    renames: Sequence[RenameSpec],
    ask: Ask | None,
    layout: Layout,
) -> None:
    """Turn autogenerate's revision into expand + contract when it renames a column."""
    if not directives:
        return
    expand = directives[0]
    if layout.contract_head is not None and layout.main_head is not None:
        expand.head = layout.main_head  # "head" is ambiguous beside the contract branch
        expand.splice = layout.splice
    chosen = decide(expand.upgrade_ops, renames, ask)
    if not chosen:
        return
    up, down = ops.UpgradeOps([]), ops.DowngradeOps([])
    contract = ops.MigrationScript(
        rev_id(),
        up,
        down,
        message=f"{expand.message} contract",
        imports={'phase = "contract"\n'},
        head=layout.contract_head or expand.rev_id,
        depends_on=[expand.rev_id] if layout.contract_head else None,
        version_path=expand.version_path,
    )
    expand.message = f"{expand.message} expand"
    # a copy: Alembic's MigrationScript shares one default set between instances
    expand.imports = {*expand.imports, 'phase = "expand"\n'}
    for rename in chosen:
        sql = _split(expand, contract, rename)
        up.ops.append(_Ops(sql.contract_up, sql.contract_down))
        down.ops.insert(0, _Ops(sql.contract_down, sql.contract_up))
        _move_indexes(expand, contract, rename)
    expand.downgrade_ops = expand.upgrade_ops.reverse()
    retired = ", ".join(f"{f'{r.table}.{r.old.name}'!r}: {r.new.name!r}" for r in chosen)
    contract.imports.add(f"retires = {{{retired}}}\n")
    directives.append(contract)


def _split(expand: ops.MigrationScript, contract: ops.MigrationScript, rename: Rename) -> RenameSql:
    """Take the drop + add out of ``expand`` and put expand's half in; the rename's SQL."""
    for table_ops in expand.upgrade_ops.ops:
        if isinstance(table_ops, ops.ModifyTableOps):
            table_ops.ops = [o for o in table_ops.ops if o not in (rename.dropped, rename.added)]
    expand.upgrade_ops.ops = [
        o for o in expand.upgrade_ops.ops if not (isinstance(o, ops.ModifyTableOps) and not o.ops)
    ]
    sql = RenameSql(rename)
    name = sql.constant
    expand.imports.add(f'{name} = """{sql.keep_in_step()}"""\n')
    contract.imports.add(f'{name} = """{sql.keep_in_step()}"""\n')
    expand.upgrade_ops.ops.append(_Ops(sql.expand_up, sql.expand_down))
    return sql


def _move_indexes(
    expand: ops.MigrationScript, contract: ops.MigrationScript, rename: Rename
) -> None:
    """Indexes and unique constraints of the renamed column, built without blocking writes.

    Autogenerate drops the old column's and creates the new column's. Instead the expand
    builds the new one ``CONCURRENTLY`` (a unique constraint as its unique index, attached
    by the contract with ``USING INDEX``), and the old one goes with the old column in the
    contract, whose downgrade creates it again.
    """
    assert contract.upgrade_ops is not None  # ours: made in write_pairs
    assert contract.downgrade_ops is not None
    for table_ops in expand.upgrade_ops.ops:
        if not isinstance(table_ops, ops.ModifyTableOps) or table_ops.table_name != rename.table:
            continue
        kept = []
        for op in table_ops.ops:
            columns = _indexed_columns(op)
            if (
                isinstance(op, ops.DropIndexOp | ops.DropConstraintOp)
                and rename.old.name in columns
            ):
                contract.downgrade_ops.ops.append(op.reverse())
            elif isinstance(op, ops.CreateIndexOp | ops.AddConstraintOp) and (
                rename.new.name in columns
            ):
                index = IndexSql(rename, op, columns)
                expand.upgrade_ops.ops.append(_Ops(index.build, index.drop))
                if index.constraint:
                    contract.upgrade_ops.ops.append(_Ops(index.attach, index.detach))
                    contract.downgrade_ops.ops.insert(0, _Ops(index.detach, index.attach))
            else:
                kept.append(op)
        table_ops.ops = kept


def _indexed_columns(op: MigrateOperation) -> list[str]:
    """The plain columns of an index or unique constraint operation (none for others)."""
    try:
        if isinstance(op, ops.CreateIndexOp | ops.DropIndexOp):
            found: Any = op.to_index().expressions
        elif isinstance(op, ops.AddConstraintOp | ops.DropConstraintOp):
            constraint = op.to_constraint()
            if not isinstance(constraint, sa.UniqueConstraint):
                return []
            found = constraint.columns
        else:
            return []
    except (ValueError, AttributeError):  # an operation without what it was made from
        return []
    return [getattr(c, "name", c) for c in found if isinstance(getattr(c, "name", c), str)]


@dataclass(frozen=True)
class IndexSql:
    """The new column's index (or unique constraint), built concurrently in the expand."""

    rename: Rename
    op: ops.CreateIndexOp | ops.AddConstraintOp
    columns: list[str]

    @property
    def constraint(self) -> bool:
        return isinstance(self.op, ops.AddConstraintOp)

    @property
    def name(self) -> str:
        name = getattr(self.op, "index_name", None) or getattr(self.op, "constraint_name", None)
        return quoted(str(name))

    def _create(self, *, concurrently: bool) -> str:
        unique = self.constraint or bool(getattr(self.op, "unique", False))
        table = RenameSql(self.rename).names[0]
        columns = ", ".join(quoted(c) for c in self.columns)
        return (
            f"CREATE {'UNIQUE ' if unique else ''}INDEX {'CONCURRENTLY ' if concurrently else ''}"
            f"{self.name} ON {table} ({columns})"
        )

    def build(self, _: AutogenContext) -> list[str]:
        """CREATE INDEX CONCURRENTLY, outside the revision's transaction (then a blank line:
        the end of the block for Alembic's code printer)."""
        return [
            "with op.get_context().autocommit_block():",
            f"    {_execute(self._create(concurrently=True))}",
            "",
        ]

    def drop(self, _: AutogenContext) -> list[str]:
        return [_execute(f"DROP INDEX {self.name}")]

    def attach(self, _: AutogenContext) -> list[str]:
        """The unique constraint, on the index already built: no scan, a brief lock."""
        table = RenameSql(self.rename).names[0]
        return [
            _execute(
                f"ALTER TABLE {table} ADD CONSTRAINT {self.name} UNIQUE USING INDEX {self.name}"
            )
        ]

    def detach(self, _: AutogenContext) -> list[str]:
        table = RenameSql(self.rename).names[0]
        return [
            _execute(f"ALTER TABLE {table} DROP CONSTRAINT {self.name}"),
            _execute(self._create(concurrently=False)),
        ]


Lines = Callable[[AutogenContext], list[str]]


class _Ops(MigrateOperation):
    """A group of lines that reverses into another group (expand's own downgrade)."""

    def __init__(self, lines: Lines, reversed_lines: Lines) -> None:
        self.lines, self.reversed_lines = lines, reversed_lines

    def reverse(self) -> _Ops:
        return _Ops(self.reversed_lines, self.lines)


@renderers.dispatch_for(_Ops)
def _render_ops(ctx: AutogenContext, op: _Ops) -> list[str]:
    return op.lines(ctx)


def short_name(*parts: str) -> str:
    """A PostgreSQL name from ``parts``, shortened with a hash past 63 bytes."""
    name = "_".join(parts)
    if len(name.encode()) <= 63:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name.encode()[:54].decode(errors='ignore')}_{digest}"


@dataclass(frozen=True)
class RenameSql:
    """The statements of both halves of one rename, as lines of a revision's body."""

    rename: Rename

    @property
    def names(self) -> tuple[str, str, str]:
        """Quoted table, old column, new column."""
        r = self.rename
        table = f"{quoted(r.schema)}.{quoted(r.table)}" if r.schema else quoted(r.table)
        return table, quoted(r.old.name), quoted(r.new.name)

    @property
    def function(self) -> str:
        """Name of the trigger and of its function."""
        return short_name("tfsync_keep", self.rename.table, self.rename.new.name)

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

    def keep_in_step(self) -> str:
        """CREATE FUNCTION: the trigger function copying old to new and back."""
        _, old, new = self.names
        r = self.rename
        literal = {
            k: v.replace("'", "''")
            for k, v in {"t": r.table, "o": r.old.name, "n": r.new.name}.items()
        }
        return f"""
CREATE FUNCTION {self.function}() RETURNS trigger LANGUAGE plpgsql AS $fn$
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

    def _trigger(self) -> str:
        table = self.names[0]
        return (
            f"CREATE TRIGGER {self.function} BEFORE INSERT OR UPDATE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {self.function}()"
        )

    def _drop_trigger(self) -> list[str]:
        table = self.names[0]
        return [
            f"op.execute({f'DROP TRIGGER {self.function} ON {table}'!r})",
            f"op.execute({f'DROP FUNCTION {self.function}()'!r})",
        ]

    def expand_up(self, ctx: AutogenContext) -> list[str]:
        """Add the new column, keep it in step, note old-path writes, backfill."""
        table, old, new = self.names
        r = self.rename
        lines = [f"op.add_column({r.table!r}, {_column(r.new, ctx, nullable=True)}{_schema(r)})"]
        if r.new.server_default is not None:
            lines.append(
                _execute(f"ALTER TABLE {table} ALTER COLUMN {new} SET DEFAULT {_default(r.new)}")
            )
        if r.old.server_default is not None:  # new code never sets it: the trigger would see
            lines.append(_execute(f"ALTER TABLE {table} ALTER COLUMN {old} DROP DEFAULT"))
        if self.not_null:
            lines.append(
                _execute(
                    f"ALTER TABLE {table} ADD CONSTRAINT {self.check} "
                    f"CHECK ({new} IS NOT NULL) NOT VALID"
                )
            )
        lines += [
            f"op.execute({self.constant})",
            _execute(self._trigger()),
            _execute(self._watch_from_now()),
            f"op.backfill({r.table!r}, set={f'{new} = {old}'!r}, "
            f"where={f'{new} IS NULL AND {old} IS NOT NULL'!r}{_schema(r)})",
        ]
        return lines

    def expand_down(self, ctx: AutogenContext) -> list[str]:
        """Remove what expand added (the data-loss guard watches the new column)."""
        table, old, _ = self.names
        r = self.rename
        lines = self._drop_trigger()
        if r.old.server_default is not None:
            lines.append(
                _execute(f"ALTER TABLE {table} ALTER COLUMN {old} SET DEFAULT {_default(r.old)}")
            )
        if self.not_null:
            lines.append(_execute(f"ALTER TABLE {table} DROP CONSTRAINT {self.check}"))
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
                f"    {_execute(f'ALTER TABLE {table} VALIDATE CONSTRAINT {self.check}')}",
                "",
                _execute(f"ALTER TABLE {table} ALTER COLUMN {new} SET NOT NULL"),
                _execute(f"ALTER TABLE {table} DROP CONSTRAINT {self.check}"),
            ]
        lines += self._drop_trigger()
        lines.append(f"op.drop_column({r.table!r}, {r.old.name!r}{_schema(r)})")
        return lines

    def contract_down(self, ctx: AutogenContext) -> list[str]:
        """Bring the old column back from the new one, then keep them in step again."""
        table, old, new = self.names
        r = self.rename
        lines = [
            f"op.add_column({r.table!r}, {_column(r.old, ctx, nullable=True)}{_schema(r)})",
            _execute(f"UPDATE {table} SET {old} = {new}"),
        ]
        if not r.old.nullable:
            lines.append(_execute(f"ALTER TABLE {table} ALTER COLUMN {old} SET NOT NULL"))
        if self.not_null:
            lines += [
                _execute(
                    f"ALTER TABLE {table} ADD CONSTRAINT {self.check} "
                    f"CHECK ({new} IS NOT NULL) NOT VALID"
                ),
                _execute(f"ALTER TABLE {table} ALTER COLUMN {new} DROP NOT NULL"),
            ]
        lines += [f"op.execute({self.constant})", _execute(self._trigger())]
        return lines


def _execute(sql: str) -> str:
    return f"op.execute({sql!r})"


def _schema(rename: Rename) -> str:
    return f", schema={rename.schema!r}" if rename.schema else ""


def _column(column: sa.Column[Any], ctx: AutogenContext, *, nullable: bool) -> str:
    """``sa.Column("name", <type>, nullable=...)``, the type as autogenerate renders it."""
    from alembic.autogenerate.render import _repr_type  # private: used here only

    return f"sa.Column({column.name!r}, {_repr_type(column.type, ctx)}, nullable={nullable})"


def _default(column: sa.Column[Any]) -> str:
    default: Any = column.server_default
    arg = getattr(default, "arg", default)
    return str(getattr(arg, "text", arg))
