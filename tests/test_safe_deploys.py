"""Safe upgrades on a live database: lock, all-or-nothing revisions, timeouts, history, guard.

Real PostgreSQL, real concurrent ``python -m terrafusion_sync`` processes, real SIGKILL.
Revisions of a test's own go into a copy of versions/ in a temporary folder.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command as alembic_command
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection

from terrafusion_sync import migrations
from terrafusion_sync.cli import main
from terrafusion_sync.database import application_name, connect
from terrafusion_sync.errors import ConfigError
from terrafusion_sync.migrations import guard, history, lock
from terrafusion_sync.settings import load_settings

from helpers import HANG_GUARD, add_revision, assert_one_line_error, finish, tables

pytestmark = pytest.mark.asyncio(loop_scope="session")

INITIAL = "0b22f05953e4"
APP_TABLES = {"property_operational", "report_jobs"}


def cli(
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    url: URL,
    *argv: str,
    versions: Path | None = None,
) -> tuple[int, str, str]:
    """``tfsync ARGV`` in-process against ``url`` (and a versions folder)."""
    env.setenv("DATABASE_URL", url.render_as_string(hide_password=False))
    if versions is not None:
        env.setenv("TFSYNC_VERSIONS_DIR", str(versions))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def spawn(
    url: URL,
    *argv: str,
    versions: Path | None = None,
    module: str | None = "terrafusion_sync",
    **extra: str,
) -> subprocess.Popen:
    """``python -m terrafusion_sync ARGV`` (or ``python ARGV``) as a real process on ``url``."""
    return subprocess.Popen(
        [sys.executable, *(["-m", module] if module else []), *argv],
        env=process_environ(url, versions, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def process_environ(url: URL, versions: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment of a real process run against ``url`` (and a versions folder)."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TFSYNC_") and k not in {"DATABASE_URL", "TEST_DATABASE_URL"}
    }
    environ |= {
        "DATABASE_URL": url.render_as_string(hide_password=False),
        "TFSYNC_ENV_FILE": os.devnull,
        **extra,
    }
    if versions is not None:
        environ["TFSYNC_VERSIONS_DIR"] = str(versions)
    return environ


async def rows(url: URL, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    async with connect(url) as conn:
        return [tuple(r) for r in await conn.execute(text(sql), params)]


async def execute(url: URL, sql: str) -> None:
    """Run ``sql`` on ``url`` and commit it."""
    async with connect(url) as conn:
        await conn.execute(text(sql))
        await conn.commit()


async def current(url: URL, versions: Path | None = None) -> tuple[str, ...]:
    cfg = migrations.alembic_config(versions_dir=versions)
    return await migrations.current_revisions(url, cfg)


async def wait_for(url: URL, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Poll until ``sql`` returns rows."""
    for _ in range(HANG_GUARD * 10):
        found = await rows(url, sql, **params)
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened: {sql}")


async def advisory_holders(url: URL) -> list[tuple[Any, ...]]:
    """Sessions holding or awaiting the migration lock of ``url``'s database only: tests on
    other workers' scratch databases hold their own at the same time."""
    return await rows(
        url,
        "SELECT pid, granted FROM pg_locks WHERE locktype = 'advisory' AND classid = :ns"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        ns=lock.NAMESPACE,
    )


# -- 1. one runner at a time ------------------------------------------------------------


async def test_eight_concurrent_upgrades_apply_each_revision_once(
    scratch_url: URL, versions: Path
) -> None:
    add_revision(  # long enough that the runners overlap
        versions,
        "a1000000000a",
        INITIAL,
        "op.execute('SELECT pg_sleep(1)')\n"
        "op.add_column('report_jobs', sa.Column('priority', sa.Integer()))",
        "op.drop_column('report_jobs', 'priority')",
    )
    runners = [spawn(scratch_url, "upgrade", versions=versions) for _ in range(8)]
    results = [finish(p) for p in runners]

    assert [code for code, _, _ in results] == [0] * 8, [err for _, _, err in results]
    assert await current(scratch_url, versions) == ("a1000000000a",)
    assert await tables(scratch_url) == APP_TABLES
    applied = await rows(
        scratch_url,
        f"SELECT revision, count(*) FROM {history.TABLE_NAME}"
        " WHERE direction = 'upgrade' AND success GROUP BY revision ORDER BY revision",
    )
    assert dict(applied) == {INITIAL: 1, "a1000000000a": 1}
    assert await rows(scratch_url, f"SELECT 1 FROM {history.TABLE_NAME} WHERE NOT success") == []
    assert sum("nothing to do" in out for _, out, _ in results) >= 6
    assert await advisory_holders(scratch_url) == []


