"""Indexes and unique constraints of a renamed column, built without blocking writes.

Autogenerate drops the old column's and creates the new column's. Instead the expand
builds the new one ``CONCURRENTLY`` (a unique constraint as its unique index, attached by
the contract with ``USING INDEX``: no scan, a brief lock), and the old one goes with the
old column in the contract, whose downgrade creates it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate.api import AutogenContext
from alembic.operations import MigrateOperation, ops

from terrafusion_sync.database import qualified, quoted
from terrafusion_sync.migrations.authoring.rename_sql import Halves, Ops, RenameSql, execute
from terrafusion_sync.migrations.authoring.renames import Rename


def move_indexes(halves: Halves, rename: Rename) -> None:
    """Indexes and unique constraints of the renamed column, built without blocking writes.

    Autogenerate drops the old column's and creates the new column's. Instead the expand
    builds the new one ``CONCURRENTLY`` (a unique constraint as its unique index, attached
    by the contract with ``USING INDEX``), and the old one goes with the old column in the
    contract, whose downgrade creates it again.
    """
    for table_ops in halves.expand.ops:
        if not isinstance(table_ops, ops.ModifyTableOps) or table_ops.table_name != rename.table:
            continue
        kept = []
        for op in table_ops.ops:
            columns = _indexed_columns(op)
            if (
                isinstance(op, ops.DropIndexOp | ops.DropConstraintOp)
                and rename.old.name in columns
            ):
                halves.contract_down.ops.append(op.reverse())
            elif isinstance(op, ops.CreateIndexOp | ops.AddConstraintOp) and (
                rename.new.name in columns
            ):
                index = IndexSql(rename, op, columns)
                halves.expand.ops.append(Ops(index.build, index.drop))
                if index.constraint:
                    halves.contract.ops.append(Ops(index.attach, index.detach))
                    halves.contract_down.ops.insert(0, Ops(index.detach, index.attach))
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
    def bare_name(self) -> str:
        name = getattr(self.op, "index_name", None) or getattr(self.op, "constraint_name", None)
        return str(name)

    @property
    def name(self) -> str:
        return quoted(self.bare_name)

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
        the end of the block for Alembic's code printer); first, the invalid index a build
        that failed (a lock timeout the runner retries) may have left."""
        leftover = qualified(self.bare_name, self.rename.schema)
        return [
            "with op.get_context().autocommit_block():",
            f"    {execute(f'DROP INDEX CONCURRENTLY IF EXISTS {leftover}')}",
            f"    {execute(self._create(concurrently=True))}",
            "",
        ]

    def drop(self, _: AutogenContext) -> list[str]:
        return [execute(f"DROP INDEX {self.name}")]

    def attach(self, _: AutogenContext) -> list[str]:
        """The unique constraint, on the index already built: no scan, a brief lock."""
        table = RenameSql(self.rename).names[0]
        return [
            execute(
                f"ALTER TABLE {table} ADD CONSTRAINT {self.name} UNIQUE USING INDEX {self.name}"
            )
        ]

    def detach(self, _: AutogenContext) -> list[str]:
        table = RenameSql(self.rename).names[0]
        return [
            execute(f"ALTER TABLE {table} DROP CONSTRAINT {self.name}"),
            execute(self._create(concurrently=False)),
        ]
