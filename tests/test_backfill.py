"""Backfills (README "Data migrations with op.backfill"): one line in a revision, run in
keyset batches after the revision commits, resumable after a SIGKILL, never holding a
writer for long, refusing bad input with one line and no change.

The revisions under test go into a temporary copy of ``versions/``. Their table,
``parcels``, has a ``touched`` counter that the backfills increment, so a row rewritten
twice shows; ``slowly()`` sleeps a millisecond on every other row (at random: pg_sleep
sleeps at least a millisecond), so a few thousand rows take a second or two and many
batches (a small ``batch_time``).
"""

from __future__ import annotations

import asyncio
import re
import signal
import socket
from pathlib import Path

import pytest
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import URL

from terrafusion_sync import migrations
from terrafusion_sync.database import connect
from terrafusion_sync.migrations.backfill import row_progress
from terrafusion_sync.migrations.deploy import uptodate
from terrafusion_sync.testing import MigrationRunner

from helpers import (
    HANG_GUARD,
    HEAD,
    add_revision,
    assert_one_line_error,
    cli,
    finish,
    rows,
    spawn,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

PARCELS = "bf0000000001"
BACKFILL = "bf0000000002"
ROWS = 3000
CREATE_PARCELS = f"""
op.create_table(
    "parcels",
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("county", sa.Text(), nullable=False),
    sa.Column("touched", sa.Integer(), server_default="0", nullable=False),
    sa.Column("note", sa.Text()),
)
op.create_table("parcel_log", sa.Column("line", sa.Text()))
op.execute("INSERT INTO parcels (id, county) SELECT g, CASE WHEN g % 3 = 0 THEN 'BENTON'"
           " ELSE 'benton' END FROM generate_series(1, {ROWS}) AS g")
op.execute("CREATE FUNCTION slowly(n integer) RETURNS integer LANGUAGE plpgsql AS"
           " 'BEGIN IF random() < 0.5 THEN PERFORM pg_sleep(0.001); END IF; RETURN n; END'")
"""
DROP_PARCELS = """
op.execute("DROP FUNCTION slowly(integer)")
op.drop_table("parcel_log")
op.drop_table("parcels")
"""
UPPER = "op.backfill('parcels', set='county = upper(county), touched = touched + 1', where='county <> upper(county)', batch_time='5ms')"  # noqa: E501
# every row, each slowly: seconds of batches, so that a test can act half way
EVERY_ROW_SLOWLY = "op.backfill('parcels', set='touched = slowly(touched + 1)', batch_time='50ms')"


def with_backfill(versions: Path, call: str = UPPER, rev: str = BACKFILL) -> Config:
    """``parcels`` (and its rows) in one revision, ``call`` in the next."""
    add_revision(versions, PARCELS, HEAD, CREATE_PARCELS, DROP_PARCELS, doc="parcels")
    add_revision(versions, rev, PARCELS, call, doc="backfill parcels")
    return migrations.alembic_config(versions_dir=versions)


async def walked(url: URL) -> tuple[str, int]:
    [(state, done)] = await rows(url, "SELECT state, rows_walked FROM tfsync_backfill")
    return state, done


async def backfill_running(url: URL, at_least: int) -> None:
    """Wait until the backfill has committed ``at_least`` rows and is still going."""
    for _ in range(HANG_GUARD * 20):
        found = []
        if await rows(url, "SELECT 1 WHERE to_regclass('tfsync_backfill') IS NOT NULL"):
            found = await rows(url, "SELECT state, rows_walked FROM tfsync_backfill")
        if found and found[0][0] == "running" and found[0][1] >= at_least:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the backfill never got to {at_least} rows: {found}")


async def test_migration_runner_runs_a_backfill_in_many_batches(
    migration_runner: MigrationRunner,
) -> None:
    await migration_runner.upgrade(PARCELS)
    assert await migration_runner.upgrade(BACKFILL) == [BACKFILL]
    counties = await migration_runner.execute(
        "SELECT county, touched, count(*) FROM parcels GROUP BY 1, 2 ORDER BY 1, 2"
    )
    # rows already in upper case were left alone; every other row changed exactly once
    assert [tuple(r) for r in counties] == [("BENTON", 0, ROWS // 3), ("BENTON", 1, ROWS * 2 // 3)]
    [state] = await migration_runner.execute(
        "SELECT state, rows_walked, rows_changed, batches FROM tfsync_backfill"
    )
    assert (state.state, state.rows_walked, state.rows_changed) == ("done", ROWS, ROWS * 2 // 3)
    assert state.batches > 1


@pytest.fixture
def migration_config(versions: Path) -> Config:
    """``migration_runner`` on the project's revisions plus the two under test."""
    return with_backfill(versions)


async def test_upgrade_prints_the_backfill_and_lists_it_in_status_and_history(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scratch_url: URL, versions: Path
) -> None:
    with_backfill(versions)
    code, out, _ = cli(env, capsys, scratch_url, "upgrade", versions=versions)
    assert code == 0
    assert f"backfill {BACKFILL} parcels: about {ROWS:,} rows, batches of about 5 ms" in out
    assert f"backfilled {BACKFILL} parcels: {ROWS * 2 // 3:,} rows changed, {ROWS:,} walked" in out
    assert out.rstrip().endswith(f"now at {BACKFILL}")

    code, out, _ = cli(env, capsys, scratch_url, "backfill", "status", versions=versions)
    assert code == 0
    [line] = [line for line in out.splitlines() if line.startswith(BACKFILL)]
    assert line.split()[1:6] == ["parcels", "done", f"{ROWS:,}", "of", f"~{ROWS:,}"]
    assert f"{ROWS * 2 // 3:,} changed" in line

    code, out, _ = cli(env, capsys, scratch_url, "history", versions=versions)
    [line] = [line for line in out.splitlines() if " backfill " in line]
    assert BACKFILL in line
    assert line.endswith(
        f"ok (parcels: {ROWS * 2 // 3:,} rows changed, {ROWS:,} walked in "
        + line.rsplit(" walked in ", 1)[1]
    )

    # everything done: the next upgrade is the one-query shortcut again
    assert await uptodate.current_heads(scratch_url, versions, "head") == (BACKFILL,)


async def test_the_next_revision_of_the_same_run_finds_the_backfill_done(
    scratch_url: URL, versions: Path
) -> None:
    cfg = with_backfill(versions)
    add_revision(
        versions,
        "bf0000000003",
        BACKFILL,
        "op.create_check_constraint('ck_parcels_upper', 'parcels', 'county = upper(county)')",
        "op.drop_constraint('ck_parcels_upper', 'parcels')",
        doc="counties upper",
    )
    outcome = await migrations.upgrade(scratch_url, cfg=cfg)
    assert outcome.applied[-3:] == [PARCELS, BACKFILL, "bf0000000003"]
    assert await walked(scratch_url) == ("done", ROWS)


async def killed_half_way(url: URL, versions: Path) -> int:
    """``tfsync upgrade`` SIGKILLed a third of the way through its backfill, its backend gone
    (the batch it had open rolled back); the rows the backfill's record says it walked."""
    runner = spawn(url, "upgrade", versions=versions)
    await backfill_running(url, ROWS // 3)
    runner.send_signal(signal.SIGKILL)
    assert finish(runner)[0] == -signal.SIGKILL
    for _ in range(HANG_GUARD * 10):  # its backend notices, rolls the open batch back
        if not await rows(url, "SELECT 1 FROM pg_locks WHERE locktype = 'advisory'"):
            break
        await asyncio.sleep(0.1)
    state, done = await walked(url)
    assert state == "running"
    assert 0 < done < ROWS
    return done


async def test_sigkill_half_way_resumes_from_the_last_batch_changing_no_row_twice(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scratch_url: URL, versions: Path
) -> None:
    with_backfill(versions, EVERY_ROW_SLOWLY)
    done = await killed_half_way(scratch_url, versions)
    # progress and rows commit together: exactly the rows walked were touched, once
    assert await rows(
        scratch_url, "SELECT touched, count(*) FROM parcels GROUP BY 1 ORDER BY 1"
    ) == [
        (0, ROWS - done),
        (1, done),
    ]
    # the revision is applied, its backfill is not: no shortcut, the next upgrade resumes
    assert await rows(scratch_url, "SELECT version_num FROM alembic_version") == [(BACKFILL,)]
    assert await uptodate.current_heads(scratch_url, versions, "head") is None

    code, out, err = cli(env, capsys, scratch_url, "upgrade", versions=versions)
    assert (code, err) == (0, "")
    assert f"resuming after {done:,} rows" in out
    assert await rows(scratch_url, "SELECT touched, count(*) FROM parcels GROUP BY 1") == [
        (1, ROWS)
    ]
    assert await walked(scratch_url) == ("done", ROWS)


async def test_a_second_deploy_waits_for_the_lock_then_finds_nothing_to_do(
    scratch_url: URL, versions: Path
) -> None:
    with_backfill(versions, EVERY_ROW_SLOWLY)
    first = spawn(scratch_url, "upgrade", versions=versions)
    await backfill_running(scratch_url, 1)
    second = spawn(scratch_url, "upgrade", versions=versions)
    assert finish(first)[0] == 0
    code, out, err = finish(second)
    assert (code, err) == (0, "")
    assert "waiting for the migration lock: held by tfsync@" in out
    assert "backfill" not in out.split("got the migration lock", 1)[1]
    assert await rows(scratch_url, "SELECT touched, count(*) FROM parcels GROUP BY 1") == [
        (1, ROWS)
    ]


async def test_a_lost_connection_is_one_line_and_the_next_upgrade_resumes(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scratch_url: URL, versions: Path
) -> None:
    with_backfill(versions, EVERY_ROW_SLOWLY)
    runner = spawn(scratch_url, "upgrade", versions=versions)
    await backfill_running(scratch_url, ROWS // 4)
    await rows(
        scratch_url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE application_name = :app AND pid <> pg_backend_pid()",
        app=f"tfsync@{socket.gethostname()}:{runner.pid}"[:63],
    )
    code, _, err = finish(runner)
    assert code == 2
    assert_one_line_error(
        err, f"backfill {BACKFILL} parcels after ", "lost its connection to PostgreSQL", "resume"
    )
    state, done = await walked(scratch_url)
    assert state == "running"
    assert 0 < done < ROWS

    code, out, err = cli(env, capsys, scratch_url, "upgrade", versions=versions)
    assert (code, err) == (0, "")
    assert f"resuming after {done:,} rows" in out
    assert await rows(scratch_url, "SELECT touched, count(*) FROM parcels GROUP BY 1") == [
        (1, ROWS)
    ]


async def test_a_writer_runs_between_the_batches(scratch_url: URL, versions: Path) -> None:
    """A single-row writer keeps committing while the backfill walks the table: it waits
    for one batch at most, never for the whole backfill as behind one UPDATE."""
    with_backfill(versions, EVERY_ROW_SLOWLY)
    runner = spawn(scratch_url, "upgrade", versions=versions)
    await backfill_running(scratch_url, 1)
    seen: list[int] = []
    async with connect(scratch_url) as writer:
        for row_id in range(1, ROWS, 37):
            await writer.execute(
                text("UPDATE parcels SET note = 'w' WHERE id = :id"), {"id": row_id}
            )
            await writer.commit()
            state, done = await walked(scratch_url)
            seen.append(done)
            if state != "running":
                break
    assert finish(runner)[0] == 0
    # the writes landed while the walk was at many points of the table, and all stayed
    assert len(set(seen)) >= 3, seen
    assert await rows(scratch_url, "SELECT count(*) FROM parcels WHERE note = 'w'") == [
        (len(seen),)
    ]
    assert await rows(scratch_url, "SELECT min(touched), max(touched) FROM parcels") == [(1, 1)]


async def test_a_locked_row_shrinks_the_batch_then_stops_and_resumes(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scratch_url: URL, versions: Path
) -> None:
    with_backfill(versions)
    code, _, _ = cli(env, capsys, scratch_url, "upgrade", PARCELS, versions=versions)
    assert code == 0
    env.setenv("TFSYNC_LOCK_TIMEOUT", "100ms")
    env.setenv("TFSYNC_LOCK_RETRIES", "2")
    async with connect(scratch_url) as holder:
        await holder.execute(text("UPDATE parcels SET note = 'held' WHERE id = 10"))
        code, out, err = cli(env, capsys, scratch_url, "upgrade", versions=versions)
        await holder.rollback()
    assert code == 2, err
    assert "retry 1 of 2 with 500 rows" in out, err
    assert "retry 2 of 2 with 250 rows" in out
    assert_one_line_error(
        err, f"backfill {BACKFILL} parcels after 0 rows could not lock table parcels"
    )
    assert await walked(scratch_url) == ("failed", 0)

    code, out, err = cli(env, capsys, scratch_url, "upgrade", versions=versions)
    assert (code, err) == (0, "")
    assert await walked(scratch_url) == ("done", ROWS)


@pytest.mark.parametrize(
    ("call", "said"),
    [
        ("op.backfill('parcel', set='county = upper(county)')", "op.backfill on parcel: no such"),
        ("op.backfill('parcel_log', set='line = upper(line)')", "has no primary key"),
        ("op.backfill('parcels', set='nope = 1')", 'column "nope" of relation "parcels"'),
        ("op.backfill('parcels', set='touched = 1', where='county <>')", "syntax error"),
        # a batch may not reach beyond its key range
        ("op.backfill('parcels', set='touched = 1 WHERE true --')", "set must be assignments"),
        ("op.backfill('parcels', set='touched = 1', where='true) OR (true')", "cannot parse"),
        ("op.backfill('parcels', set='touched = 1', batch_time='soon')", "not a duration"),
    ],
    ids=[
        "missing-table",
        "no-primary-key",
        "bad-set",
        "bad-where",
        "set-with-where",
        "where-unbalanced",
        "bad-batch-time",
    ],
)
async def test_bad_input_is_one_line_naming_the_revision_and_changes_nothing(
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
    assert_one_line_error(err, f"revision {BACKFILL} (", "line 13: op.backfill on", said)
    assert await rows(scratch_url, "SELECT version_num FROM alembic_version") == [(PARCELS,)]
    assert await rows(scratch_url, "SELECT count(*) FROM tfsync_backfill") == [(0,)]
    assert await rows(scratch_url, "SELECT max(touched) FROM parcels") == [(0,)]


async def test_a_composite_primary_key_is_walked_in_order(scratch_url: URL, versions: Path) -> None:
    add_revision(
        versions,
        PARCELS,
        HEAD,
        "op.execute('CREATE TABLE owners (county text, id integer, name text NOT NULL,"
        " PRIMARY KEY (county, id))')\n"
        "op.execute(\"INSERT INTO owners SELECT c, g, 'owner ' || g FROM"
        " unnest(ARRAY['adams', 'benton', 'chelan']) AS c, generate_series(1, 700) AS g\")",
        "op.execute('DROP TABLE owners')",
        doc="owners",
    )
    add_revision(
        versions,
        BACKFILL,
        PARCELS,
        "op.backfill('owners', set='name = initcap(name)', where='name <> initcap(name)',"
        " batch_time='2ms')",
        doc="owner names",
    )
    await migrations.upgrade(scratch_url, cfg=migrations.alembic_config(versions_dir=versions))
    assert await rows(scratch_url, "SELECT count(*) FROM owners WHERE name LIKE 'Owner %'") == [
        (2100,)
    ]
    [(state, walked_rows, batches)] = await rows(
        scratch_url, "SELECT state, rows_walked, batches FROM tfsync_backfill"
    )
    assert (state, walked_rows) == ("done", 2100)
    assert batches > 1


async def test_a_log_gets_a_plain_progress_line_at_a_readable_pace(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scratch_url: URL, versions: Path
) -> None:
    with_backfill(versions, EVERY_ROW_SLOWLY)
    env.setattr(row_progress, "PLAIN_EVERY", 1.0)  # 5 s in real use
    code, out, _ = cli(env, capsys, scratch_url, "upgrade", versions=versions)
    assert code == 0
    lines = [line for line in out.splitlines() if re.search(r" of ~3,000 rows \(\d+%\)", line)]
    assert lines, out
    assert all(re.fullmatch(LINE, line) for line in lines), lines


LINE = (
    rf"  backfill {BACKFILL} parcels: [\d,]+ of ~3,000 rows \(\d+%\), [\d,]+ rows/s"
    r"(, about \d+:\d\d:\d\d left)?"
)


async def test_offline_sql_renders_the_backfill_as_comments(versions: Path) -> None:
    cfg = with_backfill(versions)
    sql = await migrations.upgrade_sql(None, f"{PARCELS}:{BACKFILL}", cfg=cfg)
    assert "-- op.backfill on parcels, run by tfsync once this revision has committed:" in sql
    assert "-- in batches on its primary key, each its own short transaction of about 5ms," in sql
    assert "--   SET county = upper(county), touched = touched + 1\n" in sql
    assert "--   WHERE county <> upper(county)\n" in sql
    assert "UPDATE parcels" not in sql