async def test_second_runner_waits_names_the_holder_then_finds_nothing_to_do(
    scratch_url: URL,
) -> None:
    async with connect(scratch_url) as holder:
        await holder.run_sync(lambda c: lock.acquire(c, print))
        backend = (await holder.execute(text("SELECT pg_backend_pid()"))).scalar()
        waiting = spawn(scratch_url, "upgrade")
        line = await asyncio.to_thread(waiting.stdout.readline)  # "upgrading database: ..."
        line = await asyncio.to_thread(waiting.stdout.readline)
        assert "waiting for the migration lock" in line
        assert application_name() in line
        assert f"backend pid {backend}" in line
        # the holder does the work while the other waits
        cfg = migrations.alembic_config()
        await holder.run_sync(
            lambda c: migrations.runner.migrate(
                c, cfg, "head", upgrading=True, limits=migrations.Timeouts(), report=print
            )
        )
        await holder.run_sync(lock.release)

    code, out, err = finish(waiting)
    assert code == 0, err
    assert "got the migration lock" in out
    assert "nothing to do" in out
    assert await rows(
        scratch_url, f"SELECT revision FROM {history.TABLE_NAME} WHERE direction = 'upgrade'"
    ) == [(INITIAL,)]


# -- 2. all or nothing per revision -----------------------------------------------------


async def test_failing_revision_rolls_back_names_file_and_statement_then_continues(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scratch_url: URL, versions: Path
) -> None:
    bad = add_revision(
        versions,
        "b2000000000b",
        INITIAL,
        "op.create_table('half_done', sa.Column('id', sa.Integer(), primary_key=True))\n"
        "op.execute('ALTER TABLE report_jobs ADD COLUMN priority nonsense_type')",
        "op.drop_column('report_jobs', 'priority')\nop.drop_table('half_done')",
        doc="half done",
    )
    code, out, err = cli(env, capsys, scratch_url, "upgrade", versions=versions)
    assert code == 2
    assert_one_line_error(
        err,
        f"revision b2000000000b ({bad.name}) failed",
        "ALTER TABLE report_jobs ADD COLUMN priority nonsense_type",
        'type "nonsense_type" does not exist',
        f"the database stays at {INITIAL}",
    )
    assert f"upgraded   {INITIAL}" in out  # the revision before it is applied and stays
    assert await current(scratch_url, versions) == (INITIAL,)
    assert await tables(scratch_url) == APP_TABLES  # no half_done
    failed = await rows(
        scratch_url, f"SELECT revision, error FROM {history.TABLE_NAME} WHERE NOT success"
    )
    assert [r for r, _ in failed] == ["b2000000000b"]
    assert "nonsense_type" in failed[0][1]

    bad.write_text(bad.read_text().replace("nonsense_type", "integer"))
    shutil.rmtree(versions / "__pycache__", ignore_errors=True)
    code, out, err = cli(env, capsys, scratch_url, "upgrade", versions=versions)
    assert code == 0, err
    assert "upgraded   b2000000000b" in out
    assert f"upgraded   {INITIAL}" not in out
    assert await tables(scratch_url) == APP_TABLES | {"half_done"}


async def test_unreadable_revision_file_is_named_and_nothing_changes(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scratch_url: URL, versions: Path
) -> None:
    broken = versions / "2026_12_31_0000-d5000000000d_gone.py"
    broken.symlink_to(versions / "moved_away.py")  # a link whose target is gone
    code, _, err = cli(env, capsys, scratch_url, "upgrade", versions=versions)
    assert code == 2
    assert_one_line_error(err, f"cannot read revision file {broken.name}", "nothing was changed")
    assert await tables(scratch_url, tooling=True) == set()


