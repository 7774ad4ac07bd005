"""History: every step (and every failure) is a row of ``tfsync_migration_history``.

README "Deploying safely": rows keep any text exactly, and a database whose tooling table
is missing gets it back without losing the history.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection

from terrafusion_sync import migrations
from terrafusion_sync.database import connect
from terrafusion_sync.migrations.deploy import history
from terrafusion_sync.migrations.plumbing import tool_tables

from helpers import (
    CHAIN,
    HEAD,
    add_revision,
    execute,
    rows,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_history_rows_keep_any_text_exactly(scratch_url: URL) -> None:
    awkward = "it's a \\ back'slash, $1 $$ %s ünïcode; DROP TABLE x; --"
    started = datetime(2026, 11, 25, 2, 0, 0, 123456, tzinfo=UTC)
    row = {"direction": "upgrade", "checksum": "sha256:ab", "started_at": started}
    row |= {"finished_at": started, "duration_s": 0.123456789}

    def write(conn: Connection) -> None:
        tool_tables.ensure_table(conn)
        conn.commit()
        history.record(conn, revision="outside", error=awkward, **row)  # begins its own
        conn.commit()
        conn.execute(text("SELECT 1"))  # in a transaction, as after a step's statements
        history.record(conn, revision="inside", note=awkward, **row)
        conn.commit()

    async with connect(scratch_url) as conn:
        await conn.run_sync(write)
    outside, inside = await migrations.read_history(scratch_url)
    assert (outside.revision, outside.error, outside.success) == ("outside", awkward, False)
    assert (inside.revision, inside.note, inside.success) == ("inside", awkward, True)
    assert inside.started_at == started
    assert inside.duration_s == 0.123456789


async def test_a_missing_tooling_table_is_created_and_history_kept(
    scratch_url: URL, versions: Path
) -> None:
    cfg = migrations.alembic_config(versions_dir=versions)
    assert (await migrations.upgrade(scratch_url, cfg=cfg)).applied == list(CHAIN)
    # a database an earlier version of the tooling ran
    await execute(scratch_url, f"DROP TABLE {tool_tables.STATE_TABLE_NAME}")
    add_revision(versions, "e3000000000e", HEAD, "pass")
    assert (await migrations.upgrade(scratch_url, cfg=cfg)).applied == ["e3000000000e"]
    assert [e.revision for e in await migrations.read_history(scratch_url)] == [
        *CHAIN,
        "e3000000000e",
    ]
    assert (await migrations.upgrade(scratch_url, cfg=cfg)).applied == []  # the state row is back
    assert len(await rows(scratch_url, f"SELECT 1 FROM {tool_tables.STATE_TABLE_NAME}")) == 1
