"""``tfsync squash`` and ``tfsync rebase`` as a person runs them, on a copy of the project's
own history in a git repository.

README "Keeping the history short": the squash is sealed as deliberate, databases that ran
the old file validate and upgrade as before, ``history`` and ``docs`` show it, and the
review passes; the rebase runs the review on its result; bad input is one line, exit 2.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from chain_history import commit, git
from helpers import CHAIN, HEAD, INITIAL, add_revision, assert_one_line_error, cli

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
def committed(versions: Path, env: pytest.MonkeyPatch, test_database_url: URL) -> Path:
    """The project's versions (and versions.sum) committed in a git repository of their own;
    the test database is the test server's, and there is no fleet file."""
    git(versions.parent, "init", "-q", "-b", "main")
    commit(versions, "the project's history")
    env.setenv("TEST_DATABASE_URL", test_database_url.render_as_string(hide_password=False))
    env.setenv("TFSYNC_FLEET", str(versions.parent / "no-fleet.toml"))
    return versions


async def test_squash_of_the_project_history_is_sealed_valid_shown_and_reviewed(
    committed: Path,
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    scratch_url: URL,
    test_database_url: URL,
) -> None:
    def run(*argv: str) -> tuple[int, str, str]:
        return cli(env, capsys, scratch_url, *argv, versions=committed)

    assert run("upgrade")[0] == 0  # the application database ran the old file
    fleet = committed.parent / "fleet.toml"
    fleet.write_text(
        f'[databases.benton]\nurl = "{scratch_url.render_as_string(hide_password=False)}"\n'
    )
    env.setenv("TFSYNC_FLEET", str(fleet))

    code, out, err = run("squash", "--through", HEAD)

    assert (code, err) == (0, "")
    assert "asking 3 known database(s) where they stand" in out
    assert "proof:" in out
    assert f"{len(CHAIN)} revision(s) squashed into {HEAD}" in out
    sums = (committed.parent / "versions.sum").read_text()
    assert f"{HEAD} sha256:" in sums
    assert f"_baseline.py -- squash of {len(CHAIN)} revision(s) through {HEAD}" in sums

    code, out, _ = run("validate")
    assert (code, "0 changed of 1" in out) == (0, True)
    assert run("upgrade")[1].endswith(f"already at {HEAD}: nothing to do\n")
    assert f"(file squashed into baseline {HEAD})" in run("history")[1]
    assert "Squashed baseline" in run("docs", "--output", "-")[1]
    code, out, _ = run("review")
    assert code == 0, out


async def test_bad_input_is_one_line_and_writes_nothing(
    committed: Path, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scratch_url: URL
) -> None:
    before = sorted(p.name for p in committed.iterdir())
    code, _, err = cli(env, capsys, scratch_url, "squash", "--through", "nope", versions=committed)
    assert code == 2
    assert_one_line_error(err, "nope")
    code, _, err = cli(env, capsys, scratch_url, "rebase", "--onto", "trunk", versions=committed)
    assert code == 2
    assert_one_line_error(err, "--onto 'trunk' names no branch")
    (committed / "draft.py").write_text("# not committed\n")
    code, _, err = cli(env, capsys, scratch_url, "squash", "--through", INITIAL, versions=committed)
    assert code == 2
    assert_one_line_error(err, "uncommitted changes", "draft.py")
    (committed / "draft.py").unlink()
    assert sorted(p.name for p in committed.iterdir()) == before


def add_sequence(versions: Path, branch: str, rev: str, name: str) -> None:
    """On ``branch``, commit a revision after the head that creates the sequence ``name``
    (not a view: the drift check reports a view db_objects.py does not declare)."""
    git(versions.parent, "checkout", "-q", branch)
    add_revision(
        versions,
        rev,
        HEAD,
        f'op.execute("CREATE SEQUENCE {name}")',
        f'op.execute("DROP SEQUENCE {name}")',
        doc=f"sequence {name}",
    )
    commit(versions, f"{branch}: sequence {name}")


async def test_rebase_after_a_git_merge_then_reviews(
    committed: Path, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scratch_url: URL
) -> None:
    assert "one head" in cli(env, capsys, scratch_url, "rebase", versions=committed)[1]
    ours, theirs = "b0000000000a", "b0000000000b"
    git(committed.parent, "branch", "feature")
    add_sequence(committed, "feature", ours, "s_ours")
    add_sequence(committed, "main", theirs, "s_theirs")
    git(committed.parent, "checkout", "-q", "feature")
    git(committed.parent, "merge", "-q", "--no-edit", "main")

    code, out, err = cli(env, capsys, scratch_url, "rebase", versions=committed)

    assert code == 0, out + err
    assert f"moved {ours} onto {theirs}" in out
    [moved] = committed.glob(f"*{ours}*.py")
    assert f"down_revision = {theirs!r}" in moved.read_text()
