"""Backfills that fail or must stop (README "Data migrations with op.backfill": mending,
pausing, cancelling, batched deletes): a failed backfill is mended in its revision file and
finishes from where it stopped; an operator retries, pauses, resumes or cancels one; a
downgrade forgets it; ``delete=True`` deletes in batches, resumable after a SIGKILL.

The table ``parcels`` (see ``test_backfill``) has ``touched``, which each clause under
test raises by its own amount, so which clause changed which row shows.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import URL
from test_backfill import (
    BACKFILL,
    EVERY_ROW_SLOWLY,
    PARCELS,
    ROWS,
    backfill_running,
    killed_half_way,
    walked,
    with_backfill,
)

from helpers import (
    add_revision,
    assert_one_line_error,
    cli,
    execute,
    finish,
    rows,
    spawn,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

NEXT = "bf0000000003"
STOP_AT = 1500
# upper-cases the counties, but yields NULL (county is NOT NULL) past id STOP_AT: the walk
# commits the batches before it, then fails
FAILING = (
    "op.backfill('parcels', set='county = CASE WHEN id > "
    f"{STOP_AT} THEN NULL ELSE upper(county) END, touched = touched + 1', "
    "where='county <> upper(county)', batch_time='5ms')"
)
FIXED = (
    "op.backfill('parcels', set='county = upper(county), touched = touched + 10', "
    "where='county <> upper(county)', batch_time='5ms')"
)
COUNTIES_UPPER = (
    "op.create_check_constraint('ck_parcels_upper', 'parcels', 'county = upper(county)')"
)


def revision_file(versions: Path) -> Path:
    [path] = versions.glob(f"*-{BACKFILL}_*.py")
    return path


def mend(versions: Path) -> None:
    """Fix the failing clause in the revision file, as a person would."""
    path = revision_file(versions)
    path.write_text(path.read_text().replace(FAILING, FIXED))


def then_counties_upper(versions: Path) -> None:
    """A revision after the backfill that relies on it: a check that every county is upper."""
    add_revision(
        versions,
        NEXT,
        BACKFILL,
        COUNTIES_UPPER,
        "op.drop_constraint('ck_parcels_upper', 'parcels')",
        doc="counties upper",
    )


async def failed_upgrade(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: URL, versions: Path
) -> int:
    """Upgrade with the failing backfill; the rows its committed batches walked."""
    code, _, err = cli(env, capsys, url, "upgrade", versions=versions)
    assert code == 2
    assert_one_line_error(
        err, f"backfill {BACKFILL} parcels after ", 'null value in column "county"'
    )
    state, done = await walked(url)
    assert state == "failed"
    assert 0 < done <= STOP_AT
    return done


async def test_a_failed_backfill_mended_in_its_file_finishes_from_where_it_stopped(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scratch_url: URL, versions: Path
) -> None:
    with_backfill(versions, FAILING)
    then_counties_upper(versions)
    code, _, err = cli(env, capsys, scratch_url, "upgrade", versions=versions)
    assert code == 2
    # the message says how to mend it, with the commands
    assert_one_line_error(
        err,
        f"fix it in {revision_file(versions).name}",
        f'tfsync validate --accept {BACKFILL} --reason "..."',
        "then `make upgrade` runs the fixed call from where it stopped",
        f'tfsync backfill cancel {BACKFILL} --reason "..."',
    )
    state, done = await walked(scratch_url)
    assert state == "failed"
    assert 0 < done <= STOP_AT
    # the revision after it waits: it relies on the backfill
    assert await rows(scratch_url, "SELECT version_num FROM alembic_version") == [(BACKFILL,)]

    mend(versions)
    code, _, err = cli(env, capsys, scratch_url, "upgrade", versions=versions)
    assert code == 2  # an applied file changed: accepted first, as the sealed history asks
    assert_one_line_error(err, f"tfsync validate --accept {BACKFILL}")
    assert (
        cli(
            env,
            capsys,
            scratch_url,
            "validate",
            "--accept",
            BACKFILL,
            "--reason",
            "NULL past 1500",
            versions=versions,
        )[0]
        == 0
    )

    # a process of its own, as a deploy runs it: it reads the file before any step has run
    code, out, err = finish(spawn(scratch_url, "upgrade", versions=versions))
    assert (code, err) == (0, "")
    assert f"backfill {BACKFILL} parcels: its op.backfill was changed in" in out
    assert f"resuming after {done:,} rows" in out
    assert await walked(scratch_url) == ("done", ROWS)
    # rows walked before the failure kept the first clause's change; the rest got the fix
    assert await rows(
        scratch_url,
        "SELECT id <= :done, touched, count(*) FROM parcels WHERE county = upper(county)"
        " AND id % 3 <> 0 GROUP BY 1, 2 ORDER BY 1, 2",
        done=done,
    ) == [(False, 10, (ROWS - done) - (ROWS // 3 - done // 3)), (True, 1, done - done // 3)]
    assert await rows(scratch_url, "SELECT version_num FROM alembic_version") == [(NEXT,)]


async def test_a_downgrade_forgets_the_backfill_and_the_upgrade_records_it_afresh_once(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scratch_url: URL, versions: Path
) -> None:
    with_backfill(versions, FAILING)
    await failed_upgrade(env, capsys, scratch_url, versions)
    assert cli(env, capsys, scratch_url, "downgrade", "-1", versions=versions)[0] == 0
    assert await rows(scratch_url, "SELECT count(*) FROM tfsync_backfill") == [(0,)]

    mend(versions)  # not applied now: nothing to accept
    code, _out, err = cli(env, capsys, scratch_url, "upgrade", versions=versions)
    assert (code, err) == (0, "")
    assert await rows(scratch_url, "SELECT set_sql, state FROM tfsync_backfill") == [
        ("county = upper(county), touched = touched + 10", "done")
    ]
    assert await rows(
        scratch_url, "SELECT count(*) FROM parcels WHERE county <> upper(county)"
    ) == [(0,)]


async def test_a_cancelled_backfill_no_longer_blocks_the_next_revision(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scratch_url: URL, versions: Path
) -> None:
    with_backfill(versions, FAILING)
    done = await failed_upgrade(env, capsys, scratch_url, versions)

    code, _, err = cli(env, capsys, scratch_url, "backfill", "cancel", BACKFILL, versions=versions)
    assert code == 2
    assert_one_line_error(err, f"backfill cancel {BACKFILL}: a cancel needs a reason")
    assert (await walked(scratch_url))[0] == "failed"

    code, out, err = cli(
        env,
        capsys,
        scratch_url,
        "backfill",
        "cancel",
        BACKFILL[:6],
        "--reason",
        "counties fixed by hand",
        versions=versions,
    )
    assert (code, err) == (0, "")
    code, out, _ = cli(env, capsys, scratch_url, "backfill", "status", versions=versions)
    [line] = [line for line in out.splitlines() if line.startswith(BACKFILL)]
    assert line.split()[1:3] == ["parcels", "cancelled"]
    code, out, _ = cli(env, capsys, scratch_url, "history", versions=versions)
    assert f"parcels: cancelled after {done:,} rows walked: counties fixed by hand" in out

    await execute(scratch_url, "UPDATE parcels SET county = upper(county)")  # what the reason says
    add_revision(versions, NEXT, BACKFILL, COUNTIES_UPPER, doc="counties upper")
    code, out, err = cli(env, capsys, scratch_url, "upgrade", versions=versions)
    assert (code, err) == (0, "")
    assert not [line for line in out.splitlines() if line.startswith("  backfill")], out
    assert await rows(scratch_url, "SELECT version_num FROM alembic_version") == [(NEXT,)]
    assert await walked(scratch_url) == ("cancelled", done)


async def test_retry_runs_a_failed_backfill_again_once_its_cause_is_gone(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scratch_url: URL, versions: Path
) -> None:
    with_backfill(versions, FAILING)
    then_counties_upper(versions)
    await failed_upgrade(env, capsys, scratch_url, versions)
    # the cause was in the data: the rows past STOP_AT are already upper case now
    await execute(scratch_url, f"UPDATE parcels SET county = upper(county) WHERE id > {STOP_AT}")
    code, out, err = cli(env, capsys, scratch_url, "backfill", "retry", BACKFILL, versions=versions)
    assert (code, err) == (0, "")
    assert out.splitlines()[-1].split()[:3] == [BACKFILL, "parcels", "done"]
    assert await walked(scratch_url) == ("done", ROWS)
    # retry applies no revision
    assert await rows(scratch_url, "SELECT version_num FROM alembic_version") == [(BACKFILL,)]


async def test_a_paused_backfill_holds_later_revisions_until_resumed(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scratch_url: URL, versions: Path
) -> None:
    with_backfill(versions, EVERY_ROW_SLOWLY)
    add_revision(  # relies on the backfill: every row touched
        versions,
        NEXT,
        BACKFILL,
        "op.create_check_constraint('ck_parcels_touched', 'parcels', 'touched > 0')",
        doc="every parcel touched",
    )
    runner = spawn(scratch_url, "upgrade", versions=versions)
    await backfill_running(scratch_url, ROWS // 4)
    code, _, err = cli(env, capsys, scratch_url, "backfill", "pause", BACKFILL, versions=versions)
    assert (code, err) == (0, "")
    code, out, err = finish(runner)
    assert code == 2
    assert f"backfill {BACKFILL} parcels: paused by an operator after " in out
    assert_one_line_error(err, f"backfill {BACKFILL} parcels is paused: later revisions wait")
    state, done = await walked(scratch_url)
    assert state == "paused"
    assert 0 < done < ROWS
    # the walk stopped between batches: exactly the rows walked were touched, once
    assert await rows(
        scratch_url, "SELECT touched, count(*) FROM parcels GROUP BY 1 ORDER BY 1"
    ) == [
        (0, ROWS - done),
        (1, done),
    ]

    code, out, _ = cli(env, capsys, scratch_url, "backfill", "status", versions=versions)
    assert "paused" in out
    assert "later revisions wait for it" in out
    code, _, err = cli(env, capsys, scratch_url, "upgrade", versions=versions)
    assert code == 2
    assert_one_line_error(err, "is paused", f"tfsync backfill resume {BACKFILL}")
    assert await rows(scratch_url, "SELECT version_num FROM alembic_version") == [(BACKFILL,)]

    code, out, err = cli(
        env, capsys, scratch_url, "backfill", "resume", BACKFILL, versions=versions
    )
    assert (code, err) == (0, "")
    assert f"resuming after {done:,} rows" in out
    assert await walked(scratch_url) == ("done", ROWS)
    code, _, err = cli(env, capsys, scratch_url, "upgrade", versions=versions)
    assert (code, err) == (0, "")
    assert await rows(scratch_url, "SELECT version_num FROM alembic_version") == [(NEXT,)]


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["retry", "feedfacecafe"], "backfill retry feedfacecafe: no backfill recorded"),
        (["cancel", "feedfacecafe", "--reason", "x"], "no backfill recorded on this database"),
        (["retry", BACKFILL], f"backfill retry {BACKFILL}: nothing to retry (parcels done)"),
        (["resume", BACKFILL], f"backfill resume {BACKFILL}: nothing to resume (parcels done)"),
        (["cancel", BACKFILL, "--reason", "x"], "nothing to cancel (parcels done)"),
        (["cancel", BACKFILL], "a cancel needs a reason"),
    ],
    ids=[
        "retry-unknown",
        "cancel-unknown",
        "retry-done",
        "resume-done",
        "cancel-done",
        "no-reason",
    ],
)
async def test_an_action_on_an_unknown_or_finished_backfill_is_one_line_and_changes_nothing(
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    scratch_url: URL,
    versions: Path,
    argv: list[str],
    said: str,
) -> None:
    with_backfill(versions)
    assert cli(env, capsys, scratch_url, "upgrade", versions=versions)[0] == 0
    before = await rows(scratch_url, "SELECT * FROM tfsync_backfill")
    history = await rows(scratch_url, "SELECT count(*) FROM tfsync_migration_history")
    code, _out, err = cli(env, capsys, scratch_url, "backfill", *argv, versions=versions)
    assert code == 2
    assert_one_line_error(err, said)
    assert await rows(scratch_url, "SELECT * FROM tfsync_backfill") == before
    assert await rows(scratch_url, "SELECT count(*) FROM tfsync_migration_history") == history


PURGE_SLOWLY = "op.backfill('parcels', delete=True, where='slowly(id) % 2 = 0', batch_time='50ms')"


async def test_a_batched_delete_killed_half_way_resumes_deleting_each_row_once(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scratch_url: URL, versions: Path
) -> None:
    with_backfill(versions, PURGE_SLOWLY)
    done = await killed_half_way(scratch_url, versions)
    # the keys walked lost their even rows, no other row went
    assert await rows(
        scratch_url, "SELECT id <= :done, count(*) FROM parcels GROUP BY 1 ORDER BY 1", done=done
    ) == [(False, ROWS - done), (True, done - done // 2)]

    code, out, err = cli(env, capsys, scratch_url, "upgrade", versions=versions)
    assert (code, err) == (0, "")
    assert f"resuming after {done:,} rows" in out
    assert f"backfilled {BACKFILL} parcels: {ROWS // 2:,} rows deleted, {ROWS:,} walked" in out
    assert await rows(scratch_url, "SELECT count(*), min(id % 2) FROM parcels") == [(ROWS // 2, 1)]
    code, out, _ = cli(env, capsys, scratch_url, "backfill", "status", versions=versions)
    assert f"{ROWS // 2:,} deleted" in out


@pytest.mark.parametrize(
    ("call", "said"),
    [
        ("op.backfill('parcels', set='touched = 1', delete=True, where='true')", "takes no set"),
        ("op.backfill('parcels', delete=True)", "delete=True needs where=..."),
    ],
    ids=["delete-with-set", "delete-without-where"],
)
async def test_a_delete_call_that_does_not_fit_is_one_line_and_changes_nothing(
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    scratch_url: URL,
    versions: Path,
    call: str,
    said: str,
) -> None:
    with_backfill(versions, call)
    assert cli(env, capsys, scratch_url, "upgrade", PARCELS, versions=versions)[0] == 0
    code, _, err = cli(env, capsys, scratch_url, "upgrade", versions=versions)
    assert code == 2
    assert_one_line_error(err, f"revision {BACKFILL} (", "line 13: op.backfill on parcels", said)
    assert await rows(scratch_url, "SELECT version_num FROM alembic_version") == [(PARCELS,)]
    assert await rows(scratch_url, "SELECT count(*) FROM parcels") == [(ROWS,)]
