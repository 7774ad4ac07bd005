"""Drift: how the models differ from the schema a database actually has.

The models include the enum types of their columns and the views, functions and triggers
of ``db_objects.py`` (:mod:`terrafusion_sync.migrations.entities`)."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic_utils.replaceable_entity import ReplaceableEntity
from sqlalchemy import MetaData
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import SAWarning

from terrafusion_sync.core_models import Base
from terrafusion_sync.database import connect
from terrafusion_sync.migrations import entities
from terrafusion_sync.migrations.plumbing.retiring import include_object
from terrafusion_sync.migrations.plumbing.tool_tables import include_name


@dataclass(frozen=True)
class Drift:
    """One difference. ``side`` is ``models`` (only in the models), ``migrations`` (only in
    the migrated schema) or ``both`` (present in both, but different)."""

    side: str
    table: str
    column: str | None
    description: str


@contextmanager
def reflecting() -> Iterator[None]:
    """Reflection without SQLAlchemy's warning about a ``CHECK ... NOT VALID`` constraint
    (an expand revision's NOT NULL-to-be): it reflects the constraint all the same."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Can't validate argument 'dialect_options'", SAWarning)
        yield


async def compare_models(
    url: URL,
    metadata: MetaData | None = None,
    retiring: Iterable[tuple[str, str]] = (),
    objects: Sequence[ReplaceableEntity] | None = None,
) -> list[Drift]:
    """Compare ``metadata`` (default: the models) and ``objects`` (default: the entities of
    ``db_objects.py``) with the schema of the database at ``url``.

    The ``retiring`` ``(table, column)`` pairs, old columns a waiting contract revision will
    drop, are not drift (see :mod:`..plumbing.phases`).
    """
    metadata = metadata if metadata is not None else Base.metadata
    entities.compare_with_models(objects)

    def compare(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "target_metadata": metadata,
                "include_name": include_name,
                "include_object": include_object(retiring),
                "include_schemas": False,  # what env.py leaves as it is; alembic_utils reads it
            },
        )
        with reflecting():
            found: list[Any] = compare_metadata(context, metadata)
        return found

    async with connect(url) as conn:
        diffs = await conn.run_sync(compare)
    return [describe(diff) for entry in diffs for diff in _flatten(entry)]


def describe(diff: tuple[Any, ...]) -> Drift:
    """Turn one of Alembic's diff tuples into a sentence a person can act on."""
    kind = diff[0]
    if kind in {"add_table", "remove_table"}:
        table = diff[1]
        side = "models" if kind == "add_table" else "migrations"
        return Drift(side, table.name, None, f"table {table.name} exists only in the {side}")
    if kind in {"add_column", "remove_column"}:
        _, _, table, column = diff
        side = "models" if kind == "add_column" else "migrations"
        return Drift(
            side, table, column.name, f"column {table}.{column.name} exists only in the {side}"
        )
    if kind in {"add_index", "remove_index", "add_constraint", "remove_constraint"}:
        obj = diff[1]
        side = "models" if kind.startswith("add") else "migrations"
        what = "index" if kind.endswith("index") else "constraint"
        return Drift(
            side,
            obj.table.name,
            None,
            f"{what} {obj.name} on {obj.table.name} exists only in the {side}",
        )
    if kind in {"add_fk", "remove_fk"}:
        fk = diff[1]
        side = "models" if kind == "add_fk" else "migrations"
        table = fk.parent.name
        return Drift(
            side, table, None, f"foreign key {fk.name} on {table} exists only in the {side}"
        )
    if kind in {"add_table_comment", "remove_table_comment"}:
        table = diff[1]
        side = "models" if kind == "add_table_comment" else "migrations"
        return Drift(
            side, table.name, None, f"comment on table {table.name} exists only in the {side}"
        )
    if kind in _OBJECT_KINDS:
        return _describe_object(diff)
    if kind.startswith("modify_"):
        _, _, table, column, _, old, new = diff
        attribute = kind.removeprefix("modify_")
        return Drift(
            "both",
            table,
            column,
            f"column {table}.{column} {attribute} is {_show(old)} in the migrations "
            f"but {_show(new)} in the models",
        )
    return Drift("both", "?", None, f"{kind}: {diff[1:]!r}")


_ENTITY_SIDES = {"create_entity": "models", "drop_entity": "migrations"}
_ENUM_SIDES = {"create_enum": "models", "drop_enum": "migrations"}
_ENUM_VALUES = {"add_enum_value", "change_enum_variants"}
_OBJECT_KINDS = {*_ENTITY_SIDES, *_ENUM_SIDES, *_ENUM_VALUES, "replace_or_revert_entity"}


def _describe_object(diff: tuple[Any, ...]) -> Drift:
    """An enum type, view, function or trigger (the diff tuples of alembic-postgresql-enum
    and alembic_utils)."""
    kind = diff[0]
    if kind in _ENTITY_SIDES:
        side, what = _ENTITY_SIDES[kind], _entity(diff[1])
        return Drift(side, what, None, f"{what} exists only in the {side}")
    if kind == "replace_or_revert_entity":
        what = _entity(diff[1])
        return Drift("both", what, None, f"{what} differs between the migrations and the models")
    if kind in _ENUM_SIDES:
        _, name, _, values = diff
        side = _ENUM_SIDES[kind]
        return Drift(side, name, None, f"enum type {name} {list(values)} exists only in the {side}")
    _, old, new, columns = diff
    table = columns[0].table_name if columns else "?"
    return Drift(
        "both",
        table,
        columns[0].column_name if columns else None,
        f"enum values are {list(old)} in the migrations but {list(new)} in the models",
    )


def _entity(identity: str) -> str:
    """``PGView: public.county_sync_status`` -> ``view public.county_sync_status``."""
    kind, _, name = identity.partition(": ")
    return f"{kind.removeprefix('PG').lower()} {name.split(' ')[0]}"


def _flatten(entry: Any) -> list[tuple[Any, ...]]:
    return list(entry) if isinstance(entry, list) else [entry]


def _show(value: Any) -> str:
    if value is None:
        return "unset"
    return str(getattr(value, "arg", value)).strip()
