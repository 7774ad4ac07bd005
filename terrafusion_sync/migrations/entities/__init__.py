"""PostgreSQL objects Alembic's autogenerate does not know: enum types, views, functions,
triggers, through the libraries made for them (alembic-postgresql-enum, alembic_utils).

:func:`compare_with_models` is what ``env.py`` and the drift check call before comparing:
it registers the entities of :mod:`terrafusion_sync.db_objects`. :func:`arrange` is what
``env.py``'s ``process_revision_directives`` calls on a new revision. A run that only
applies revisions never imports this package, so no comparison touches a live database
outside ``revision`` and the drift check.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic.operations.ops import MigrationScript
from alembic_utils.replaceable_entity import ReplaceableEntity

from terrafusion_sync.migrations.entities import enums, replaceable


def compare_with_models(objects: Sequence[ReplaceableEntity] | None = None) -> None:
    """Make autogenerate compare the enum types of the models and ``objects`` (default: the
    entities of ``db_objects.py``) with the database, as well as the tables."""
    if objects is None:
        from terrafusion_sync.db_objects import ENTITIES

        objects = ENTITIES
    replaceable.register(objects)


def arrange(script: MigrationScript) -> None:
    """Put a new revision's operations in an order PostgreSQL accepts (see
    :func:`.replaceable.in_dependency_order` and :func:`.enums.appends_first`)."""
    replaceable.in_dependency_order(script)
    for upgrade_ops, downgrade_ops in zip(
        script.upgrade_ops_list, script.downgrade_ops_list, strict=True
    ):
        enums.appends_first(upgrade_ops)
        downgrade_ops.ops = []
        upgrade_ops.reverse_into(downgrade_ops)
