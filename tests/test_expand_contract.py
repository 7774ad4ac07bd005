"""README "Zero-downtime changes": a rename written as expand + contract, run in two phases."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import MetaData
from sqlalchemy.engine import URL

from terrafusion_sync import migrations
from terrafusion_sync.errors import MigrationError

from helpers import cli, execute, models, rows

pytestmark = pytest.mark.asyncio(loop_scope="session")

TABLE = "property_operational"
RENAME = f"{TABLE}.parcel_number=parcel_no"


def renamed() -> MetaData:
    """The models with ``parcel_number`` renamed to ``parcel_no`` (still NOT NULL)."""
    metadata = models()
    table = metadata.tables[TABLE]
    table._columns.remove(table.c.parcel_number)  # noqa: SLF001 - a test-only model change
    table.append_column(sa.Column("parcel_no", sa.String(64), nullable=False))
    return metadata


async def fill(url: URL, count: int) -> None:
    """``count`` rows in the table, each with its own parcel number."""
    await execute(
        url,
        f"INSERT INTO {TABLE} (property_id, parcel_number, county_id, created_at, updated_at)"
        f" SELECT 'p' || g, 'parcel-' || g, 'benton', now(), now()"
        f" FROM generate_series(1, {count}) AS g",
    )


async def write_pair(url: URL, versions: Path) -> list[Path]:
    """Upgrade ``url`` to head, then write the rename's pair; the files written."""
    cfg = migrations.alembic_config(versions_dir=versions, target_metadata=renamed())
    await migrations.upgrade(url, cfg=cfg)
    return await migrations.revision(url, "rename parcel number", cfg=cfg, renames=[RENAME])


def config(versions: Path) -> object:
    return migrations.alembic_config(versions_dir=versions, target_metadata=renamed())


async def test_a_rename_is_written_as_expand_then_contract(
    scratch_url: URL, versions: Path
) -> None:
    expand, contract = await write_pair(scratch_url, versions)
    assert expand.name.endswith("_rename_parcel_number_expand.py")
    assert contract.name.endswith("_rename_parcel_number_contract.py")
    up = expand.read_text()
    assert 'phase = "expand"' in up
    assert "drop_column" not in up.split("def downgrade")[0]
    assert "CREATE TRIGGER" in up
    assert "op.backfill(" in up
    down = contract.read_text()
    assert 'phase = "contract"' in down
    assert 'retires = ("property_operational.parcel_number",)' in down
    state = await migrations.status(scratch_url, config(versions))
    assert [state.phase(s) for s in state.pending] == ["expand", "contract"]
