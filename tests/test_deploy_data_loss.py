"""Downgrades do not lose data by surprise.

README "Deploying safely": a step that would drop a table or column holding rows stops
and says what would be lost; ``--allow-data-loss`` drops it and the history notes it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from terrafusion_sync.migrations.deploy import history
from terrafusion_sync.migrations.sql import statements

from helpers import (
    HEAD,
    INITIAL,
    add_revision,
    assert_one_line_error,
    cli,
    current,
    execute,
    rows,
    tables,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_downgrade_that_would_drop_a_table_with_rows_stops(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scratch_url: URL
) -> None:
    assert cli(env, capsys, scratch_url, "upgrade")[0] == 0
    await execute(
        scratch_url,
        "INSERT INTO report_jobs (report_id, report_type, county_id)"
        " VALUES ('1', 't', 'c'), ('2', 't', 'c'), ('3', 't', 'c')",
    )

    code, _, err = cli(env, capsys, scratch_url, "downgrade", "base")
    assert code == 2
    assert_one_line_error(err, "would drop table report_jobs (3 rows", "--allow-data-loss")
    assert await current(scratch_url) == (INITIAL,)  # the revisions above it were undone
    assert len(await rows(scratch_url, "SELECT 1 FROM report_jobs")) == 3

    code, _, err = cli(env, capsys, scratch_url, "downgrade", "base", "--allow-data-loss")
    assert code == 0, err
    assert await current(scratch_url) == ()
    assert await tables(scratch_url) == set()
    [(note,)] = await rows(
        scratch_url,
        f"SELECT note FROM {history.TABLE_NAME} WHERE direction = 'downgrade' AND success"
        f" AND revision = '{INITIAL}'",
    )
    assert "table report_jobs (3 rows" in note


async def test_downgrade_that_would_drop_a_column_with_values_stops(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scratch_url: URL, versions: Path
) -> None:
    add_revision(
        versions,
        "b8000000000b",
        HEAD,
        "op.add_column('report_jobs', sa.Column('owner_email', sa.String(255)))",
        "op.drop_column('report_jobs', 'owner_email')",
    )
    assert cli(env, capsys, scratch_url, "upgrade", versions=versions)[0] == 0
    await execute(
        scratch_url,
        "INSERT INTO report_jobs (report_id, report_type, county_id, owner_email)"
        " VALUES ('1', 't', 'c', 'a@county.example'), ('2', 't', 'c', NULL)",
    )

    code, _, err = cli(env, capsys, scratch_url, "downgrade", "-1", versions=versions)
    assert code == 2
    assert_one_line_error(
        err, "would drop column report_jobs.owner_email (1 row with data)", "b8000000000b"
    )
    assert await current(scratch_url, versions) == ("b8000000000b",)

    # the value moved elsewhere: nothing to lose
    await execute(scratch_url, "UPDATE report_jobs SET owner_email = NULL")
    code, _, err = cli(env, capsys, scratch_url, "downgrade", "-1", versions=versions)
    assert code == 0, err
    assert await current(scratch_url, versions) == (HEAD,)


@pytest.mark.parametrize(
    ("statement", "dropped"),
    [
        ("DROP TABLE report_jobs", [("report_jobs", None)]),
        ('DROP TABLE IF EXISTS a, "B", s.c CASCADE', [("a", None), ('"B"', None), ("s.c", None)]),
        ("ALTER TABLE t DROP COLUMN owner_email", [("t", "owner_email")]),
        ("ALTER TABLE ONLY t DROP x, DROP COLUMN IF EXISTS y", [("t", "x"), ("t", "y")]),
        ("ALTER TABLE t DROP CONSTRAINT fk_x", []),
        ("ALTER TABLE t ALTER COLUMN c DROP DEFAULT, ALTER COLUMN d DROP NOT NULL", []),
        ("DROP INDEX ix_t_c", []),
        ("SELECT 'DROP TABLE t'", []),
    ],
)
async def test_guard_recognises_what_a_statement_drops(
    statement: str, dropped: list[tuple[str, str | None]]
) -> None:
    assert statements.drops(statement) == dropped