@pytest.mark.parametrize(
    ("header", "upgrade", "said"),
    [
        ("", "op.execute('SELECT 1'", "'(' was never closed"),
        ("import county_helpers_not_installed", "pass", "No module named 'county_helpers_not"),
    ],
    ids=["syntax-error", "failing-import"],
)
async def test_revision_file_that_cannot_load_is_named_and_nothing_changes(
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    scratch_url: URL,
    versions: Path,
    header: str,
    upgrade: str,
    said: str,
) -> None:
    bad = add_revision(versions, "d6000000000d", INITIAL, upgrade, header=header)
    for command in ("upgrade", "status"):
        code, _, err = cli(env, capsys, scratch_url, command, versions=versions)
        assert code == 2
        assert_one_line_error(err, f"cannot load revision file {bad.name} (line ", said)
    assert await tables(scratch_url, tooling=True) == set()


async def upgrade_stuck_mid_revision(
    url: URL, versions: Path, revision: str
) -> tuple[Path, subprocess.Popen, int]:
    """A revision that creates a table then sleeps, a real upgrade process stuck in it, and
    the pid of the backend running the sleep: its file, the process, the pid."""
    slow = add_revision(
        versions,
        revision,
        INITIAL,
        "op.create_table('half_done', sa.Column('id', sa.Integer(), primary_key=True))\n"
        "op.execute('SELECT pg_sleep(600)')",
        "op.drop_table('half_done')",
    )
    runner = spawn(url, "upgrade", versions=versions)
    [(backend,)] = await wait_for(
        url,
        "SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(600)%'"
        " AND state = 'active'",
    )
    return slow, runner, backend


async def test_sigkill_mid_revision_leaves_previous_revision_and_no_lock(
    scratch_url: URL, versions: Path
) -> None:
    slow, runner, backend = await upgrade_stuck_mid_revision(scratch_url, versions, "c3000000000c")
    assert len(await advisory_holders(scratch_url)) == 1
    os.kill(runner.pid, signal.SIGKILL)
    assert finish(runner)[0] == -signal.SIGKILL

    # the backend notices its client is gone (client_connection_check_interval) and ends
    for _ in range(HANG_GUARD * 10):
        if not await rows(scratch_url, "SELECT 1 FROM pg_stat_activity WHERE pid = :p", p=backend):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the killed runner's backend is still there")
    assert await advisory_holders(scratch_url) == []
    assert await current(scratch_url, versions) == (INITIAL,)
    assert await tables(scratch_url) == APP_TABLES
    assert (
        await rows(
            scratch_url, f"SELECT 1 FROM {history.TABLE_NAME} WHERE revision = 'c3000000000c'"
        )
        == []
    )

    slow.write_text(slow.read_text().replace("SELECT pg_sleep(600)", "SELECT 1"))
    shutil.rmtree(versions / "__pycache__", ignore_errors=True)
    code, out, err = finish(spawn(scratch_url, "upgrade", versions=versions))
    assert code == 0, err
    assert "upgraded   c3000000000c" in out
    assert await tables(scratch_url) == APP_TABLES | {"half_done"}


async def test_session_ended_by_the_server_mid_revision_is_one_line_and_rolled_back(
    scratch_url: URL, versions: Path
) -> None:
    _, runner, backend = await upgrade_stuck_mid_revision(scratch_url, versions, "c4000000000c")
    await rows(scratch_url, "SELECT pg_terminate_backend(:p)", p=backend)  # as a DBA would
    code, out, err = finish(runner)
    assert code == 2
    assert_one_line_error(
        err,
        "revision c4000000000c",
        "lost its connection to PostgreSQL",
        "terminating connection due to administrator command",
        "at: SELECT pg_sleep(600)",
        "run `make upgrade` again",
    )
    assert f"upgraded   {INITIAL}" in out
    assert await advisory_holders(scratch_url) == []
    assert await current(scratch_url, versions) == (INITIAL,)
    assert await tables(scratch_url) == APP_TABLES


