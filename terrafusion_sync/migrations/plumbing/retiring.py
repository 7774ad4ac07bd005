"""What autogenerate and the drift check leave out while a contract revision waits.

Between the phases of a rename the database still has the old column (and its indexes and
unique constraints) while the models have only the new one. That is the plan, not drift:
the waiting contract revision drops them (:mod:`.phases`). The new column is left out too:
until the contract it is nullable behind a ``NOT VALID`` check, and its unique constraint
is still an index, both as planned. So is what a contract that ``completes`` a NOT NULL, a
unique constraint or a foreign key finishes: the column (nullable behind its check), the
index that becomes the constraint, the key not yet valid. So are both columns of a type
change (``retypes``): the one still of the old type and the temporary one of the new type,
with their indexes. After the contract ran, anything left is drift again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

IncludeObject = Callable[[Any, str | None, str, bool, Any], bool]

KEEP_IN_STEP = "tfsync_keep"
"""The prefix of an expand revision's trigger and function keeping old and new in step: the
tooling's, like its tables, so autogenerate and the drift check leave them be."""


def include_object(retiring: Iterable[tuple[str, str]]) -> IncludeObject:
    """For Alembic's ``include_object``: leave out the ``(table, column)`` pairs in
    ``retiring`` (old and new columns of a waiting rename, a NOT NULL's column), indexes and
    unique constraints on them, and constraints and indexes named in it; and always the
    triggers and functions named :data:`KEEP_IN_STEP`."""
    retired = frozenset(retiring)

    def include(obj: Any, name: str | None, type_: str, reflected: bool, _: Any) -> bool:
        if type_ in ("function", "trigger"):  # alembic_utils' entities, named schema.signature
            return not (name or "").split(".")[-1].startswith(KEEP_IN_STEP)
        if not retired:
            return True
        if type_ == "column":
            return (obj.table.name, name) not in retired
        named = type_ in ("index", "unique_constraint", "foreign_key_constraint")
        if named and (obj.table.name, name) in retired:
            return False
        if type_ in ("index", "unique_constraint"):
            return not any((obj.table.name, c.name) in retired for c in obj.columns)
        return True

    return include
