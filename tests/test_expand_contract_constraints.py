"""README "Zero-downtime changes": NOT NULL, a unique constraint and a foreign key added to
existing tables are written as expand + contract, and run on a table with rows."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import MetaData
from sqlalchemy.engine import URL

from terrafusion_sync import migrations
from terrafusion_sync.core_models import Base
from terrafusion_sync.errors import MigrationError

from helpers import CHAIN, execute, rows, upgrade_past_an_old_snapshot

pytestmark = pytest.mark.asyncio(loop_scope="session")

TABLE = "property_operational"


def constrained() -> MetaData:
    """The models with ``city`` NOT NULL, ``(county_id, property_id)`` unique and
    ``report_jobs.correlation_id`` a foreign key to ``property_operational.property_id``."""
    metadata = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(metadata)
    parcels = metadata.tables[TABLE]
    parcels.c.city.nullable = False
    parcels.append_constraint(sa.UniqueConstraint("county_id", "property_id"))
    metadata.tables["report_jobs"].append_constraint(
        sa.ForeignKeyConstraint(["correlation_id"], [f"{TABLE}.property_id"])
    )
    return metadata


def config(versions: Path) -> object:
    return migrations.alembic_config(versions_dir=versions, target_metadata=constrained())


async def write_pair(url: URL, versions: Path, count: int) -> list[Path]:
    """Upgrade to head, put ``count`` parcels (each with a city) and a report in, write the
    pair; its files."""
    cfg = config(versions)
    await migrations.upgrade(url, cfg=cfg)
    await execute(
        url,
        f"INSERT INTO {TABLE} (property_id, parcel_number, county_id, city, created_at,"
        " updated_at) SELECT 'p' || g, 'parcel-' || g, 'benton', 'Kennewick', now(), now()"
        f" FROM generate_series(1, {count}) AS g",
        "INSERT INTO report_jobs (report_id, report_type, county_id, correlation_id)"
        " VALUES ('r1', 'roll', 'benton', 'p1')",
    )
    return await migrations.revision(url, "constrain parcels", cfg=cfg)


async def constraints(url: URL) -> list[tuple[str, str, bool]]:
    """The pair's constraints: name, kind (c/u/f) and whether valid."""
    return await rows(
        url,
        "SELECT conname::text, contype::text, convalidated FROM pg_constraint"
        " WHERE conrelid IN ('property_operational'::regclass, 'report_jobs'::regclass)"
        f" AND conname IN ('{CHECK}', '{UNIQUE}', '{FOREIGN}') ORDER BY conname",
    )


async def city_nullable(url: URL) -> list[tuple[str]]:
    return await rows(
        url,
        "SELECT is_nullable FROM information_schema.columns"
        f" WHERE table_name = '{TABLE}' AND column_name = 'city'",
    )


UNIQUE = "uq_property_operational_county_id_property_id"
FOREIGN = "fk_report_jobs_correlation_id_property_operational"
CHECK = "ck_property_operational_city_not_null"


async def test_not_null_unique_and_foreign_key_are_written_as_expand_then_contract(
    scratch_url: URL, versions: Path
) -> None:
    expand, contract = await write_pair(scratch_url, versions, 10)
    assert expand.name.endswith("_constrain_parcels_expand.py")
    assert contract.name.endswith("_constrain_parcels_contract.py")
    up = expand.read_text().split("def downgrade")[0]
    assert 'phase = "expand"' in up
    assert f"ADD CONSTRAINT {CHECK} CHECK (city IS NOT NULL) NOT VALID" in up
    assert f"CREATE UNIQUE INDEX CONCURRENTLY {UNIQUE}" in up
    assert "autocommit_block" in up
    assert f"ADD CONSTRAINT {FOREIGN} FOREIGN KEY(correlation_id)" in up
    assert "NOT VALID" in up
    assert "SET NOT NULL" not in up
    assert "nullable=False" not in up
    down = contract.read_text()
    assert 'phase = "contract"' in down
    assert "retires" not in down
    assert runpy.run_path(str(contract))["completes"] == {
        f"{TABLE}.city": "not null",
        f"{TABLE}.{UNIQUE}": "unique",
        f"report_jobs.{FOREIGN}": "foreign key",
    }
    body = down.split("def downgrade")[0]
    assert f"VALIDATE CONSTRAINT {CHECK}" in body
    assert "ALTER COLUMN city SET NOT NULL" in body
    assert f"ADD CONSTRAINT {UNIQUE} UNIQUE USING INDEX {UNIQUE}" in body
    assert f"VALIDATE CONSTRAINT {FOREIGN}" in body
    state = await migrations.status(scratch_url, config(versions))
    assert [state.phase(s) for s in state.pending] == ["expand", "contract"]