# -- 3. never stall the application -----------------------------------------------------


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
        INITIAL,
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
        INITIAL,
        "op.add_column('report_jobs', sa.Column('priority', sa.Integer()))",
        "op.drop_column('report_jobs', 'priority')",
    )
    cfg = migrations.alembic_config(versions_dir=versions)
    await migrations.upgrade(scratch_url, INITIAL, cfg=cfg)

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
    assert await current(scratch_url, versions) == (INITIAL,)
    assert await rows(scratch_url, "SELECT report_id FROM report_jobs") == [("w",)]
    failures = await rows(
        scratch_url, f"SELECT revision FROM {history.TABLE_NAME} WHERE NOT success"
    )
    assert failures == [("f6000000000f",)] * 3

    await migrations.upgrade(scratch_url, cfg=cfg)  # the table is quiet now
    assert await current(scratch_url, versions) == ("f6000000000f",)


async def test_create_index_concurrently_in_an_autocommit_block(
    scratch_url: URL, versions: Path
) -> None:
    add_revision(
        versions,
        "a7000000000a",
        INITIAL,
        "with op.get_context().autocommit_block():\n"
        "    op.create_index('ix_report_jobs_message', 'report_jobs', ['message'],\n"
        "                    postgresql_concurrently=True)",
        "with op.get_context().autocommit_block():\n"
        "    op.drop_index('ix_report_jobs_message', table_name='report_jobs',\n"
        "                  postgresql_concurrently=True)",
    )
    cfg = migrations.alembic_config(versions_dir=versions)
    await migrations.upgrade(scratch_url, cfg=cfg)
    valid = "SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass(:ix)"
    assert await rows(scratch_url, valid, ix="ix_report_jobs_message") == [(True,)]
    assert await current(scratch_url, versions) == ("a7000000000a",)
    assert await rows(
        scratch_url, f"SELECT revision FROM {history.TABLE_NAME} WHERE revision = 'a7000000000a'"
    ) == [("a7000000000a",)]

    await migrations.downgrade(scratch_url, "-1", cfg=cfg)
    assert await rows(scratch_url, valid, ix="ix_report_jobs_message") == []
    assert await current(scratch_url, versions) == (INITIAL,)


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


# -- 4. history and checksums -----------------------------------------------------------


async def test_changed_applied_file_is_refused_until_the_change_is_accepted(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scratch_url: URL, versions: Path
) -> None:
    assert cli(env, capsys, scratch_url, "upgrade", versions=versions)[0] == 0
    code, out, _ = cli(env, capsys, scratch_url, "validate", versions=versions)
    assert code == 0
    assert "0 changed of 1" in out

    [initial] = versions.glob(f"*{INITIAL}*.py")
    initial.write_text(initial.read_text() + "\n# edited after it was applied\n")
    code, out, _ = cli(env, capsys, scratch_url, "validate", versions=versions)
    assert code == 1
    assert f"changed: {INITIAL} ({initial.name}) changed since it was applied" in out

    code, _, err = cli(env, capsys, scratch_url, "upgrade", versions=versions)
    assert code == 2
    assert_one_line_error(err, f"revision {INITIAL}", "refusing to migrate", "--accept")

    code, _, err = cli(env, capsys, scratch_url, "validate", "--accept", INITIAL, versions=versions)
    assert code == 2
    assert_one_line_error(err, "needs a reason")

    code, out, _ = cli(
        env,
        capsys,
        scratch_url,
        "validate",
        "--accept",
        INITIAL,
        "--reason",
        "comment only",
        versions=versions,
    )
    assert code == 0
    assert f"accepted {INITIAL}" in out
    assert cli(env, capsys, scratch_url, "validate", versions=versions)[0] == 0
    assert cli(env, capsys, scratch_url, "upgrade", versions=versions)[0] == 0

    code, out, _ = cli(env, capsys, scratch_url, "history", versions=versions)
    assert code == 0
    lines = [line for line in out.splitlines() if INITIAL in line]
    assert [line.split()[3] for line in lines] == ["upgrade", "accept"]
    assert "(comment only)" in lines[1]
    entries = await migrations.read_history(scratch_url)
    assert entries[1].checksum != entries[0].checksum
    assert entries[0].db_user == (scratch_url.username or entries[0].db_user)
    assert entries[0].finished_at >= entries[0].started_at
    assert entries[0].application == application_name()


