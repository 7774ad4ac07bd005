"""The embedded PostgreSQL: started on demand, safely by several processes at once."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

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
        assert "terrafusion_sync_test" in out
    finally:
        code, out, err = finish(tfsync(state, "db-stop"))
    assert code == 0, err
    assert "stopped" in out
    assert not (state / "pgdata" / "postmaster.pid").exists()


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
