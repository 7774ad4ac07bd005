"""PostgreSQL enum types in autogenerate, through alembic-postgresql-enum.

Importing the library registers its comparator: a native ``sqlalchemy.Enum(..., name=...)``
gets its ``CREATE TYPE`` with the table or the column that first uses it, and a type whose
values changed gets an operation. Where the library falls short, this module is the one
place that works around it, so the workaround goes when the library is fixed
(``tests/test_entities_enums.py`` names each upstream issue):

- Appending a value (alembic-postgresql-enum issue 133, and issue 44 for ``--sql``): the
  library renders ``op.add_enum_value``, which runs on a connection of its own making (it
  fails in offline mode: there is none), places a value inserted before another one *after*
  it, and runs in the revision's transaction, where PostgreSQL before 12 refuses
  ``ADD VALUE`` and 12 and later refuse to use the new value until commit. Here it is
  rendered as plain ``ALTER TYPE ... ADD VALUE IF NOT EXISTS ... BEFORE/AFTER`` in an
  ``autocommit_block`` at the start of the revision: outside any transaction, so every
  PostgreSQL takes it and the rest of the revision may use the value; first, so the block
  commits nothing of the revision before it; ``IF NOT EXISTS``, so a revision that fails
  later runs again. No table is rewritten: ``ALTER TYPE`` touches only ``pg_enum``.
- Removing or renaming a value stays the library's ``op.sync_enum_values`` (recreate the
  type, cast every column: a rewrite); the review reports it with the safe way, and the
  pre-flight refuses it while rows hold a removed value.
"""

from __future__ import annotations

from collections.abc import Iterator

import alembic_postgresql_enum  # noqa: F401 - registers the library's comparator
from alembic.autogenerate.api import AutogenContext
from alembic.autogenerate.render import renderers
from alembic.operations.ops import MigrateOperation, UpgradeOps
from alembic_postgresql_enum.operations.add_enum_values import AddEnumValuesOp
from sqlalchemy import String, literal

from terrafusion_sync.database import quoted

ISSUE = "alembic-postgresql-enum issue 133 (append with ADD VALUE) and 44 (offline mode)"


def added_values(old: list[str], new: list[str]) -> Iterator[tuple[str, str, str]]:
    """``(value, "BEFORE" | "AFTER", neighbour)`` for each value of ``new`` not in ``old``,
    left to right, each placed next to a value that exists by the time it is added."""
    for index, value in enumerate(new):
        if value in old:
            continue
        if index > 0:
            yield value, "AFTER", new[index - 1]
        else:
            yield value, "BEFORE", new[1]


def add_value_statements(schema: str, name: str, old: list[str], new: list[str]) -> list[str]:
    """The ``ALTER TYPE`` statements that turn ``old`` into ``new`` without a rewrite."""
    return [
        f"ALTER TYPE {quoted(schema)}.{quoted(name)} ADD VALUE IF NOT EXISTS "
        f"{_literal(value)} {where} {_literal(neighbour)}"
        for value, where, neighbour in added_values(old, new)
    ]


@renderers.dispatch_for(AddEnumValuesOp, replace=True)
def render_add_values(autogen_context: AutogenContext, op: AddEnumValuesOp) -> str:
    """Render an append as SQL in an autocommit block (see the module's docstring)."""
    prefix = autogen_context.opts.get("alembic_module_prefix", "op.")
    lines = [
        "# ALTER TYPE ... ADD VALUE: no table rewrite; outside the transaction, so that",
        "# this revision may use the new value (see terrafusion_sync.migrations.entities)",
        f"with {prefix}get_context().autocommit_block():",
    ]
    statements = add_value_statements(op.schema, op.name, op.old_values, op.new_values)
    lines += [f"    {prefix}execute({statement!r})" for statement in statements]
    return "\n".join(lines)


def appends_first(upgrade_ops: UpgradeOps) -> None:
    """Move the enum appends to the start of the revision, before anything its autocommit
    block would commit (a later operation may use the new value)."""
    ops: list[MigrateOperation] = upgrade_ops.ops
    appends = [op for op in ops if isinstance(op, AddEnumValuesOp)]
    upgrade_ops.ops = appends + [op for op in ops if not isinstance(op, AddEnumValuesOp)]


def _literal(value: str) -> str:
    """``value`` as a SQL string literal, rendered by SQLAlchemy (quotes doubled)."""
    return str(literal(value, String()).compile(compile_kwargs={"literal_binds": True}))
