"""A column type change that rewrites the table or may fail on its rows, as expand + contract.

``ALTER COLUMN ... TYPE`` rewrites the table and its indexes while reads and writes wait
(TF407). The safe way, as pgroll's ``alter_column`` type change, written here as the two
halves of a pair (:mod:`.expand_contract`, SQL in :mod:`.retype_sql`):

- **expand** (``make upgrade``): a column of the new type under a temporary name
  (``<column>_tfsync_new``), nullable (NOT NULL as ``CHECK ... NOT VALID``); a trigger
  keeping the two in step both ways (a write of the column fills the new one cast to the
  new type; a write of the new one alone fills the column cast back); each plain index of
  the column built ``CONCURRENTLY`` on the new one; ``op.backfill`` casting the rows
  already there (with the change's ``postgresql_using`` if it has one). No rewrite, no
  long lock. From then on a write whose value the new type cannot hold fails, as it would
  after the change.
- **contract** (``make contract``): prove every row copied (VALIDATE the check, or a scan
  that blocks no writer), then in one short transaction drop the trigger, its function and
  the old column, give the new column the old name, SET NOT NULL through the valid check,
  give the new indexes the old names, and the default the models say.

Both versions of the application write the same column name, so unlike a rename's the
trigger cannot tell old code from new: a type change's contract needs no "old code gone"
proof (:func:`...deploy.contract.needs_proof`); it waits only for its expand. Old code
that writes values the new type cannot hold fails from the expand on either way.

A change PostgreSQL makes in the catalog alone stays ordinary (:mod:`.type_changes`). A
column that a constraint, a view, a trigger or an expression index depends on is refused,
nothing written (:mod:`.retype_catalog`). Each pair names its columns in both files:
``retypes = {"table.column": "column_tfsync_new"}`` (:mod:`..plumbing.phases`).
"""

from __future__ import annotations

from typing import Any

from alembic.autogenerate.api import AutogenContext
from alembic.operations import MigrateOperation, ops
from sqlalchemy.engine import Connection

from terrafusion_sync.migrations.authoring.rename_sql import Halves, Ops
from terrafusion_sync.migrations.authoring.retype_catalog import column_indexes
from terrafusion_sync.migrations.authoring.retype_sql import Retype, RetypeSql
from terrafusion_sync.migrations.authoring.type_changes import rewrites_or_may_fail, sql_type


def split_retypes(halves: Halves, conn: Connection | None) -> list[RetypeSql]:
    """Take each type change that rewrites or may fail out of the expand and put its
    halves in; refused in one line when the database has what the pair cannot carry."""
    found: list[RetypeSql] = []
    if conn is None:
        return found
    for table_ops in halves.expand.ops:
        if not isinstance(table_ops, ops.ModifyTableOps):
            continue
        kept: list[MigrateOperation] = []
        for op in table_ops.ops:
            change = _retype(op, conn) if isinstance(op, ops.AlterColumnOp) else None
            if change is None:
                kept.append(op)
                continue
            found.append(RetypeSql(change))
            assert isinstance(op, ops.AlterColumnOp)  # _retype takes nothing else
            _comment_in_contract(halves, table_ops, op)
        table_ops.ops = kept
    halves.expand.ops = [
        o for o in halves.expand.ops if not (isinstance(o, ops.ModifyTableOps) and not o.ops)
    ]
    # every proof first, each committing alone; then the swaps, in one transaction
    halves.contract.ops += [Ops(sql.prove, _nothing) for sql in found]
    # every value read through its cast before the expand changes anything: each check
    # commits alone, so one after a change would leave that change applied when it failed
    halves.expand.ops[0:0] = [Ops(sql.every_value_casts, _nothing) for sql in found]
    for sql in found:
        halves.expand.ops.append(Ops(sql.expand_up, sql.expand_down))
        halves.contract.ops.append(Ops(sql.contract_up, sql.contract_down))
        halves.contract_down.ops.insert(0, Ops(sql.contract_down, sql.contract_up))
    return found


def _nothing(_: AutogenContext) -> list[str]:
    return []


def retypes(found: list[RetypeSql]) -> str:
    """The ``retypes = {...}`` line both files carry."""
    pairs = ", ".join(
        f"{f'{s.change.table}.{s.change.column}'!r}: {s.change.temporary!r}" for s in found
    )
    return f"retypes = {{{pairs}}}\n"


def _retype(op: ops.AlterColumnOp, conn: Connection) -> Retype | None:
    """The type change of ``op`` if it rewrites or may fail; None if it stays ordinary."""
    old, new = op.existing_type, op.modify_type
    if new is None or old is None or not rewrites_or_may_fail(old, new):
        return None
    change = f"{sql_type(old)} -> {sql_type(new)}"
    indexes = column_indexes(conn, op.table_name, op.schema, op.column_name, change)
    nullable = op.existing_nullable if op.modify_nullable is None else op.modify_nullable
    old_default = default_sql(op.existing_server_default)
    given = op.modify_server_default
    return Retype(
        op.table_name,
        op.schema,
        op.column_name,
        old,
        new,
        was_not_null=op.existing_nullable is False,
        not_null=nullable is False,
        old_default=old_default,
        new_default=old_default if given is False else default_sql(given),
        using=op.kw.get("postgresql_using"),
        indexes=indexes,
    )


def default_sql(default: Any) -> str | None:
    """A server default as SQL: a plain string is a literal, a ``text()`` is SQL as it is."""
    if default is None or default is False:
        return None
    arg = getattr(default, "arg", default)
    if isinstance(arg, str):
        return "'" + arg.replace("'", "''") + "'"
    found = getattr(arg, "text", None)
    return found if isinstance(found, str) else None


def _comment_in_contract(
    halves: Halves, table_ops: ops.ModifyTableOps, op: ops.AlterColumnOp
) -> None:
    """A comment changed with the type goes on the column once it has its new type."""
    if op.modify_comment is False:
        return
    comment = ops.AlterColumnOp(
        op.table_name,
        op.column_name,
        schema=op.schema,
        modify_comment=op.modify_comment,
        existing_comment=op.existing_comment,
        existing_type=op.modify_type,
    )
    modify = ops.ModifyTableOps(table_ops.table_name, [comment], schema=table_ops.schema)
    halves.contract.ops.append(modify)
    halves.contract_down.ops.insert(0, modify.reverse())
