"""See before doing, on the live database (README, Deploying safely): `make plan` per table,
and the read-only pre-flight that makes `make upgrade` refuse a revision the rows would fail.

Each test copies the migrated template (``fresh_database``), puts rows in it, adds pending
revisions to a copy of versions/, and asks the same core the CLI calls.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from terrafusion_sync import migrations
from terrafusion_sync.database import connect
from terrafusion_sync.migrations.planning import preflight

from helpers import HEAD, add_revision, assert_one_line_error, cli, execute

on_loop = pytest.mark.asyncio(loop_scope="session")

REPORTS = (
    "INSERT INTO report_jobs (report_id, report_type, county_id)"
    " SELECT g::text, 'assessment', 'county-' || (g % 50) FROM generate_series(1, 2000) g"
)


async def history_rows(url: URL) -> int:
    async with connect(url) as conn:
        return await conn.scalar(text("SELECT count(*) FROM tfsync_migration_history"))


@on_loop
async def test_plan_shows_per_table_lock_rewrite_size_estimate_and_what_will_fail(
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fresh_database: URL,
    versions: Path,
) -> None:
    await execute(fresh_database, REPORTS, "ANALYZE report_jobs")
    add_revision(
        versions,
        "a12000000001",
        HEAD,
        'op.alter_column("report_jobs", "message", type_=sa.String(500))',
    )
    add_revision(
        versions,
        "a12000000002",
        "a12000000001",
        'op.create_index("ix_county", "report_jobs", ["county_id"], unique=True)',
    )
    env.setenv("TFSYNC_VERSIONS_DIR", str(versions))
    steps_before = await history_rows(fresh_database)

    code, out, err = cli(env, capsys, fresh_database, "upgrade", "--plan", "--format", "json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["current"] == [HEAD]
    assert shown["target"] == "head"
    rewrite, index = shown["revisions"]
    assert rewrite["revision"] == "a12000000001"
    assert rewrite["file"].endswith("a12000000001_test_step.py")
    [jobs] = rewrite["tables"]
    assert set(jobs) == {"table", "lock", "rewrite", "scan", "rows", "bytes", "estimated_lock_s"}
    assert (jobs["table"], jobs["lock"], jobs["rewrite"], jobs["rows"]) == (
        "report_jobs",
        "AccessExclusiveLock",
        True,
        2000,
    )
    assert jobs["bytes"] > 0
    assert jobs["estimated_lock_s"] > 0
    assert rewrite["will_fail"] == []
    assert index["tables"][0]["lock"] == "ShareLock"
    assert index["tables"][0]["scan"] is True
    assert index["will_fail"] == [
        {"table": "report_jobs", "reason": "unique (county_id) over 50 duplicated value(s)"}
    ]

    code, out, _ = cli(env, capsys, fresh_database, "upgrade", "--plan")
    assert code == 0
    assert "report_jobs: AccessExclusiveLock, rewrite" in out
    assert "2000 rows" in out
    assert "(estimate)" in out
    assert "will fail: report_jobs: unique (county_id) over 50 duplicated value(s)" in out
    # it read the database and changed nothing there
    cfg = migrations.alembic_config(versions_dir=versions)
    assert await migrations.current_revisions(fresh_database, cfg) == (HEAD,)
    assert await history_rows(fresh_database) == steps_before


@on_loop
async def test_upgrade_refuses_a_revision_the_rows_would_fail_unless_forced(
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fresh_database: URL,
    versions: Path,
) -> None:
    await execute(fresh_database, REPORTS)
    add_revision(
        versions,
        "a12000000003",
        HEAD,
        'op.alter_column("report_jobs", "message", nullable=False)',
    )
    env.setenv("TFSYNC_VERSIONS_DIR", str(versions))
    cfg = migrations.alembic_config(versions_dir=versions)

    code, _, err = cli(env, capsys, fresh_database, "upgrade")
    assert code == 2
    assert_one_line_error(
        err,
        "revision a12000000003",
        "would fail on the rows there: report_jobs: SET NOT NULL on message, but 2000 row(s)",
        "nothing was run",
        "upgrade --force",
    )
    assert await migrations.current_revisions(fresh_database, cfg) == (HEAD,)

    # forced: the pre-flight is skipped and PostgreSQL itself refuses (rolled back)
    code, _, err = cli(env, capsys, fresh_database, "upgrade", "--force")
    assert code == 2
    assert_one_line_error(err, 'failed: column "message"', "contains null values")

    await execute(fresh_database, "UPDATE report_jobs SET message = 'ok'")
    code, _, err = cli(env, capsys, fresh_database, "upgrade")
    assert code == 0, err
    assert await migrations.current_revisions(fresh_database, cfg) == ("a12000000003",)


PREFLIGHT = {
    "NOT NULL column without a default": (
        "ALTER TABLE report_jobs ADD COLUMN priority integer NOT NULL",
        "adds NOT NULL column priority without a default to a table with rows",
    ),
    "NOT NULL column with a default": (
        "ALTER TABLE report_jobs ADD COLUMN priority integer NOT NULL DEFAULT 0",
        None,
    ),
    "CHECK over breaking rows": (
        "ALTER TABLE report_jobs ADD CONSTRAINT ck CHECK (county_id <> 'county-7')",
        "40 row(s) break CHECK (county_id <> 'county-7')",
    ),
    "CHECK NOT VALID": (
        "ALTER TABLE report_jobs ADD CONSTRAINT ck CHECK (county_id <> 'county-7') NOT VALID",
        None,
    ),
    "foreign key onto missing rows": (
        "ALTER TABLE report_jobs ADD CONSTRAINT fk FOREIGN KEY (county_id)"
        " REFERENCES property_operational (property_id)",
        "2000 row(s) reference no row of property_operational (foreign key on county_id)",
    ),
    "rows written first": (
        "UPDATE report_jobs SET message = 'x'; ALTER TABLE report_jobs ALTER message SET NOT NULL",
        None,
    ),
}


@on_loop
@pytest.mark.parametrize(("sql", "reason"), PREFLIGHT.values(), ids=list(PREFLIGHT))
async def test_preflight_reads_the_rows_there(
    fresh_database: URL, sql: str, reason: str | None
) -> None:
    await execute(fresh_database, REPORTS)
    async with connect(fresh_database) as conn:
        found = await conn.run_sync(lambda c: preflight.check(c, [("r1", sql)]))
    assert [w.reason for w in found] == ([reason] if reason else [])


@on_loop
async def test_validate_constraint_is_checked_against_the_rows_there(fresh_database: URL) -> None:
    await execute(
        fresh_database,
        REPORTS,
        "ALTER TABLE report_jobs ADD CONSTRAINT ck CHECK (county_id <> 'county-7') NOT VALID",
    )
    async with connect(fresh_database) as conn:
        found = await conn.run_sync(
            lambda c: preflight.check(c, [("r1", "ALTER TABLE report_jobs VALIDATE CONSTRAINT ck")])
        )
    assert [w.reason for w in found] == [
        "VALIDATE ck: 40 row(s) break CHECK (((county_id)::text <> 'county-7'::text))"
    ]


@on_loop
async def test_a_user_who_may_only_read_gets_a_static_plan_and_nothing_is_written(
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fresh_database: URL,
    versions: Path,
) -> None:
    reader = f"{fresh_database.database}_reader"[:63]
    await execute(
        fresh_database,
        REPORTS,
        f'CREATE ROLE "{reader}" LOGIN NOCREATEDB',
        f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{reader}"',
    )
    add_revision(
        versions,
        "a12000000004",
        HEAD,
        'op.alter_column("report_jobs", "message", nullable=False)',
    )
    env.setenv("TFSYNC_VERSIONS_DIR", str(versions))
    try:
        code, out, err = cli(env, capsys, fresh_database.set(username=reader), "upgrade", "--plan")
    finally:
        await execute(
            fresh_database,
            f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{reader}"',
            f'DROP ROLE "{reader}"',
        )
    assert code == 0, err
    # no scratch database without CREATEDB: the SQL text's locks, no estimate
    assert "not measured (" in out
    assert "report_jobs: AccessExclusiveLock, full scan; 2000 rows" in out
    assert "lock time unknown" in out
    # the pre-flight needs only SELECT
    assert "will fail: report_jobs: SET NOT NULL on message, but 2000 row(s) hold NULL" in out


@on_loop
async def test_a_column_filled_by_an_earlier_backfill_is_not_said_to_fail(
    fresh_database: URL,
) -> None:
    await execute(fresh_database, REPORTS)
    pending = [
        ("r1", "-- op.backfill on report_jobs, run by tfsync once this revision has committed:\n"),
        ("r2", "ALTER TABLE report_jobs ALTER COLUMN message SET NOT NULL"),
    ]
    async with connect(fresh_database) as conn:
        assert await conn.run_sync(lambda c: preflight.check(c, pending)) == []
        found = await conn.run_sync(lambda c: preflight.check(c, pending[1:]))
    assert [w.table for w in found] == ["report_jobs"]
