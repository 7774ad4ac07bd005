"""README "Zero-downtime changes": statements that still name the old column hold the contract.

Run on a cluster of the test's own with pg_stat_statements preloaded (conftest's
``statements_url``), the quiet period a couple of seconds.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from terrafusion_sync import migrations
from terrafusion_sync.errors import MigrationError
from terrafusion_sync.provision import scratch_database

from helpers import StatementsCluster, cli, execute, postgres_bindir, rows
from test_expand_contract import TABLE, config, write_pair

pytestmark = pytest.mark.asyncio(loop_scope="session")

QUIET = migrations.Timeouts(contract_quiet="2s")
OLD_READ = f"SELECT parcel_number FROM {TABLE} WHERE property_id = 'p1'"
SNAPSHOTS = "SELECT table_name, old_column, calls FROM tfsync_contract_statements ORDER BY taken_at"
HOUR_AGO = "now() - interval '1 hour'"
IN_MONITORING = (
    "CREATE SCHEMA monitoring",
    "CREATE EXTENSION pg_stat_statements SCHEMA monitoring",
)
OLD_COLUMN = (
    "SELECT count(*) FROM information_schema.columns"
    f" WHERE table_name = '{TABLE}' AND column_name = 'parcel_number'"
)


async def expanded(url: URL, versions: Path) -> None:
    """The rename's expand applied by the tool, its watch row an hour old: only
    pg_stat_statements can hold the contract now."""
    await write_pair(url, versions, 10)
    await migrations.upgrade(url, cfg=config(versions))
    await execute(
        url, "UPDATE tfsync_contract_watch SET last_old_write_at = now() - interval '1 hour'"
    )


def old_calls(snapshot: dict[str, int]) -> int:
    return sum(snapshot.values())


async def test_a_statement_naming_the_old_column_holds_the_contract_until_quiet(
    statements_url: URL, versions: Path
) -> None:
    await expanded(statements_url, versions)
    taken = await rows(statements_url, SNAPSHOTS)  # the expand's snapshot
    assert [(t, c) for t, c, _ in taken] == [(TABLE, "parcel_number")]
    before = await migrations.current_revisions(statements_url, config(versions))

    await execute(statements_url, OLD_READ)  # a read: the trigger cannot see it
    with pytest.raises(MigrationError) as refused:
        await migrations.upgrade(statements_url, cfg=config(versions), contract=True, limits=QUIET)
    message = str(refused.value)
    assert "property_operational.parcel_number: statements naming it ran since " in message
    assert "TFSYNC_CONTRACT_QUIET 2s" in message
    assert "nothing was changed" in message
    assert await migrations.current_revisions(statements_url, config(versions)) == before
    assert await rows(statements_url, OLD_COLUMN) == [(1,)]
    grown = await rows(statements_url, SNAPSHOTS)
    assert len(grown) == 2
    assert old_calls(grown[1][2]) == old_calls(grown[0][2]) + 1

    # the counts have stood still since a snapshot at least the quiet period old
    await asyncio.sleep(2.2)
    done = await migrations.upgrade(
        statements_url, cfg=config(versions), contract=True, limits=QUIET
    )
    assert len(done.applied) == 1
    assert await rows(statements_url, OLD_COLUMN) == [(0,)]
    assert await rows(statements_url, SNAPSHOTS) == []  # spent with the contract


async def test_counts_unchanged_since_a_young_snapshot_do_not_prove_quiet(
    statements_url: URL, versions: Path
) -> None:
    await write_pair(statements_url, versions, 10)
    await execute(statements_url, OLD_READ)  # old code read it before the expand
    await migrations.upgrade(statements_url, cfg=config(versions))
    await execute(
        statements_url,
        "UPDATE tfsync_contract_watch SET last_old_write_at = now() - interval '1 hour'",
    )
    quiet = migrations.Timeouts(contract_quiet="1h")
    with pytest.raises(MigrationError, match="statements naming it ran before "):
        await migrations.upgrade(statements_url, cfg=config(versions), contract=True, limits=quiet)
    # forced past it, the history says why
    done = await migrations.upgrade(
        statements_url, cfg=config(versions), contract=True, force=True, limits=quiet
    )
    history = await migrations.read_history(statements_url, None)
    note = next(e for e in history if e.revision == done.applied[0]).note
    assert note is not None
    assert "property_operational.parcel_number: statements naming it ran" in note


async def test_status_takes_a_snapshot_when_the_counts_changed(
    statements_url: URL,
    versions: Path,
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await expanded(statements_url, versions)
    await migrations.count_old_statements(statements_url, config(versions))
    assert len(await rows(statements_url, SNAPSHOTS)) == 1  # unchanged: the older one kept
    await execute(statements_url, OLD_READ, OLD_READ)
    code, out, _ = cli(env, capsys, statements_url, "status", versions=versions)
    assert code == 0
    assert "1 contract revision(s) wait" in out
    first, second = await rows(statements_url, SNAPSHOTS)
    assert old_calls(second[2]) == old_calls(first[2]) + 2


async def test_statements_naming_both_columns_or_other_tables_do_not_count(
    statements_url: URL, versions: Path
) -> None:
    await expanded(statements_url, versions)
    await execute(
        statements_url,
        f"SELECT parcel_number, parcel_no FROM {TABLE} WHERE property_id = 'p2'",
        "SELECT 'parcel_number' AS c",
    )
    await asyncio.sleep(2.2)  # the expand's snapshot (the rows put in before it) grows old
    done = await migrations.upgrade(
        statements_url, cfg=config(versions), contract=True, limits=QUIET
    )
    assert len(done.applied) == 1


async def test_created_but_not_preloaded_the_proof_skips_it(
    statements_server: URL, versions: Path
) -> None:
    bindir = postgres_bindir()
    assert bindir is not None  # statements_server would have skipped
    folder = Path(tempfile.mkdtemp(prefix="tfsync-not-loaded-"))
    cluster = StatementsCluster(bindir, folder, preload=False)
    try:
        async with scratch_database(cluster.start(), "not_loaded") as url:
            await execute(url, *IN_MONITORING)
            await write_pair(url, versions, 10)
            await migrations.upgrade(url, cfg=config(versions))
            await execute(url, f"UPDATE tfsync_contract_watch SET last_old_write_at = {HOUR_AGO}")
            await execute(url, OLD_READ)
            done = await migrations.upgrade(url, cfg=config(versions), contract=True, limits=QUIET)
            assert len(done.applied) == 1
            assert await rows(url, "SELECT count(*) FROM tfsync_contract_statements") == [(0,)]
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
