"""Applied files do not change: ``make validate`` and an upgrade that refuses to run.

README "Deploying safely": an applied revision file that changed stops the upgrade until
the change is accepted with a reason, which the history keeps.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from terrafusion_sync import migrations
from terrafusion_sync.database import application_name

from helpers import (
    CHAIN,
    HEAD,
    assert_one_line_error,
    cli,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_changed_applied_file_is_refused_until_the_change_is_accepted(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scratch_url: URL, versions: Path
) -> None:
    assert cli(env, capsys, scratch_url, "upgrade", versions=versions)[0] == 0
    code, out, _ = cli(env, capsys, scratch_url, "validate", versions=versions)
    assert code == 0
    assert f"0 changed of {len(CHAIN)}" in out

    [initial] = versions.glob(f"*{HEAD}*.py")
    initial.write_text(initial.read_text() + "\n# edited after it was applied\n")
    code, out, _ = cli(env, capsys, scratch_url, "validate", versions=versions)
    assert code == 1
    assert f"changed: {HEAD} ({initial.name}) changed since it was applied" in out

    code, _, err = cli(env, capsys, scratch_url, "upgrade", versions=versions)
    assert code == 2
    assert_one_line_error(err, f"revision {HEAD}", "refusing to migrate", "--accept")

    code, _, err = cli(env, capsys, scratch_url, "validate", "--accept", HEAD, versions=versions)
    assert code == 2
    assert_one_line_error(err, "needs a reason")

    code, out, _ = cli(
        env,
        capsys,
        scratch_url,
        "validate",
        "--accept",
        HEAD,
        "--reason",
        "comment only",
        versions=versions,
    )
    assert code == 0
    assert f"accepted {HEAD}" in out
    assert cli(env, capsys, scratch_url, "validate", versions=versions)[0] == 0
    assert cli(env, capsys, scratch_url, "upgrade", versions=versions)[0] == 0

    code, out, _ = cli(env, capsys, scratch_url, "history", versions=versions)
    assert code == 0
    lines = [line for line in out.splitlines() if HEAD in line]
    assert [line.split()[3] for line in lines] == ["upgrade", "accept"]
    assert "(comment only)" in lines[1]
    entries = await migrations.read_history(scratch_url)
    assert entries[1].checksum != entries[0].checksum
    assert entries[0].db_user == (scratch_url.username or entries[0].db_user)
    assert entries[0].finished_at >= entries[0].started_at
    assert entries[0].application == application_name()
