"""README "Zero-downtime changes": a NOT NULL pair fills old NULLs from the default, or says so."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import MetaData
from sqlalchemy.engine import URL

from terrafusion_sync import migrations
from terrafusion_sync.core_models import Base
from terrafusion_sync.migrations.planning.preflight import PreflightRefused

from helpers import execute, rows
from test_expand_contract import renamed

pytestmark = pytest.mark.asyncio(loop_scope="session")

TABLE = "property_operational"
CHECK = "ck_property_operational_city_not_null"
CITY_NULLS = f"SELECT count(*) FROM {TABLE} WHERE city IS NULL"
CITY_NULLABLE = (
    "SELECT is_nullable FROM information_schema.columns"
    f" WHERE table_name = '{TABLE}' AND column_name = 'city'"
)


def city_required(default: str | None) -> MetaData:
    """The models with ``city`` NOT NULL (with ``default`` as its server default)."""
    metadata = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(metadata)
    city = metadata.tables[TABLE].c.city
    city.nullable = False
    if default is not None:
        city.server_default = sa.DefaultClause(default)
    return metadata


def town_for_city() -> MetaData:
    """The models with ``city`` renamed ``town``, NOT NULL with a default."""
    metadata = renamed("city", "town")
    town = metadata.tables[TABLE].c.town
    town.nullable = False
    town.server_default = sa.DefaultClause("unknown")
    return metadata


async def write_pair(url: URL, versions: Path, models: MetaData, **options: object) -> list[Path]:
    """Upgrade to head, put 4 parcels in (2 with no city), write the models' pair."""
    cfg = migrations.alembic_config(versions_dir=versions, target_metadata=models)
    await migrations.upgrade(url, cfg=cfg)
    await execute(
        url,
        f"INSERT INTO {TABLE} (property_id, parcel_number, county_id, city, created_at,"
        " updated_at) SELECT 'p' || g, 'parcel-' || g, 'benton',"
        " CASE WHEN g % 2 = 0 THEN 'Kennewick' END, now(), now() FROM generate_series(1, 4) g",
    )
    return await migrations.revision(url, "require city", cfg=cfg, **options)  # type: ignore[arg-type]


async def test_a_not_null_with_a_default_fills_the_nulls_in_its_expand(
    scratch_url: URL, versions: Path
) -> None:
    models = city_required("unknown")
    said: list[str] = []
    expand, _ = await write_pair(scratch_url, versions, models, report=said.append)
    assert said == []
    up = expand.read_text().split("def downgrade")[0]
    assert (
        """op.backfill("property_operational", set="city = 'unknown'", where="city IS NULL")"""
        in up
    )
    cfg = migrations.alembic_config(versions_dir=versions, target_metadata=models)
    await migrations.upgrade(scratch_url, cfg=cfg)
    assert await rows(scratch_url, CITY_NULLS) == [(0,)]
    done = await migrations.upgrade(scratch_url, cfg=cfg, contract=True)
    assert len(done.applied) == 1
    assert await rows(scratch_url, CITY_NULLABLE) == [("NO",)]
    assert await rows(scratch_url, f"SELECT count(*) FROM {TABLE} WHERE city = 'unknown'") == [(2,)]


async def test_without_a_default_revision_says_so_and_the_plan_and_contract_see_the_nulls(
    scratch_url: URL, versions: Path
) -> None:
    models = city_required(None)
    said: list[str] = []
    expand, _ = await write_pair(scratch_url, versions, models, report=said.append)
    assert said == [
        "note: property_operational.city becomes NOT NULL and has no server default: rows "
        "where it is NULL must be filled before `make contract`, with an op.backfill in the "
        """expand (op.backfill('property_operational', set="city = ...", where="city IS NULL"))"""
    ]
    assert "op.backfill" not in expand.read_text()
    cfg = migrations.alembic_config(versions_dir=versions, target_metadata=models)
    await migrations.upgrade(scratch_url, cfg=cfg)

    plan = await migrations.plan(scratch_url, cfg=cfg)
    reason = f"VALIDATE {CHECK}: 2 row(s) are NULL in city"
    assert [(f.table, f.reason) for f in plan.waiting_fail] == [(TABLE, reason)]
    assert any(
        f"will fail: {TABLE}: {reason}" in line for line in plan.describe_lines("db", "head")
    )

    with pytest.raises(PreflightRefused) as refused:
        await migrations.upgrade(scratch_url, cfg=cfg, contract=True)
    assert f"{TABLE}: {reason}; nothing was run" in str(refused.value)
    assert await rows(scratch_url, CITY_NULLABLE) == [("YES",)]
    assert await rows(
        scratch_url, f"SELECT convalidated FROM pg_constraint WHERE conname = '{CHECK}'"
    ) == [(False,)]

    await execute(scratch_url, f"UPDATE {TABLE} SET city = 'Pasco' WHERE city IS NULL")
    assert (await migrations.plan(scratch_url, cfg=cfg)).waiting_fail == []
    await migrations.upgrade(scratch_url, cfg=cfg, contract=True)
    assert await rows(scratch_url, CITY_NULLABLE) == [("NO",)]


async def test_a_rename_to_a_not_null_column_fills_old_nulls_from_its_default(
    scratch_url: URL, versions: Path
) -> None:
    models = town_for_city()
    expand, _ = await write_pair(scratch_url, versions, models, renames=[f"{TABLE}.city=town"])
    up = expand.read_text().split("def downgrade")[0]
    assert """set="town = 'unknown'", where="town IS NULL")""" in up
    cfg = migrations.alembic_config(versions_dir=versions, target_metadata=models)
    await migrations.upgrade(scratch_url, cfg=cfg)
    assert await rows(
        scratch_url, f"SELECT property_id, city, town FROM {TABLE} ORDER BY property_id"
    ) == [
        ("p1", "unknown", "unknown"),
        ("p2", "Kennewick", "Kennewick"),
        ("p3", "unknown", "unknown"),
        ("p4", "Kennewick", "Kennewick"),
    ]
    await migrations.upgrade(scratch_url, cfg=cfg, contract=True, force=True)
    assert await rows(
        scratch_url,
        "SELECT is_nullable FROM information_schema.columns"
        f" WHERE table_name = '{TABLE}' AND column_name = 'town'",
    ) == [("NO",)]