async def test_an_expand_whose_index_build_timed_out_runs_again_over_what_it_left(
    scratch_url: URL, versions: Path
) -> None:
    """The unique index is built CONCURRENTLY, committing the checks added before it, then
    waits for every older snapshot under lock_timeout: the runner's retry runs the expand
    again over the constraints and the invalid index that attempt left."""
    await write_pair(scratch_url, versions, 50)
    done, _ = await upgrade_past_an_old_snapshot(scratch_url, config(versions))
    assert len(done.applied) == 1
    assert await constraints(scratch_url) == [(CHECK, "c", False), (FOREIGN, "f", False)]
    assert await rows(
        scratch_url, f"SELECT indisvalid FROM pg_index WHERE indexrelid = '{UNIQUE}'::regclass"
    ) == [(True,)]


async def test_upgrade_adds_them_not_valid_and_contract_runs_at_once_on_rows(
    scratch_url: URL, versions: Path
) -> None:
    await write_pair(scratch_url, versions, 500)
    cfg = config(versions)
    expanded = await migrations.upgrade(scratch_url, cfg=cfg)
    assert len(expanded.applied) == 1
    assert "1 contract revision(s) wait" in expanded.summary()
    assert await constraints(scratch_url) == [
        (CHECK, "c", False),
        (FOREIGN, "f", False),
    ]
    assert await rows(
        scratch_url, f"SELECT indisvalid FROM pg_index WHERE indexrelid = '{UNIQUE}'::regclass"
    ) == [(True,)]
    # the expand already holds for new writes: a NULL city or a key to nowhere fails
    with pytest.raises(Exception, match=CHECK):
        await execute(scratch_url, f"UPDATE {TABLE} SET city = NULL WHERE property_id = 'p1'")
    # between the phases the models and the database do not differ: nothing to write
    with pytest.raises(MigrationError, match="do not differ"):
        await migrations.revision(scratch_url, "nothing", cfg=cfg)
    # no old column: no quiet period to wait for (the default is 15min)
    contracted = await migrations.upgrade(scratch_url, cfg=cfg, contract=True)
    assert len(contracted.applied) == 1
    assert not contracted.waiting
    assert await constraints(scratch_url) == [
        (FOREIGN, "f", True),
        (UNIQUE, "u", True),
    ]
    assert await city_nullable(scratch_url) == [("NO",)]
    assert await migrations.compare_models(scratch_url, constrained()) == []


async def test_each_half_downgrades_to_where_it_started(scratch_url: URL, versions: Path) -> None:
    await write_pair(scratch_url, versions, 50)
    cfg = config(versions)
    assert await constraints(scratch_url) == []
    await migrations.upgrade(scratch_url, cfg=cfg)
    await migrations.upgrade(scratch_url, cfg=cfg, contract=True)
    await migrations.downgrade(scratch_url, "-1", cfg=cfg)  # the contract
    # the check and the key NOT VALID again, the unique index no constraint
    assert await constraints(scratch_url) == [(CHECK, "c", False), (FOREIGN, "f", False)]
    assert await rows(scratch_url, f"SELECT to_regclass('{UNIQUE}')::text") == [(UNIQUE,)]
    assert await city_nullable(scratch_url) == [("YES",)]
    await migrations.downgrade(scratch_url, "-1", cfg=cfg)  # the expand
    assert await constraints(scratch_url) == []
    assert await rows(scratch_url, f"SELECT to_regclass('{UNIQUE}')::text") == [(None,)]
    # and up again, as the review's stairway does
    await migrations.upgrade(scratch_url, "heads", cfg=cfg)
    assert await city_nullable(scratch_url) == [("NO",)]


async def test_the_review_passes_the_constraint_pair(
    scratch_url: URL, test_database_url: URL, versions: Path
) -> None:
    from terrafusion_sync.review import review

    await write_pair(scratch_url, versions, 0)
    done = await review(test_database_url, cfg=config(versions), lint=False)
    assert [f.render() for f in done.findings] == []
    assert done.revisions == len(CHAIN) + 2  # the project's, the expand, the contract