async def test_history_rows_keep_any_text_exactly(scratch_url: URL) -> None:
    awkward = "it's a \\ back'slash, $1 $$ %s ünïcode; DROP TABLE x; --"
    started = datetime(2026, 11, 25, 2, 0, 0, 123456, tzinfo=UTC)
    row = {"direction": "upgrade", "checksum": "sha256:ab", "started_at": started}
    row |= {"finished_at": started, "duration_s": 0.123456789}

    def write(conn: Connection) -> None:
        history.ensure_table(conn)
        conn.commit()
        history.record(conn, revision="outside", error=awkward, **row)  # begins its own
        conn.commit()
        conn.execute(text("SELECT 1"))  # in a transaction, as after a step's statements
        history.record(conn, revision="inside", note=awkward, **row)
        conn.commit()

    async with connect(scratch_url) as conn:
        await conn.run_sync(write)
    outside, inside = await migrations.read_history(scratch_url)
    assert (outside.revision, outside.error, outside.success) == ("outside", awkward, False)
    assert (inside.revision, inside.note, inside.success) == ("inside", awkward, True)
    assert inside.started_at == started
    assert inside.duration_s == 0.123456789


async def test_a_missing_tooling_table_is_created_and_history_kept(
    scratch_url: URL, versions: Path
) -> None:
    cfg = migrations.alembic_config(versions_dir=versions)
    assert (await migrations.upgrade(scratch_url, cfg=cfg)).applied == [INITIAL]
    # a database an earlier version of the tooling ran
    await execute(scratch_url, f"DROP TABLE {history.STATE_TABLE_NAME}")
    add_revision(versions, "e3000000000e", INITIAL, "pass")
    assert (await migrations.upgrade(scratch_url, cfg=cfg)).applied == ["e3000000000e"]
    assert [e.revision for e in await migrations.read_history(scratch_url)] == [
        INITIAL,
        "e3000000000e",
    ]
    assert (await migrations.upgrade(scratch_url, cfg=cfg)).applied == []  # the state row is back
    assert len(await rows(scratch_url, f"SELECT 1 FROM {history.STATE_TABLE_NAME}")) == 1


# -- 5. downgrades do not lose data by surprise -------------------------------------------


async def test_downgrade_that_would_drop_a_table_with_rows_stops(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scratch_url: URL
) -> None:
    assert cli(env, capsys, scratch_url, "upgrade")[0] == 0
    await execute(
        scratch_url,
        "INSERT INTO report_jobs (report_id, report_type, county_id)"
        " VALUES ('1', 't', 'c'), ('2', 't', 'c'), ('3', 't', 'c')",
    )

    code, _, err = cli(env, capsys, scratch_url, "downgrade", "base")
    assert code == 2
    assert_one_line_error(err, "would drop table report_jobs (3 rows", "--allow-data-loss")
    assert await current(scratch_url) == (INITIAL,)
    assert len(await rows(scratch_url, "SELECT 1 FROM report_jobs")) == 3

    code, _, err = cli(env, capsys, scratch_url, "downgrade", "base", "--allow-data-loss")
    assert code == 0, err
    assert await current(scratch_url) == ()
    assert await tables(scratch_url) == set()
    [(note,)] = await rows(
        scratch_url,
        f"SELECT note FROM {history.TABLE_NAME} WHERE direction = 'downgrade' AND success",
    )
    assert "table report_jobs (3 rows" in note


