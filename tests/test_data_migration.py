"""``migration_runner``: a data migration tested between two revisions, on a copy of versions/.

The revision under test is written into a temporary copy of ``versions/``, never into
the real folder; ``migration_config`` points the runner at that copy.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.config import Config

from terrafusion_sync import migrations
from terrafusion_sync.testing import MigrationRunner

pytestmark = pytest.mark.asyncio(loop_scope="session")

UPPERCASE_COUNTIES = "d47a00000001"
DATA_MIGRATION = '''"""county ids in upper case

Revision ID: {rev}
Revises: {down}
"""

from alembic import op

revision = {rev!r}
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE property_operational SET county_id = upper(county_id)")


def downgrade() -> None:
    op.execute("UPDATE property_operational SET county_id = lower(county_id)")
'''

BEFORE = migrations.script_directory(migrations.alembic_config()).get_current_head() or ""


@pytest.fixture
def migration_config(versions: Path) -> Config:
    """The project's revisions plus the data migration under test, in a temporary folder."""
    source = DATA_MIGRATION.format(rev=UPPERCASE_COUNTIES, down=BEFORE)
    (versions / f"2099_01_01_0000-{UPPERCASE_COUNTIES}_uppercase_counties.py").write_text(source)
    return migrations.alembic_config(versions_dir=versions)


async def test_counties_are_upper_cased_and_back(migration_runner: MigrationRunner) -> None:
    assert await migration_runner.current() == ()
    await migration_runner.upgrade(BEFORE)
    await migration_runner.execute(
        "INSERT INTO property_operational (property_id, parcel_number, county_id)"
        " VALUES (:id, :parcel, :county)",
        [
            {"id": "p-1", "parcel": "1", "county": "benton"},
            {"id": "p-2", "parcel": "2", "county": "Franklin"},
        ],
    )

    assert await migration_runner.upgrade(UPPERCASE_COUNTIES) == [UPPERCASE_COUNTIES]
    rows = await migration_runner.execute(
        "SELECT property_id, county_id FROM property_operational ORDER BY property_id"
    )
    assert [tuple(row) for row in rows] == [("p-1", "BENTON"), ("p-2", "FRANKLIN")]

    await migration_runner.downgrade(BEFORE)
    assert await migration_runner.current() == (BEFORE,)
    async with migration_runner.connect() as conn:
        counties = await conn.exec_driver_sql("SELECT county_id FROM property_operational")
        assert sorted(counties.scalars()) == ["benton", "franklin"]
