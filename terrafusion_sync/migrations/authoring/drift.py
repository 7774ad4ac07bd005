"""Drift: how the models differ from the schema a database actually has."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import SAWarning

from terrafusion_sync.core_models import Base
from terrafusion_sync.database import connect
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
    url: URL, metadata: MetaData | None = None, retiring: Iterable[tuple[str, str]] = ()
) -> list[Drift]:
    """Compare ``metadata`` (default: the models) with the schema of the database at ``url``.

    The ``retiring`` ``(table, column)`` pairs, old columns a waiting contract revision will
    drop, are not drift (see :mod:`..plumbing.phases`).
    """
    metadata = metadata if metadata is not None else Base.metadata

    def compare(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "target_metadata": metadata,
                "include_name": include_name,
                "include_object": include_object(retiring),
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


def _flatten(entry: Any) -> list[tuple[Any, ...]]:
    return list(entry) if isinstance(entry, list) else [entry]


def _show(value: Any) -> str:
    if value is None:
        return "unset"
    return str(getattr(value, "arg", value)).strip()
