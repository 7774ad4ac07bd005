"""The embedded PostgreSQL: started on demand, safely by several processes at once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from terrafusion_sync import embedded
from terrafusion_sync.embedded import state_dir_for_tests
from terrafusion_sync.settings import child_environ

from helpers import finish


def tfsync(state_dir: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "terrafusion_sync", *args],
        env=child_environ(TFSYNC_STATE_DIR=str(state_dir)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_processes_start_it_at_once_then_it_stops(
    cluster_state_dir: Callable[[], Path],
) -> None:
    state = cluster_state_dir()
    starters = [tfsync(state, "status"), tfsync(state, "status", "--test")]
    results = [finish(process) for process in starters]
    try:
        assert [code for code, _, _ in results] == [0, 0], results
        assert all("embedded PostgreSQL" in out for _, out, _ in results)
        code, out, _ = finish(tfsync(state, "upgrade"))
        assert code == 0
        assert "upgraded " in out
        code, out, _ = finish(tfsync(state, "status", "--test"))
        assert code == 0
        assert "embedded PostgreSQL" in out
        # the tests' cluster is another one, with the application's cluster untouched by it
        tests = state_dir_for_tests(state)
        assert f"{tests / 'pgdata'}/terrafusion_sync_test" in out
        assert (tests / "pgdata" / "postmaster.pid").exists()
        assert (state / "pgdata" / "postmaster.pid").exists()
    finally:
        code, out, err = finish(tfsync(state, "db-stop"))
    assert code == 0, err
    assert "stopped" in out
    assert not (state / "pgdata" / "postmaster.pid").exists()
    assert not (tests / "pgdata" / "postmaster.pid").exists()
    if tests.parent == embedded.RAM:
        assert not tests.exists()  # what is in RAM goes with it


@pytest.fixture
def ram(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder standing in for /dev/shm."""
    folder = tmp_path / "shm"
    folder.mkdir()
    monkeypatch.setattr(embedded, "RAM", folder)
    return folder


def test_the_test_cluster_lives_in_ram_when_it_has_room_and_stays_where_it_was_made(
    ram: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "project" / ".tfsync"
    chosen = state_dir_for_tests(state)
    assert chosen.parent == ram
    assert chosen.name.startswith(f"tfsync-{os.getuid()}-")
    assert state_dir_for_tests(tmp_path / "other" / ".tfsync") != chosen  # one per checkout

    monkeypatch.setattr(embedded, "RAM_ROOM", 1 << 62)  # no room any more
    assert state_dir_for_tests(state) == state / "test"
    chosen.mkdir()  # made while there was room: every later process finds it there
    assert state_dir_for_tests(state) == chosen


def test_a_test_cluster_made_on_disk_stays_there_when_ram_has_room_again(
    ram: Path, tmp_path: Path
) -> None:
    state = tmp_path / ".tfsync"
    (state / "test").mkdir(parents=True)
    assert state_dir_for_tests(state) == state / "test"


def test_a_cluster_whose_installation_is_gone_is_restarted(
    cluster_state_dir: Callable[[], Path],
) -> None:
    state = cluster_state_dir()
    pgdata = state / "pgdata"
    try:
        assert finish(tfsync(state, "status"))[0] == 0
        first_pid = (pgdata / "postmaster.pid").read_text().split()[0]
        # what a rebuilt nox environment leaves: the server runs, its binary path is gone
        opts = pgdata / "postmaster.opts"
        binary = opts.read_text().split()[0].strip('"')
        opts.write_text(opts.read_text().replace(binary, str(state / "gone" / "bin" / "postgres")))

        code, out, err = finish(tfsync(state, "status"))
        assert code == 0, err
        assert "embedded PostgreSQL" in out
        assert (pgdata / "postmaster.pid").read_text().split()[0] != first_pid  # restarted
        assert Path(opts.read_text().split()[0].strip('"')).exists()
    finally:
        finish(tfsync(state, "db-stop"))
