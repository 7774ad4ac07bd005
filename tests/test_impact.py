"""Measured, not guessed: what a revision really locks, rewrites and scans (README, Review).

Each case applies one revision to a copy of the migrated test database, its table first
filled with rows made from the column types, and reads what PostgreSQL itself reports:
the lock modes this backend held, whether the table's storage changed, whether it was read
in full. The expectations follow PostgreSQL's documentation (ALTER TABLE, Notes: a
binary-coercible type change or a wider varchar/numeric rewrites nothing; most other type
changes rewrite the table and its indexes; SET NOT NULL and CHECK scan the table; CREATE
INDEX holds a SHARE lock while it reads the table). The same suite runs on the embedded
PostgreSQL 18 and on TEST_DATABASE_URL's server (15 in CI).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.engine import URL, Connection

from terrafusion_sync import migrations
from terrafusion_sync.database import connect
from terrafusion_sync.migrations.planning.impact import (
    SEED_ROWS,
    Impact,
    ImpactMeter,
    measure_upgrade,
)
from terrafusion_sync.migrations.plumbing.steps import ConnectionMigrator
from terrafusion_sync.review import format_json, review

from helpers import HEAD, add_revision, fixture_on_head

on_loop = pytest.mark.asyncio(loop_scope="session")

REV = "e12000000001"


async def measured(url: URL, versions: Path, upgrade: str, touched: list[str]) -> Impact:
    path = add_revision(versions, REV, HEAD, upgrade)
    cfg = migrations.alembic_config(versions_dir=versions)

    def run(conn: Connection) -> Impact:
        stepper = ConnectionMigrator(cfg, conn)
        return measure_upgrade(conn, stepper.upgrade, REV, ImpactMeter(conn, [str(path)]), touched)

    async with connect(url) as conn:
        return await conn.run_sync(run)


def first_line_of_upgrade(versions: Path) -> int:
    """The line of the revision file where ``upgrade()``'s body starts."""
    lines = next(versions.glob(f"*{REV}*.py")).read_text().splitlines()
    return lines.index("def upgrade() -> None:") + 2


CASES = {
    "varchar(64) -> varchar(100)": (
        'op.alter_column("report_jobs", "correlation_id", type_=sa.String(100))',
        "report_jobs",
        ("AccessExclusiveLock", False, False),
    ),
    "varchar -> text": (
        'op.alter_column("report_jobs", "correlation_id", type_=sa.Text())',
        "report_jobs",
        ("AccessExclusiveLock", False, False),
    ),
    "numeric(14,2) -> numeric(16,2)": (
        'op.alter_column("property_operational", "assessed_value", type_=sa.Numeric(16, 2))',
        "property_operational",
        ("AccessExclusiveLock", False, False),
    ),
    "integer -> bigint": (
        'op.alter_column("property_operational", "year_built", type_=sa.BigInteger())',
        "property_operational",
        ("AccessExclusiveLock", True, True),
    ),
    "text -> varchar(500)": (
        'op.alter_column("report_jobs", "message", type_=sa.String(500))',
        "report_jobs",
        ("AccessExclusiveLock", True, True),
    ),
    "SET NOT NULL": (
        'op.alter_column("report_jobs", "message", nullable=False)',
        "report_jobs",
        ("AccessExclusiveLock", False, True),
    ),
    "CREATE INDEX": (
        'op.create_index("ix_report_jobs_message", "report_jobs", ["message"])',
        "report_jobs",
        ("ShareLock", False, True),
    ),
    "CHECK NOT VALID": (
        "op.execute(\"ALTER TABLE report_jobs ADD CONSTRAINT ck CHECK (status <> '') NOT VALID\")",
        "report_jobs",
        ("AccessExclusiveLock", False, False),
    ),
}


@on_loop
@pytest.mark.parametrize(("upgrade", "table", "expected"), CASES.values(), ids=list(CASES))
async def test_a_revision_is_measured_on_rows_made_for_its_table(
    fresh_database: URL,
    versions: Path,
    upgrade: str,
    table: str,
    expected: tuple[str, bool, bool],
) -> None:
    impact = await measured(fresh_database, versions, upgrade, [table])
    assert impact.seeded == {table: SEED_ROWS}
    rel = impact.relations[table]
    assert (rel.lock, rel.rewrite, rel.scan) == expected
    assert (rel.rows, rel.bytes > 0) == (SEED_ROWS, True)
    assert rel.lines == ([first_line_of_upgrade(versions)] if expected[1] or expected[2] else [])
    assert impact.seconds > 0


@on_loop
async def test_a_revision_the_rows_break_is_measured_again_on_empty_tables(
    fresh_database: URL, versions: Path
) -> None:
    impact = await measured(
        fresh_database,
        versions,
        'op.add_column("report_jobs", sa.Column("priority", sa.Integer(), nullable=False))',
        ["report_jobs"],
    )
    assert impact.failed_on_rows is not None
    assert 'column "priority"' in impact.failed_on_rows
    assert impact.relations["report_jobs"].lock == "AccessExclusiveLock"


@on_loop
async def test_work_in_an_autocommit_block_is_seen_outside_the_transaction(
    fresh_database: URL, versions: Path
) -> None:
    impact = await measured(
        fresh_database,
        versions,
        "with op.get_context().autocommit_block():\n"
        '    op.create_index("ix_m", "report_jobs", ["message"], postgresql_concurrently=True)',
        ["report_jobs"],
    )
    concurrently = [s for s in impact.statements if s.line == first_line_of_upgrade(versions) + 1]
    assert concurrently
    assert not concurrently[0].in_transaction
    # its ShareUpdateExclusiveLock was released before anyone could look: no write was blocked
    assert not any(rel.blocks_writes for rel in impact.tables())


@on_loop
async def test_a_confirmed_finding_says_what_was_measured_and_json_carries_it(
    test_database_url: URL, versions: Path
) -> None:
    fixture = "2026_12_01_1000-bad000000031_year_built_as_bigint.py"
    fixture_on_head(Path(__file__).parent / "revisions" / fixture, versions)
    cfg = migrations.alembic_config(versions_dir=versions)
    done = await review(test_database_url, cfg=cfg, lint=False)
    [rewrite] = [f for f in done.findings if f.code == "TF407"]
    assert "rewrote property_operational under AccessExclusiveLock (measured)" in rewrite.message
    shown = json.loads(format_json(done.findings, done.revisions))
    [facts] = [f["measured"] for f in shown["findings"] if f["code"] == "TF407"]
    assert facts["table"] == "property_operational"
    assert (facts["lock"], facts["rewrite"], facts["rows"]) == ("AccessExclusiveLock", True, 1000)
    assert facts["bytes"] > 0