async def test_downgrade_that_would_drop_a_column_with_values_stops(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scratch_url: URL, versions: Path
) -> None:
    add_revision(
        versions,
        "b8000000000b",
        INITIAL,
        "op.add_column('report_jobs', sa.Column('owner_email', sa.String(255)))",
        "op.drop_column('report_jobs', 'owner_email')",
    )
    assert cli(env, capsys, scratch_url, "upgrade", versions=versions)[0] == 0
    await execute(
        scratch_url,
        "INSERT INTO report_jobs (report_id, report_type, county_id, owner_email)"
        " VALUES ('1', 't', 'c', 'a@county.example'), ('2', 't', 'c', NULL)",
    )

    code, _, err = cli(env, capsys, scratch_url, "downgrade", "-1", versions=versions)
    assert code == 2
    assert_one_line_error(
        err, "would drop column report_jobs.owner_email (1 row with data)", "b8000000000b"
    )
    assert await current(scratch_url, versions) == ("b8000000000b",)

    # the value moved elsewhere: nothing to lose
    await execute(scratch_url, "UPDATE report_jobs SET owner_email = NULL")
    code, _, err = cli(env, capsys, scratch_url, "downgrade", "-1", versions=versions)
    assert code == 0, err
    assert await current(scratch_url, versions) == (INITIAL,)


@pytest.mark.parametrize(
    ("statement", "dropped"),
    [
        ("DROP TABLE report_jobs", [("report_jobs", None)]),
        ('DROP TABLE IF EXISTS a, "B", s.c CASCADE', [("a", None), ('"B"', None), ("s.c", None)]),
        ("ALTER TABLE t DROP COLUMN owner_email", [("t", "owner_email")]),
        ("ALTER TABLE ONLY t DROP x, DROP COLUMN IF EXISTS y", [("t", "x"), ("t", "y")]),
        ("ALTER TABLE t DROP CONSTRAINT fk_x", []),
        ("ALTER TABLE t ALTER COLUMN c DROP DEFAULT, ALTER COLUMN d DROP NOT NULL", []),
        ("DROP INDEX ix_t_c", []),
        ("SELECT 'DROP TABLE t'", []),
    ],
)
async def test_guard_recognises_what_a_statement_drops(
    statement: str, dropped: list[tuple[str, str | None]]
) -> None:
    assert guard.drops(statement) == dropped


# -- 6. see before doing ----------------------------------------------------------------


async def test_plan_lists_revisions_with_sql_and_changes_nothing(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scratch_url: URL, versions: Path
) -> None:
    add_revision(
        versions,
        "c9000000000c",
        INITIAL,
        "op.add_column('report_jobs', sa.Column('priority', sa.Integer()))",
        header='lock_timeout = "30s"\n',
    )
    code, out, err = cli(env, capsys, scratch_url, "upgrade", "--plan", versions=versions)
    assert code == 0, err
    assert "2 revision(s) would run" in out
    assert f"{INITIAL}  initial schema" in out
    assert "c9000000000c  test step" in out
    assert "lock_timeout 30s" in out
    assert "CREATE TABLE property_operational" in out
    assert "ALTER TABLE report_jobs ADD COLUMN priority INTEGER" in out
    assert await rows(scratch_url, "SELECT 1 FROM pg_tables WHERE schemaname = 'public'") == []

    assert cli(env, capsys, scratch_url, "upgrade", INITIAL, versions=versions)[0] == 0
    code, out, _ = cli(env, capsys, scratch_url, "upgrade", "--plan", versions=versions)
    assert "1 revision(s) would run" in out
    assert "CREATE TABLE property_operational" not in out
    assert await current(scratch_url, versions) == (INITIAL,)


# -- a no-op upgrade at head --------------------------------------------------------------

LOADED_MARK = """
import os
from pathlib import Path

with Path(os.environ["TFSYNC_TEST_LOADED_LOG"]).open("a") as log:  # the file was loaded
    log.write("loaded\\n")
"""


