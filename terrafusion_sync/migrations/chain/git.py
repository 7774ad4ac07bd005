"""The few git questions the chain's tools ask, through the ``git`` program.

The squash and the rebase rewrite revision files, so both refuse a ``versions/`` folder
with changes git does not know yet; the rebase also asks which files exist only on this
branch. Git's own answers, no library: three short commands.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from terrafusion_sync.errors import MigrationError, first_line
from terrafusion_sync.settings import shown_path


def git(folder: Path, *args: str) -> str:
    """The output of ``git args`` run in ``folder``; a failure is a one-line error."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=folder, capture_output=True, text=True, check=False
        )
    except OSError as exc:
        raise MigrationError(f"cannot run git: {exc.strerror or exc}", "install git") from exc
    if done.returncode != 0:
        raise MigrationError(
            f"git {args[0]} failed in {shown_path(folder)}: {first_line(done.stderr)}",
            "the revision folder must be inside a git repository; nothing was changed",
        )
    return done.stdout


def refuse_dirty(versions: Path) -> None:
    """Refuse when ``versions`` has uncommitted or untracked files: a rewrite must be a
    commit of its own that a person can read and undo."""
    changed = git(versions, "status", "--porcelain", "--untracked-files=all", "--", ".")
    if changed.strip():
        first = changed.splitlines()[0][3:]
        raise MigrationError(
            f"{shown_path(versions)} has uncommitted changes ({first})",
            "commit or stash them first; nothing was changed",
        )


def refuse_unknown_branch(versions: Path, branch: str) -> None:
    """Refuse when ``branch`` names no branch of the repository."""
    for ref in (f"refs/heads/{branch}", f"refs/remotes/{branch}"):
        found = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", ref], cwd=versions, capture_output=True
        )
        if found.returncode == 0:
            return
    raise MigrationError(
        f"--onto {branch!r} names no branch of this repository",
        "name the branch whose head to move onto, e.g. --onto main",
    )


def added_since(versions: Path, branch: str) -> set[str]:
    """Names of the files in ``versions`` that this commit has and ``branch`` has not."""
    listed = git(versions, "diff", "--name-only", "--diff-filter=A", branch, "HEAD", "--", ".")
    return {Path(line).name for line in listed.splitlines() if line.strip()}
