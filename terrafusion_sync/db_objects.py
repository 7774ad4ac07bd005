"""Views, functions and triggers: what the models cannot say, declared once beside them.

Each entry of :data:`ENTITIES` is an alembic_utils entity; ``revision`` (and plain ``alembic
revision --autogenerate``) creates, replaces or drops it in the database the way it does a
table, and the drift check reports one that differs from the migrations. Revisions never
import this module: autogenerate writes each entity into the revision as it is today.
"""

from __future__ import annotations

from alembic_utils.pg_function import PGFunction
from alembic_utils.pg_trigger import PGTrigger
from alembic_utils.pg_view import PGView
from alembic_utils.replaceable_entity import ReplaceableEntity

from terrafusion_sync.core_models import Base

SCHEMA = "public"

set_updated_at = PGFunction(
    schema=SCHEMA,
    signature="tfsync_set_updated_at()",
    definition="""RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$""",
)
"""Keeps ``updated_at`` true whichever program writes the row (``onupdate`` only covers
writes through the ORM)."""


def updated_at_trigger(table: str) -> PGTrigger:
    """The trigger that calls :data:`set_updated_at` before every update of ``table``."""
    return PGTrigger(
        schema=SCHEMA,
        signature=f"{table}_set_updated_at",
        on_entity=f"{SCHEMA}.{table}",
        definition=(
            f"BEFORE UPDATE ON {SCHEMA}.{table} FOR EACH ROW "
            f"EXECUTE FUNCTION {SCHEMA}.tfsync_set_updated_at()"
        ),
    )


county_sync_status = PGView(
    schema=SCHEMA,
    signature="county_sync_status",
    definition="""SELECT county_id,
       count(*) AS parcels,
       count(*) FILTER (WHERE sync_status = 'pending') AS pending,
       count(*) FILTER (WHERE sync_status = 'synced') AS synced,
       count(*) FILTER (WHERE sync_status <> 'pending' AND sync_status <> 'synced') AS other,
       max(sync_timestamp) AS last_synced_at
  FROM public.property_operational
 GROUP BY county_id""",
)
"""Sync status per county, for the reports: parcels, how many wait, when the last synced.

No ``NOT IN (...)``: PostgreSQL prints it back as an array comparison that does not print
back the same way again, so the view restored by a downgrade would look changed."""

TABLES_WITH_UPDATED_AT = sorted(
    table.name for table in Base.metadata.sorted_tables if "updated_at" in table.c
)

ENTITIES: list[ReplaceableEntity] = [
    set_updated_at,
    *(updated_at_trigger(table) for table in TABLES_WITH_UPDATED_AT),
    county_sync_status,
]
"""Every view, function and trigger of the schema; the order does not matter."""