async def test_noop_at_head_takes_no_lock_and_loads_no_revision_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, scratch_url: URL, versions: Path
) -> None:
    loaded = tmp_path / "loaded.log"
    monkeypatch.setenv("TFSYNC_TEST_LOADED_LOG", str(loaded))
    add_revision(versions, "e1000000000e", INITIAL, "pass", header=LOADED_MARK)
    cfg = migrations.alembic_config(versions_dir=versions)
    assert (await migrations.upgrade(scratch_url, cfg=cfg)).applied == [INITIAL, "e1000000000e"]
    assert loaded.exists()  # the marker works: a run that loads the files writes it
    loaded.unlink()

    async with connect(scratch_url) as holder:  # a slow path would wait for this forever
        await holder.run_sync(lambda c: lock.acquire(c, print))
        again = migrations.upgrade(scratch_url, cfg=cfg)
        outcome = await asyncio.wait_for(again, HANG_GUARD)
        await holder.run_sync(lock.release)
    assert not loaded.exists()
    assert outcome == migrations.Outcome([], ("e1000000000e",))


def upgrade_telling_if_imported(url: URL, versions: Path, module: str) -> tuple[int, str, str]:
    """``tfsync upgrade`` in a process of its own, as the console script runs it, printing
    from an exit handler whether ``module`` was imported: (exit code, stdout, stderr)."""
    script = (
        "import atexit, sys\n"
        "from terrafusion_sync.cli import entry_point\n"
        f"atexit.register(lambda: print('{module} imported:', {module!r} in sys.modules))\n"
        "entry_point(['upgrade'])\n"
    )
    return finish(spawn(url, "-c", script, versions=versions, module=None))


async def test_noop_upgrade_on_the_command_line_answers_before_importing_alembic(
    scratch_url: URL, versions: Path
) -> None:
    code, _, err = finish(spawn(scratch_url, "upgrade", versions=versions))
    assert code == 0, err
    code, out, err = upgrade_telling_if_imported(scratch_url, versions, "alembic")
    assert code == 0, err
    assert f"already at {INITIAL}: nothing to do" in out
    assert "alembic imported: False" in out


async def test_an_upgrade_neither_imports_the_models_nor_loses_its_output(
    scratch_url: URL, versions: Path
) -> None:
    code, out, err = upgrade_telling_if_imported(
        scratch_url, versions, "terrafusion_sync.core_models"
    )
    assert code == 0, err
    assert f"upgraded   {INITIAL}" in out
    assert f"applied 1 revision(s); now at {INITIAL}" in out
    assert "terrafusion_sync.core_models imported: False" in out  # exit handlers still run
    assert await tables(scratch_url) == APP_TABLES


async def test_noop_check_gives_way_when_files_or_database_moved(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scratch_url: URL, versions: Path
) -> None:
    cfg = migrations.alembic_config(versions_dir=versions)
    assert (await migrations.upgrade(scratch_url, cfg=cfg)).applied == [INITIAL]

    add_revision(  # a new file
        versions, "e2000000000e", INITIAL, "op.create_table('new_one')", "op.drop_table('new_one')"
    )
    assert (await migrations.upgrade(scratch_url, cfg=cfg)).applied == ["e2000000000e"]

    # moved back behind the tooling's back: plain Alembic writes no history
    await migrations.commands.run_on(
        scratch_url, cfg, lambda _: alembic_command.downgrade(cfg, INITIAL)
    )
    assert (await migrations.upgrade(scratch_url, cfg=cfg)).applied == ["e2000000000e"]

    # an applied file edited, its change accepted, then the edit undone: the undoing is a
    # change too, though the files are again those the database was last at head with
    [edited] = versions.glob("*e2000000000e*.py")
    original = edited.read_text()
    edited.write_text(original + "\n# edited after it was applied\n")
    code, _, err = cli(env, capsys, scratch_url, "upgrade", versions=versions)
    assert code == 2
    assert_one_line_error(err, "revision e2000000000e", "refusing to migrate")
    accept = ("validate", "--accept", "e2000000000e", "--reason", "comment")
    assert cli(env, capsys, scratch_url, *accept, versions=versions)[0] == 0
    edited.write_text(original)
    code, _, err = cli(env, capsys, scratch_url, "upgrade", versions=versions)
    assert code == 2
    assert_one_line_error(err, "revision e2000000000e", "refusing to migrate")
