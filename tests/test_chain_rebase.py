"""Two heads after a merge: ``tfsync rebase`` moves this branch's revisions onto the other.

README "Keeping the history short": the branch's revisions keep their ids and follow the
other head; refused when one is applied to the application database or both heads change
the same column; with one head nothing changes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from terrafusion_sync import migrations
from terrafusion_sync.errors import MigrationError
from terrafusion_sync.migrations.chain.rebase import rebase

from chain_history import ENUM_TABLE, commit, git, repository, write_history
from helpers import add_revision, current

pytestmark = pytest.mark.asyncio(loop_scope="session")

OURS = "f0000000000a"
THEIRS = "f0000000000b"


def merged(tmp_path: Path, ours_column: str = "owner", theirs_column: str = "zoning") -> Path:
    """A repository where ``feature`` and ``main`` each added a revision on the same head,
    and ``main`` was merged into ``feature`` with git: two heads."""
    versions = repository(tmp_path / "repo")
    write_history(versions)
    head = sorted(p.name for p in versions.glob("*.py"))[-1].split("-")[1].split("_")[0]
    git(versions.parent, "checkout", "-q", "-b", "feature")
    add_column = 'op.add_column("parcels", sa.Column({!r}, sa.Text))'
    ours = add_revision(versions, OURS, head, add_column.format(ours_column), doc="feature column")
    ours.write_text(
        ours.read_text().replace("feature column", f"feature column\n\nRevises: {head}", 1)
    )
    commit(versions, "feature: a column")
    git(versions.parent, "checkout", "-q", "main")
    add_revision(versions, THEIRS, head, add_column.format(theirs_column), doc="main column")
    commit(versions, "main: a column")
    git(versions.parent, "checkout", "-q", "feature")
    git(versions.parent, "merge", "-q", "--no-edit", "main")
    return versions


async def test_rebase_moves_the_branch_onto_the_other_head(
    tmp_path: Path, scratch_url: URL
) -> None:
    versions = merged(tmp_path)
    cfg = migrations.alembic_config(versions_dir=versions)
    assert len(migrations.script_directory(cfg).get_heads()) == 2

    done = await rebase("main", app_url=scratch_url, cfg=cfg)

    assert done.moved == [OURS]
    assert done.onto == THEIRS
    source = done.edited.read_text() if done.edited else ""
    assert f"down_revision = {THEIRS!r}" in source
    assert f'Revises: {THEIRS}"""' in source
    after = migrations.alembic_config(versions_dir=versions)
    assert migrations.script_directory(after).get_heads() == [OURS]
    await migrations.upgrade(scratch_url, cfg=after)
    assert await current(scratch_url, versions) == (OURS,)


async def test_a_revision_applied_to_the_database_is_not_moved(
    tmp_path: Path, scratch_url: URL
) -> None:
    versions = merged(tmp_path)
    cfg = migrations.alembic_config(versions_dir=versions)
    await migrations.upgrade(scratch_url, OURS, cfg=cfg)
    [ours] = versions.glob(f"*{OURS}*.py")
    before = ours.read_text()

    with pytest.raises(MigrationError, match=f"revision {OURS} .* is applied"):
        await rebase("main", app_url=scratch_url, cfg=cfg)
    assert ours.read_text() == before


async def test_both_heads_changing_one_column_is_refused(tmp_path: Path, scratch_url: URL) -> None:
    versions = merged(tmp_path, ours_column="zoning", theirs_column="zoning")
    cfg = migrations.alembic_config(versions_dir=versions)
    [ours] = versions.glob(f"*{OURS}*.py")
    before = ours.read_text()

    with pytest.raises(MigrationError, match=r"both heads change column parcels\.zoning"):
        await rebase("main", app_url=scratch_url, cfg=cfg)
    assert ours.read_text() == before


async def test_one_head_changes_nothing(tmp_path: Path, scratch_url: URL) -> None:
    versions = repository(tmp_path / "repo")
    write_history(versions)
    cfg = migrations.alembic_config(versions_dir=versions)

    done = await rebase("main", app_url=scratch_url, cfg=cfg)

    assert done.moved == []
    assert git(versions.parent, "status", "--porcelain") == ""


async def test_onto_a_branch_that_does_not_exist_is_refused(
    tmp_path: Path, scratch_url: URL
) -> None:
    versions = merged(tmp_path)
    cfg = migrations.alembic_config(versions_dir=versions)
    with pytest.raises(MigrationError, match="--onto 'trunk' names no branch"):
        await rebase("trunk", app_url=scratch_url, cfg=cfg)
    assert ENUM_TABLE in git(versions.parent, "log", "--stat", "-n", "10")
