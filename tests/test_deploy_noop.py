"""The no-op upgrade: a database at head is answered by one query.

README "Deploying safely": without the lock, without loading a revision file, without
importing Alembic or the models; and the full path again as soon as the files, the
database's revision or the history moved.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic import command as alembic_command
from sqlalchemy.engine import URL

from terrafusion_sync import migrations
from terrafusion_sync.database import connect
from terrafusion_sync.migrations.deploy import lock
from terrafusion_sync.migrations.plumbing import commands

from helpers import (
    APP_TABLES,
    CHAIN,
    HANG_GUARD,
    HEAD,
    add_revision,
    assert_one_line_error,
    cli,
    finish,
    spawn,
    tables,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


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
    add_revision(versions, "e1000000000e", HEAD, "pass", header=LOADED_MARK)
    cfg = migrations.alembic_config(versions_dir=versions)
    assert (await migrations.upgrade(scratch_url, cfg=cfg)).applied == [*CHAIN, "e1000000000e"]
    assert loaded.exists()  # the marker works: a run that loads the files writes it
    loaded.unlink()

    async with connect(scratch_url) as holder:  # a slow path would wait for this forever
        await holder.run_sync(lambda c: lock.acquire(c, print))
        again = migrations.upgrade(scratch_url, cfg=cfg)
        outcome = await asyncio.wait_for(again, HANG_GUARD)
        await holder.run_sync(lock.release)
    assert not loaded.exists()
    assert outcome == migrations.Outcome([], ("e1000000000e",))


def upgrade_telling_if_imported(url: URL, versions: Path, *modules: str) -> tuple[int, str, str]:
    """``tfsync upgrade`` in a process of its own, as the console script runs it, printing
    from an exit handler whether each of ``modules`` was imported: (exit code, stdout,
    stderr)."""
    script = (
        "import atexit, sys\n"
        "from terrafusion_sync.cli import entry_point\n"
        f"for m in {modules!r}:\n"
        "    atexit.register(lambda m=m: print(m, 'imported:', m in sys.modules))\n"
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
    assert f"already at {HEAD}: nothing to do" in out
    assert "alembic imported: False" in out


async def test_an_upgrade_neither_imports_the_models_nor_loses_its_output(
    scratch_url: URL, versions: Path
) -> None:
    code, out, err = upgrade_telling_if_imported(
        scratch_url, versions, "terrafusion_sync.core_models", "pglast"
    )
    assert code == 0, err
    assert f"upgraded   {HEAD}" in out
    assert f"applied {len(CHAIN)} revision(s); now at {HEAD}" in out
    assert "terrafusion_sync.core_models imported: False" in out  # exit handlers still run
    assert "pglast imported: False" in out  # PostgreSQL's parser: only for what needs reading
    assert await tables(scratch_url) == APP_TABLES


async def test_noop_check_gives_way_when_files_or_database_moved(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scratch_url: URL, versions: Path
) -> None:
    cfg = migrations.alembic_config(versions_dir=versions)
    assert (await migrations.upgrade(scratch_url, cfg=cfg)).applied == list(CHAIN)

    add_revision(  # a new file
        versions, "e2000000000e", HEAD, "op.create_table('new_one')", "op.drop_table('new_one')"
    )
    assert (await migrations.upgrade(scratch_url, cfg=cfg)).applied == ["e2000000000e"]

    # moved back behind the tooling's back: plain Alembic writes no history
    await commands.run_on(scratch_url, cfg, lambda _: alembic_command.downgrade(cfg, HEAD))
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
