"""See before doing: ``make plan`` lists what an upgrade would run and changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from helpers import (
    CHAIN,
    HEAD,
    INITIAL,
    add_revision,
    cli,
    current,
    rows,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_plan_lists_revisions_with_sql_and_changes_nothing(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scratch_url: URL, versions: Path
) -> None:
    add_revision(
        versions,
        "c9000000000c",
        HEAD,
        "op.add_column('report_jobs', sa.Column('priority', sa.Integer()))",
        header='lock_timeout = "30s"\n',
    )
    code, out, err = cli(env, capsys, scratch_url, "upgrade", "--plan", versions=versions)
    assert code == 0, err
    assert f"{len(CHAIN) + 1} revision(s) would run" in out
    assert f"{INITIAL}  initial schema" in out
    assert "c9000000000c  test step" in out
    assert "lock_timeout 30s" in out
    assert "CREATE TABLE property_operational" in out
    assert "ALTER TABLE report_jobs ADD COLUMN priority INTEGER" in out
    assert await rows(scratch_url, "SELECT 1 FROM pg_tables WHERE schemaname = 'public'") == []

    assert cli(env, capsys, scratch_url, "upgrade", HEAD, versions=versions)[0] == 0
    code, out, _ = cli(env, capsys, scratch_url, "upgrade", "--plan", versions=versions)
    assert "1 revision(s) would run" in out
    assert "CREATE TABLE property_operational" not in out
    assert await current(scratch_url, versions) == (HEAD,)
