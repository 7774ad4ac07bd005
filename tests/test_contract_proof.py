"""README "Zero-downtime changes": no record, no contract; the record goes with the contract."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from terrafusion_sync import migrations
from terrafusion_sync.errors import MigrationError

from helpers import assert_one_line_error, cli, execute, rows
from test_expand_contract import TABLE, config, write_pair

pytestmark = pytest.mark.asyncio(loop_scope="session")

WATCH = "SELECT table_name, old_column, new_column FROM tfsync_contract_watch"
OLD_COLUMN = (
    "SELECT count(*) FROM information_schema.columns"
    f" WHERE table_name = '{TABLE}' AND column_name = 'parcel_number'"
)
QUIET = migrations.Timeouts(contract_quiet="1s")


async def test_a_contract_with_no_watch_row_is_refused_unless_forced(
    scratch_url: URL,
    versions: Path,
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await write_pair(scratch_url, versions, 10)
    await migrations.upgrade(scratch_url, cfg=config(versions))
    # as if plain alembic had applied the expand: no row says when old code last wrote
    await execute(scratch_url, "DELETE FROM tfsync_contract_watch")
    before = await migrations.current_revisions(scratch_url, config(versions))
    env.setenv("TFSYNC_CONTRACT_QUIET", "1s")
    code, _, err = cli(env, capsys, scratch_url, "upgrade", "--contract", versions=versions)
    assert code == 2
    assert_one_line_error(
        err,
        "contract refused: no record of when property_operational.parcel_number was last "
        "written through the old column",
        "nothing was changed",
        "--force",
    )
    assert await migrations.current_revisions(scratch_url, config(versions)) == before
    assert await rows(scratch_url, OLD_COLUMN) == [(1,)]

    done = await migrations.upgrade(
        scratch_url, cfg=config(versions), contract=True, force=True, limits=QUIET
    )
    assert len(done.applied) == 1
    history = await migrations.read_history(scratch_url, None)
    note = next(e for e in history if e.revision == done.applied[0]).note
    assert note is not None
    assert note.startswith("contract forced: no record of when property_operational.parcel_number")


async def test_make_contract_before_the_expand_ran_is_refused(
    scratch_url: URL, versions: Path
) -> None:
    await write_pair(scratch_url, versions, 10)
    before = await migrations.current_revisions(scratch_url, config(versions))
    with pytest.raises(MigrationError) as refused:
        await migrations.upgrade(scratch_url, cfg=config(versions), contract=True, limits=QUIET)
    assert "its expand revision" in str(refused.value)
    assert "is not applied yet" in str(refused.value)
    assert "make upgrade" in refused.value.hint
    # nothing ran, not even the expand
    assert await migrations.current_revisions(scratch_url, config(versions)) == before
    assert await rows(scratch_url, WATCH) == []


async def test_make_contract_on_a_database_at_base_builds_it_whole(
    scratch_url: URL, versions: Path
) -> None:
    await write_pair(scratch_url, versions)
    await migrations.downgrade(scratch_url, "base", cfg=config(versions))
    quiet = migrations.Timeouts(contract_quiet="15min")
    done = await migrations.upgrade(scratch_url, cfg=config(versions), contract=True, limits=quiet)
    assert done.waiting == ()
    heads = set(migrations.script_directory(config(versions)).get_heads())
    assert set(done.heads) == heads
    assert await rows(scratch_url, OLD_COLUMN) == [(0,)]
    assert await rows(scratch_url, WATCH) == []  # its proof spent: nothing left behind


async def test_watch_rows_go_with_the_contract_and_come_back_with_its_downgrade(
    scratch_url: URL, versions: Path
) -> None:
    await write_pair(scratch_url, versions, 10)
    await migrations.upgrade(scratch_url, cfg=config(versions))
    assert await rows(scratch_url, WATCH) == [(TABLE, "parcel_number", "parcel_no")]
    await execute(
        scratch_url, "UPDATE tfsync_contract_watch SET last_old_write_at = now() - interval '1h'"
    )
    await migrations.upgrade(scratch_url, cfg=config(versions), contract=True, limits=QUIET)
    assert await rows(scratch_url, OLD_COLUMN) == [(0,)]
    assert await rows(scratch_url, WATCH) == []

    await migrations.downgrade(scratch_url, "-1", cfg=config(versions))
    assert await rows(scratch_url, OLD_COLUMN) == [(1,)]
    # the old column is back: the quiet period starts again from its downgrade
    assert await rows(
        scratch_url,
        "SELECT table_name, old_column, new_column, last_old_write_at > now() - interval '1 min'"
        " FROM tfsync_contract_watch",
    ) == [(TABLE, "parcel_number", "parcel_no", True)]
    with pytest.raises(MigrationError, match="within TFSYNC_CONTRACT_QUIET 15min"):
        await migrations.upgrade(
            scratch_url,
            cfg=config(versions),
            contract=True,
            limits=migrations.Timeouts(contract_quiet="15min"),
        )
