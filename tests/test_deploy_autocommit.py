"""Work outside a transaction: CREATE INDEX CONCURRENTLY in an autocommit block.

README "Deploying safely": what cannot run in a transaction goes in
``op.get_context().autocommit_block()``, and the run still records its revision.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from terrafusion_sync import migrations
from terrafusion_sync.migrations.deploy import history

from helpers import (
    HEAD,
    add_revision,
    current,
    rows,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_create_index_concurrently_in_an_autocommit_block(
    scratch_url: URL, versions: Path
) -> None:
    add_revision(
        versions,
        "a7000000000a",
        HEAD,
        "with op.get_context().autocommit_block():\n"
        "    op.create_index('ix_report_jobs_message', 'report_jobs', ['message'],\n"
        "                    postgresql_concurrently=True)",
        "with op.get_context().autocommit_block():\n"
        "    op.drop_index('ix_report_jobs_message', table_name='report_jobs',\n"
        "                  postgresql_concurrently=True)",
    )
    cfg = migrations.alembic_config(versions_dir=versions)
    await migrations.upgrade(scratch_url, cfg=cfg)
    valid = "SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass(:ix)"
    assert await rows(scratch_url, valid, ix="ix_report_jobs_message") == [(True,)]
    assert await current(scratch_url, versions) == ("a7000000000a",)
    assert await rows(
        scratch_url, f"SELECT revision FROM {history.TABLE_NAME} WHERE revision = 'a7000000000a'"
    ) == [("a7000000000a",)]

    await migrations.downgrade(scratch_url, "-1", cfg=cfg)
    assert await rows(scratch_url, valid, ix="ix_report_jobs_message") == []
    assert await current(scratch_url, versions) == (HEAD,)
