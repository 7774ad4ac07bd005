"""NOT NULL, a unique constraint or a foreign key on an existing table, as expand + contract.

Added in one statement, each scans the table while writes wait (TF402, TF403, TF405). The
safe way, written here as the two halves of a pair (:mod:`.expand_contract`):

- NOT NULL: expand adds ``CHECK (col IS NOT NULL) NOT VALID`` (no scan, a brief lock) and,
  when the column has a server default, an ``op.backfill`` giving it to the rows holding
  NULL (without one, ``tfsync revision`` says they must be filled); contract VALIDATEs it
  in a transaction of its own, then ``SET NOT NULL`` (PostgreSQL 12+ skips the scan when
  a valid check proves it) and drops the check.
- unique: expand builds the unique index ``CONCURRENTLY`` (dropping first the invalid index a
  failed build left, so it can simply run again); contract attaches it as the
  constraint (``UNIQUE USING INDEX``: no scan).
- foreign key: expand adds it ``NOT VALID``; contract VALIDATEs it on its own.

No column is retired, so no old code has to be gone: the contract only finishes what its
expand began. Each contract names what it finishes in ``completes`` (see
:mod:`..plumbing.phases`), which autogenerate and the drift check leave alone meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass

from alembic.operations import MigrateOperation, ops
from sqlalchemy.schema import AddConstraint

from terrafusion_sync.database import postgresql_dialect, qualified, quoted
from terrafusion_sync.migrations.authoring.rename_sql import (
    Halves,
    Lines,
    Ops,
    execute,
    fill_nulls,
    if_absent,
    null_note,
    short_name,
)

AUTOCOMMIT = "with op.get_context().autocommit_block():"


@dataclass(frozen=True)
class Finish:
    """One constraint written as a pair: its four groups of lines and what it finishes."""

    table: str
    name: str
    """The column (NOT NULL) or the constraint's name: ``completes``' key is table.name."""
    kind: str
    expand_up: Lines
    expand_down: Lines
    contract_up: Lines
    contract_down: Lines
    note: str | None = None
    """What ``tfsync revision`` says of it (NOT NULL with no default to fill NULLs from)."""


def split_constraints(halves: Halves) -> list[Finish]:
    """Take NOT NULL, unique and foreign-key additions on existing tables out of the expand
    and put each one's halves in; what the contract finishes."""
    new_tables = {
        (o.schema, o.table_name) for o in halves.expand.ops if isinstance(o, ops.CreateTableOp)
    }
    found: list[Finish] = []
    for table_ops in halves.expand.ops:
        if not isinstance(table_ops, ops.ModifyTableOps):
            continue
        if (table_ops.schema, table_ops.table_name) in new_tables:
            continue
        kept = []
        for op in table_ops.ops:
            finish = _finish(op)
            if finish is None:
                kept.append(op)
                continue
            found.append(finish)
            if isinstance(op, ops.AlterColumnOp) and _alters_more(op):
                op.modify_nullable = None  # its other changes stay in the expand
                kept.append(op)
        table_ops.ops = kept
    halves.expand.ops = [
        o for o in halves.expand.ops if not (isinstance(o, ops.ModifyTableOps) and not o.ops)
    ]
    for finish in found:
        halves.expand.ops.append(Ops(finish.expand_up, finish.expand_down))
        halves.contract.ops.append(Ops(finish.contract_up, finish.contract_down))
        halves.contract_down.ops.insert(0, Ops(finish.contract_down, finish.contract_up))
    return found


def completes(finishes: list[Finish]) -> str:
    """The contract's ``completes = {...}`` line."""
    pairs = ", ".join(f"{f'{f.table}.{f.name}'!r}: {f.kind!r}" for f in finishes)
    return f"completes = {{{pairs}}}\n"


def _finish(op: MigrateOperation) -> Finish | None:
    if isinstance(op, ops.AlterColumnOp) and op.modify_nullable is False:
        return _not_null(op) if op.existing_nullable is not False else None
    if isinstance(op, ops.CreateUniqueConstraintOp):
        return _unique(op)
    if isinstance(op, ops.CreateForeignKeyOp):
        return _foreign_key(op)
    return None


