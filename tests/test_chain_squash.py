"""Keeping the history short: ``tfsync squash --through REV``.

README "Keeping the history short": one proven baseline keeping REV's id replaces the
revisions up to REV; databases at REV or later see no change; a database before REV
stops it; the reference rows survive and the backfills are named as dropped.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from terrafusion_sync import migrations
from terrafusion_sync.errors import MigrationError
from terrafusion_sync.migrations.chain import baseline
from terrafusion_sync.migrations.chain.squash import squash
from terrafusion_sync.migrations.chain.standing import Known
from terrafusion_sync.provision import scratch_database

from chain_history import (
    AFTER,
    ENUM_TABLE,
    REFERENCE_ROWS,
    VIEW_AND_BACKFILL,
    commit,
    repository,
    write_history,
)
from helpers import add_revision, current, execute, rows

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """The hand-written history (enum, view, reference rows, ...) in a git repository."""
    versions = repository(tmp_path / "repo")
    write_history(versions)
    return versions


def names(versions: Path) -> list[str]:
    return sorted(p.name for p in versions.glob("*.py"))


async def test_squash_keeps_schema_rows_and_later_databases(
    history: Path, test_database_url: URL, scratch_url: URL
) -> None:
    cfg = migrations.alembic_config(versions_dir=history)
    await migrations.upgrade(scratch_url, VIEW_AND_BACKFILL, cfg=cfg)  # a database at REV

    done = await squash(
        VIEW_AND_BACKFILL,
        cfg=cfg,
        scratch_server=test_database_url,
        databases=[Known("county", scratch_url)],
    )

    assert [r.revision for r in done.replaced] == [ENUM_TABLE, REFERENCE_ROWS, VIEW_AND_BACKFILL]
    assert names(history) == [done.baseline.name, *[n for n in names(history) if AFTER in n]]
    text = done.baseline.read_text()
    assert f'revision: str = "{VIEW_AND_BACKFILL}"' in text
    assert "down_revision: str | Sequence[str] | None = None" in text
    assert 'op.backfill("parcels", set="code = upper(code)"' in text.split('"""')[1]
    [after] = history.glob(f"*{AFTER}*.py")
    assert f"down_revision = {VIEW_AND_BACKFILL!r}" in after.read_text()

    # the database at REV runs only what comes after it, and its applied files validate
    fresh_cfg = migrations.alembic_config(versions_dir=history)
    outcome = await migrations.upgrade(scratch_url, cfg=fresh_cfg)
    assert outcome.applied == [AFTER]
    checked = await migrations.validate(scratch_url, fresh_cfg)
    assert checked.mismatches == []
    assert VIEW_AND_BACKFILL in checked.checked

    # a new database from the baseline has the reference rows, the enum and the view
    async with scratch_database(test_database_url, "new") as new:
        await migrations.upgrade(new, cfg=migrations.alembic_config(versions_dir=history))
        assert await rows(new, "SELECT code FROM land_use_codes ORDER BY code") == [
            ("AGR",),
            ("RES",),
        ]
        assert await rows(new, "SELECT enum_range(NULL::parcel_status)::text") == [
            ("{active,retired}",)
        ]
        await execute(new, "INSERT INTO parcels (code) VALUES ('a-1')")
        assert await rows(new, "SELECT code FROM active_parcels") == [("a-1",)]
        assert await current(new, history) == (AFTER,)

    # run a hundred at a time in DO blocks, the baseline still reads one statement at a time
    sql = await migrations.upgrade_sql(None, f"base:{VIEW_AND_BACKFILL}", cfg=fresh_cfg)
    assert "CREATE TABLE public.land_use_codes" in sql
    assert "'Residential: one family'" in sql
    assert "DO $tfsync_baseline$" not in sql
    assert "DO $tfsync_baseline$" in text  # the file's online path: a round trip per hundred


async def test_a_database_in_the_middle_stops_the_squash(
    history: Path, test_database_url: URL, scratch_url: URL
) -> None:
    cfg = migrations.alembic_config(versions_dir=history)
    await migrations.upgrade(scratch_url, REFERENCE_ROWS, cfg=cfg)
    before = names(history)

    with pytest.raises(MigrationError) as refused:
        await squash(
            VIEW_AND_BACKFILL,
            cfg=cfg,
            scratch_server=test_database_url,
            databases=[Known("benton", scratch_url)],
        )

    assert f"benton is at {REFERENCE_ROWS}" in str(refused.value)
    assert names(history) == before


async def test_an_unreachable_database_is_named_unless_forced(
    history: Path, test_database_url: URL
) -> None:
    cfg = migrations.alembic_config(versions_dir=history)
    gone = Known("franklin", test_database_url.set(database="tfsync_no_such_database"))

    with pytest.raises(MigrationError, match="franklin is unreachable"):
        await squash(REFERENCE_ROWS, cfg=cfg, scratch_server=test_database_url, databases=[gone])
    assert len(names(history)) == 4

    done = await squash(
        REFERENCE_ROWS, cfg=cfg, scratch_server=test_database_url, databases=[gone], force=True
    )
    assert len(names(history)) == 3
    assert "- none" in done.baseline.read_text()


async def test_a_baseline_that_differs_is_not_written(
    history: Path, test_database_url: URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = migrations.alembic_config(versions_dir=history)
    real = baseline.statements
    monkeypatch.setattr(
        baseline,
        "statements",
        lambda sql: [s for s in real(sql) if "land_use_codes" not in s or "INSERT" not in s],
    )
    before = names(history)

    with pytest.raises(MigrationError) as refused:
        await squash(VIEW_AND_BACKFILL, cfg=cfg, scratch_server=test_database_url)

    assert "rows land_use_codes differs: '2 rows" in str(refused.value)
    assert "\n" not in str(refused.value)
    assert names(history) == before


@pytest.mark.parametrize(
    ("through", "expected"),
    [("nope00000000", "nope00000000"), ("", "no revision")],
)
async def test_an_unknown_revision_is_refused(
    history: Path, test_database_url: URL, through: str, expected: str
) -> None:
    cfg = migrations.alembic_config(versions_dir=history)
    with pytest.raises(MigrationError, match=expected):
        await squash(through, cfg=cfg, scratch_server=test_database_url)
    assert len(names(history)) == 4


async def test_a_dirty_versions_folder_is_refused(history: Path, test_database_url: URL) -> None:
    cfg = migrations.alembic_config(versions_dir=history)
    (history / "notes.txt").write_text("not committed\n")
    with pytest.raises(MigrationError, match="uncommitted changes"):
        await squash(REFERENCE_ROWS, cfg=cfg, scratch_server=test_database_url)
    commit(history, "notes")
    assert len(names(history)) == 4


async def test_a_merge_below_or_a_branch_off_below_is_refused(
    history: Path, test_database_url: URL
) -> None:
    add_revision(history, "m0000000000a", ENUM_TABLE, "pass", doc="side branch")
    commit(history, "a branch off the first revision")
    cfg = migrations.alembic_config(versions_dir=history)
    with pytest.raises(MigrationError, match="m0000000000a branches off below it"):
        await squash(REFERENCE_ROWS, cfg=cfg, scratch_server=test_database_url)

    add_revision(history, "m0000000000b", ("m0000000000a", AFTER), "pass", doc="merge")
    commit(history, "merge both heads")
    cfg = migrations.alembic_config(versions_dir=history)
    with pytest.raises(MigrationError, match="m0000000000b merges branches below it"):
        await squash("m0000000000b", cfg=cfg, scratch_server=test_database_url)
    assert len(names(history)) == 6
