"""A renamed model column is never drop + add: Django's "Did you rename X to Y?".

Autogenerate cannot tell a rename from a drop and an add: both look like one column gone
and one column new in the same table. Written as drop + add, the column's values are
lost and every instance of the old application fails. So when a change drops a column
and adds one of a compatible type to the same table, ``tfsync revision`` asks on a
terminal, and without one refuses unless told with ``--rename TABLE.OLD=NEW`` (that
flag also says so up front, for scripts and CI). A refusal writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from alembic.operations import ops

from terrafusion_sync.database import postgresql_dialect
from terrafusion_sync.errors import MigrationError

Ask = Callable[[str], bool]
"""Asks a person a yes/no question (on a terminal); None where nobody can answer."""

FLAG = "--rename TABLE.OLD=NEW"


@dataclass(frozen=True)
class RenameSpec:
    """``--rename TABLE.OLD=NEW``: the user says column OLD of TABLE is now NEW."""

    table: str
    old: str
    new: str

    def __str__(self) -> str:
        return f"{self.table}.{self.old}={self.new}"


@dataclass(frozen=True)
class Rename:
    """A column dropped and one added in one table, taken as one column renamed."""

    table: str
    schema: str | None
    old: sa.Column[object]
    """The dropped column, as the database has it (type, nullability, default)."""
    new: sa.Column[object]
    """The added column, as the models declare it."""
    dropped: ops.DropColumnOp
    added: ops.AddColumnOp

    def describe(self) -> str:
        """``owners.email -> owners.email_address (VARCHAR(200))``."""
        return (
            f"{self.table}.{self.old.name} -> {self.table}.{self.new.name} ({type_sql(self.new)})"
        )


def parse_renames(values: Sequence[str]) -> list[RenameSpec]:
    """``TABLE.OLD=NEW`` strings, checked for shape; refused in one line otherwise."""
    specs = []
    for value in values:
        left, equals, new = value.partition("=")
        table, dot, old = left.strip().rpartition(".")
        if not (equals and dot and table and old and new.strip()):
            raise MigrationError(
                f"--rename {value!r} is not TABLE.OLD=NEW",
                "write it like --rename owners.email=email_address",
            )
        specs.append(RenameSpec(table, old, new.strip()))
    return specs


def type_sql(column: sa.Column[object]) -> str:
    """The column's type as PostgreSQL spells it."""
    return str(column.type.compile(dialect=postgresql_dialect()))


def compatible(old: sa.Column[object], new: sa.Column[object]) -> bool:
    """Whether values of ``old`` fit ``new`` unchanged, so a trigger can copy them both ways:
    the same type, or a string type at least as wide."""
    if type_sql(old) == type_sql(new):
        return True
    if isinstance(old.type, sa.String) and isinstance(new.type, sa.String):
        old_len, new_len = old.type.length, new.type.length
        return new_len is None or (old_len is not None and new_len >= old_len)
    return False


def candidates(upgrade_ops: ops.UpgradeOps) -> list[Rename]:
    """Every (dropped, added) column pair of one table whose types are compatible."""
    found = []
    for table_ops in upgrade_ops.ops:
        if not isinstance(table_ops, ops.ModifyTableOps):
            continue
        drops = [o for o in table_ops.ops if isinstance(o, ops.DropColumnOp)]
        adds = [o for o in table_ops.ops if isinstance(o, ops.AddColumnOp)]
        for dropped in drops:
            old = dropped.to_column()
            for added in adds:
                if compatible(old, added.column):
                    found.append(
                        Rename(
                            table_ops.table_name,
                            table_ops.schema,
                            old,
                            added.column,
                            dropped,
                            added,
                        )
                    )
    return found


def decide(
    upgrade_ops: ops.UpgradeOps, given: Sequence[RenameSpec], ask: Ask | None
) -> list[Rename]:
    """The renames of this change: those ``given``, then those a person confirms.

    A ``given`` rename that matches no dropped and added column, or whose types cannot be
    kept in step, is refused; so is a possible rename nobody can be asked about.
    """
    possible = candidates(upgrade_ops)
    chosen = [_given(upgrade_ops, possible, spec) for spec in given]
    for rename in possible:
        if any(c.dropped is rename.dropped or c.added is rename.added for c in chosen):
            continue
        question = f"Did you rename {rename.describe()}?"
        if ask is None:
            raise MigrationError(
                f"{rename.table}.{rename.old.name} is dropped and {rename.table}."
                f"{rename.new.name} added with a compatible type: a rename written as drop + "
                "add loses the column's values; nothing was written",
                f"if it is a rename, say so: {FLAG} (here --rename "
                f"{rename.table}.{rename.old.name}={rename.new.name}); "
                "if not, run it on a terminal and answer no",
            )
        if ask(question):
            chosen.append(rename)
    return chosen


def _given(upgrade_ops: ops.UpgradeOps, possible: list[Rename], spec: RenameSpec) -> Rename:
    for rename in possible:
        if (rename.table, rename.old.name, rename.new.name) == (spec.table, spec.old, spec.new):
            return rename
    table_ops = [
        t
        for t in upgrade_ops.ops
        if isinstance(t, ops.ModifyTableOps) and t.table_name == spec.table
    ]
    dropped = [o for t in table_ops for o in t.ops if isinstance(o, ops.DropColumnOp)]
    added = [o for t in table_ops for o in t.ops if isinstance(o, ops.AddColumnOp)]
    old = next((o.to_column() for o in dropped if o.column_name == spec.old), None)
    new = next((o.column for o in added if o.column.name == spec.new), None)
    if old is None or new is None:
        missing = f"column {spec.table}.{spec.old}" if old is None else f"{spec.table}.{spec.new}"
        gone = "dropped" if old is None else "added"
        raise MigrationError(
            f"--rename {spec}: the change has no {missing} {gone}; nothing was written",
            "name a table and a column as they are in the database (old) and the models (new)",
        )
    raise MigrationError(
        f"--rename {spec}: {type_sql(old)} and {type_sql(new)} cannot be kept in step by "
        "copying values; nothing was written",
        "rename first keeping the type, then change the type in a revision of its own",
    )