def _alters_more(op: ops.AlterColumnOp) -> bool:
    changes = (op.modify_type, op.modify_server_default, op.modify_comment, op.modify_name)
    return any(c not in (None, False) for c in changes)


def _lines(*statements: str) -> Lines:
    return lambda _ctx: [execute(s) for s in statements]


def _alone(statement: str, *then: str) -> Lines:
    """``statement`` in a transaction of its own (it commits alone, so its scan holds no
    lock past itself), then ``then`` in the revision's transaction."""
    return lambda _ctx: [AUTOCOMMIT, f"    {execute(statement)}", "", *map(execute, then)]


def _not_null(op: ops.AlterColumnOp) -> Finish:
    table, column = qualified(op.table_name, op.schema), quoted(op.column_name)
    check = quoted(short_name("ck", op.table_name, op.column_name, "not_null"))
    add = f"ALTER TABLE {table} ADD CONSTRAINT {check} CHECK ({column} IS NOT NULL) NOT VALID"
    drop = f"ALTER TABLE {table} DROP CONSTRAINT {check}"
    default = op.modify_server_default
    if default is False:  # the default is not changed: the one there now
        default = op.existing_server_default
    fill = fill_nulls(op.table_name, op.column_name, default, op.schema)
    return Finish(
        op.table_name,
        op.column_name,
        "not null",
        lambda _ctx: [execute(if_absent(table, check, add)), *fill],
        _lines(drop),
        _alone(
            f"ALTER TABLE {table} VALIDATE CONSTRAINT {check}",
            f"ALTER TABLE {table} ALTER COLUMN {column} SET NOT NULL",
            drop,
        ),
        _lines(add, f"ALTER TABLE {table} ALTER COLUMN {column} DROP NOT NULL"),
        None if fill else null_note(op.table_name, op.column_name),
    )


def _unique(op: ops.CreateUniqueConstraintOp) -> Finish:
    name = str(op.constraint_name or short_name("uq", op.table_name, *op.columns))
    table, index = qualified(op.table_name, op.schema), quoted(name)
    qualified_index = qualified(name, op.schema)
    columns = ", ".join(quoted(c) for c in op.columns)
    # a build that failed (duplicate values, a lock timeout the runner retries) leaves an
    # invalid index of that name: dropped first, so the expand simply runs again
    build = [
        AUTOCOMMIT,
        f"    {execute(f'DROP INDEX CONCURRENTLY IF EXISTS {qualified_index}')}",
        f"    {execute(f'CREATE UNIQUE INDEX CONCURRENTLY {index} ON {table} ({columns})')}",
        "",
    ]
    return Finish(
        op.table_name,
        name,
        "unique",
        lambda _ctx: build,
        _lines(f"DROP INDEX IF EXISTS {qualified_index}"),
        _lines(f"ALTER TABLE {table} ADD CONSTRAINT {index} UNIQUE USING INDEX {index}"),
        lambda _ctx: [execute(f"ALTER TABLE {table} DROP CONSTRAINT {index}"), *build],
    )


def _foreign_key(op: ops.CreateForeignKeyOp) -> Finish:
    constraint = op.to_constraint()
    name = str(op.constraint_name or constraint.name)
    table = qualified(op.source_table, op.kw.get("source_schema"))
    ddl = AddConstraint(constraint).compile(dialect=postgresql_dialect())
    add = f"{' '.join(str(ddl).split())} NOT VALID"
    drop = f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {quoted(name)}"
    return Finish(
        op.source_table,
        name,
        "foreign key",
        _lines(if_absent(table, quoted(name), add)),
        _lines(drop),
        _alone(f"ALTER TABLE {table} VALIDATE CONSTRAINT {quoted(name)}"),
        _lines(drop, add),  # NOT VALID again, as the expand left it (no scan)
    )
