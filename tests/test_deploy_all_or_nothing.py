"""All or nothing per revision, and a lost session.

README "Deploying safely": each revision runs in its own transaction; a failing one is
rolled back and named with its file and statement; a revision file that cannot be read
or loaded changes nothing; a runner killed (SIGKILL) or a session ended by the server
mid-revision leaves the revision before it and no lock.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from terrafusion_sync.migrations.deploy import history

from helpers import (
    APP_TABLES,
    HANG_GUARD,
    HEAD,
    add_revision,
    advisory_holders,
    assert_one_line_error,
    cli,
    current,
    finish,
    rows,
    spawn,
    tables,
    wait_for,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_failing_revision_rolls_back_names_file_and_statement_then_continues(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scratch_url: URL, versions: Path
) -> None:
    bad = add_revision(
        versions,
        "b2000000000b",
        HEAD,
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
        f"the database stays at {HEAD}",
    )
    assert f"upgraded   {HEAD}" in out  # the revision before it is applied and stays
    assert await current(scratch_url, versions) == (HEAD,)
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
    assert f"upgraded   {HEAD}" not in out
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
    bad = add_revision(versions, "d6000000000d", HEAD, upgrade, header=header)
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
        HEAD,
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
    assert await current(scratch_url, versions) == (HEAD,)
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
    assert f"upgraded   {HEAD}" in out
    assert await advisory_holders(scratch_url) == []
    assert await current(scratch_url, versions) == (HEAD,)
    assert await tables(scratch_url) == APP_TABLES
