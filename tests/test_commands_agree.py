"""`make help`, `nox -l` and `tfsync --help` name the same commands.

Every ``tfsync`` command has a nox session of its name; every nox session is a ``tfsync``
command or one of the project's tools; every make target calls one nox session that exists,
and every session is called by a target. A command added in one place and forgotten in
another fails here.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from terrafusion_sync.cli import build_parser
from terrafusion_sync.settings import child_environ

ROOT = Path(__file__).resolve().parents[1]
TOOL_SESSIONS = {"lint", "bench", "pytest_alembic"}
"""Sessions that run a tool (ruff, the benchmarks, pytest-alembic's interop test in its own
environment), not a ``tfsync`` command."""
NO_SESSION_TARGETS = {"help", "hooks"}
"""Targets that call no nox session: the list itself, and pre-commit's installer."""


def tfsync_commands() -> set[str]:
    parser = build_parser()
    (commands,) = [a for a in parser._actions if a.dest == "command"]  # argparse's subparsers
    return set(commands.choices)


def nox_sessions() -> set[str]:
    """Every session ``nox -l`` lists: ``* name -> ...`` (run by default) or ``- name -> ...``."""
    listed = subprocess.run(
        [sys.executable, "-m", "nox", "-l"],
        cwd=ROOT,
        env=child_environ(),
        capture_output=True,
        text=True,
        check=True,
    )
    return set(re.findall(r"^[*-] ([\w-]+)", listed.stdout, re.M))


def make_targets() -> dict[str, set[str]]:
    """Each target ``make help`` lists, with the nox sessions its recipe calls."""
    helped = subprocess.run(
        ["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    targets = {line.split()[0] for line in helped.splitlines() if line.startswith("  ")}
    recipes = re.findall(
        r"^([a-z-]+):[^\n]*\n((?:\t[^\n]*\n)+)", (ROOT / "Makefile").read_text(), re.M
    )
    calls = {name: set(re.findall(r"\$\(NOX\) -s ([\w-]+)", body)) for name, body in recipes}
    return {target: calls.get(target, set()) for target in targets}


def test_every_command_has_a_session_and_every_session_a_target() -> None:
    commands, sessions, targets = tfsync_commands(), nox_sessions(), make_targets()

    assert commands - sessions == set(), "tfsync commands without a nox session"
    assert sessions - commands - TOOL_SESSIONS == set(), "nox sessions that are no tfsync command"
    for target, called in targets.items():
        expected = 0 if target in NO_SESSION_TARGETS else 1
        assert len(called) == expected, f"make {target} calls {sorted(called) or 'no session'}"
        assert called <= sessions, f"make {target} calls an unknown session {called - sessions}"
    called_by_make = set().union(*targets.values())
    assert sessions - called_by_make == set(), "nox sessions no make target calls"
