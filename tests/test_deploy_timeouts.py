"""Never stall the application: lock_timeout and statement_timeout before each revision.

README "Deploying safely": a DDL statement that waits for its table lock gives way to the
application's writers, is retried, then fails naming the busy table and who holds it; a
revision may set its own timeouts; the settings are validated.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from terrafusion_sync import migrations
from terrafusion_sync.database import connect
from terrafusion_sync.errors import ConfigError
from terrafusion_sync.migrations.deploy import history
from terrafusion_sync.settings import load_settings

from helpers import (
    HEAD,
    add_revision,
    assert_one_line_error,
    current,
    finish,
    rows,
    spawn,
    wait_for,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_timeouts_are_set_before_each_revision_and_a_revision_can_override_them(
    scratch_url: URL, versions: Path
) -> None:
    seen = (
        "op.execute(\"INSERT INTO seen SELECT '{rev}', current_setting('lock_timeout'),"
        " current_setting('statement_timeout')\")"
    )
    add_revision(
        versions,
        "d4000000000d",
        HEAD,
        "op.execute('CREATE TABLE seen (rev text, lock text, stmt text)')\n"
        + seen.format(rev="d4"),
        header='lock_timeout = "250ms"\nstatement_timeout = "0"\n',
    )
    add_revision(versions, "e5000000000e", "d4000000000d", seen.format(rev="e5"))
    cfg = migrations.alembic_config(versions_dir=versions)
    limits = migrations.Timeouts(lock="2s", statement="10min")
    await migrations.upgrade(scratch_url, cfg=cfg, limits=limits)

    assert await rows(scratch_url, "SELECT rev, lock, stmt FROM seen ORDER BY rev") == [
        ("d4", "250ms", "0"),
        ("e5", "2s", "10min"),
    ]
    plan = await migrations.plan(scratch_url, cfg=cfg)  # at head: nothing planned
    assert plan.revisions == []


async def test_blocked_alter_gives_way_to_writers_retries_then_names_the_busy_table(
    scratch_url: URL, versions: Path
) -> None:
    add_revision(
        versions,
        "f6000000000f",
        HEAD,
        "op.add_column('report_jobs', sa.Column('priority', sa.Integer()))",
        "op.drop_column('report_jobs', 'priority')",
    )
    cfg = migrations.alembic_config(versions_dir=versions)
    await migrations.upgrade(scratch_url, HEAD, cfg=cfg)

    async with connect(scratch_url) as blocker, connect(scratch_url) as writer:
        await blocker.execute(text("SET application_name = 'nightly-report'"))
        await blocker.execute(text("SELECT count(*) FROM report_jobs"))  # holds ACCESS SHARE
        migrating = spawn(
            scratch_url,
            "upgrade",
            versions=versions,
            TFSYNC_LOCK_TIMEOUT="1s",
            TFSYNC_LOCK_RETRIES="2",
        )
        await wait_for(  # the ALTER is queued behind the blocker
            scratch_url,
            "SELECT 1 FROM pg_locks WHERE relation = to_regclass('report_jobs')"
            " AND mode = 'AccessExclusiveLock' AND NOT granted",
        )
        # A writer queues behind the ALTER. Without lock_timeout the ALTER would wait for
        # the blocker forever, and the writer with it, until this safety net cancels it.
        await writer.execute(text("SET statement_timeout = '60s'"))
        await writer.execute(
            text(
                "INSERT INTO report_jobs (report_id, report_type, county_id) VALUES ('w', 't', 'c')"
            )
        )
        await writer.commit()
        still_blocking = await rows(
            scratch_url,
            "SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE a.application_name = 'nightly-report' AND l.granted"
            " AND l.relation = to_regclass('report_jobs')",
        )
        assert still_blocking, "the writer got through only because the blocker let go"
        code, out, err = await asyncio.to_thread(finish, migrating)
        await blocker.rollback()

    assert code == 2
    assert_one_line_error(
        err,
        "could not lock table report_jobs",
        "'nightly-report'",
        "lock_timeout 1s, 3 attempts",
        "ALTER TABLE report_jobs ADD COLUMN priority INTEGER",
    )
    assert "retry 1 of 2" in out
    assert "retry 2 of 2" in out
    assert await current(scratch_url, versions) == (HEAD,)
    assert await rows(scratch_url, "SELECT report_id FROM report_jobs") == [("w",)]
    failures = await rows(
        scratch_url, f"SELECT revision FROM {history.TABLE_NAME} WHERE NOT success"
    )
    assert failures == [("f6000000000f",)] * 3

    await migrations.upgrade(scratch_url, cfg=cfg)  # the table is quiet now
    assert await current(scratch_url, versions) == ("f6000000000f",)


async def test_timeout_settings_are_validated(tmp_path: Path) -> None:
    base = {"TFSYNC_ENV_FILE": str(tmp_path / "none")}
    settings = load_settings(base)
    assert (settings.lock_timeout, settings.statement_timeout, settings.lock_retries) == (
        "5s",
        "1h",
        3,
    )
    settings = load_settings(base | {"TFSYNC_LOCK_TIMEOUT": "750ms", "TFSYNC_LOCK_RETRIES": "5"})
    assert (settings.lock_timeout, settings.lock_retries) == ("750ms", 5)
    with pytest.raises(ConfigError, match="TFSYNC_LOCK_TIMEOUT is '5 parsecs'"):
        load_settings(base | {"TFSYNC_LOCK_TIMEOUT": "5 parsecs"})
    with pytest.raises(ConfigError, match="TFSYNC_LOCK_RETRIES"):
        load_settings(base | {"TFSYNC_LOCK_RETRIES": "many"})
