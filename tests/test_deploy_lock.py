"""One runner at a time: the advisory lock, seen from real concurrent processes.

README "Deploying safely": the whole upgrade holds a PostgreSQL advisory lock on its
connection; a second runner says who holds it, waits, then finds nothing left to do.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from terrafusion_sync import migrations
from terrafusion_sync.database import application_name, connect
from terrafusion_sync.migrations.deploy import history, lock, runner

from helpers import (
    APP_TABLES,
    CHAIN,
    HEAD,
    add_revision,
    advisory_holders,
    current,
    finish,
    rows,
    spawn,
    tables,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_eight_concurrent_upgrades_apply_each_revision_once(
    scratch_url: URL, versions: Path
) -> None:
    add_revision(  # long enough that the runners overlap
        versions,
        "a1000000000a",
        HEAD,
        "op.execute('SELECT pg_sleep(1)')\n"
        "op.add_column('report_jobs', sa.Column('priority', sa.Integer()))",
        "op.drop_column('report_jobs', 'priority')",
    )
    runners = [spawn(scratch_url, "upgrade", versions=versions) for _ in range(8)]
    results = [finish(p) for p in runners]

    assert [code for code, _, _ in results] == [0] * 8, [err for _, _, err in results]
    assert await current(scratch_url, versions) == ("a1000000000a",)
    assert await tables(scratch_url) == APP_TABLES
    applied = await rows(
        scratch_url,
        f"SELECT revision, count(*) FROM {history.TABLE_NAME}"
        " WHERE direction = 'upgrade' AND success GROUP BY revision ORDER BY revision",
    )
    assert dict(applied) == {**dict.fromkeys(CHAIN, 1), "a1000000000a": 1}
    assert await rows(scratch_url, f"SELECT 1 FROM {history.TABLE_NAME} WHERE NOT success") == []
    assert sum("nothing to do" in out for _, out, _ in results) >= 6
    assert await advisory_holders(scratch_url) == []


async def test_second_runner_waits_names_the_holder_then_finds_nothing_to_do(
    scratch_url: URL,
) -> None:
    async with connect(scratch_url) as holder:
        await holder.run_sync(lambda c: lock.acquire(c, print))
        backend = (await holder.execute(text("SELECT pg_backend_pid()"))).scalar()
        waiting = spawn(scratch_url, "upgrade")
        line = await asyncio.to_thread(waiting.stdout.readline)  # "upgrading database: ..."
        line = await asyncio.to_thread(waiting.stdout.readline)
        assert "waiting for the migration lock" in line
        assert application_name() in line
        assert f"backend pid {backend}" in line
        # the holder does the work while the other waits
        cfg = migrations.alembic_config()
        await holder.run_sync(
            lambda c: runner.migrate(
                c, cfg, "head", upgrading=True, limits=migrations.Timeouts(), report=print
            )
        )
        await holder.run_sync(lock.release)

    code, out, err = finish(waiting)
    assert code == 0, err
    assert "got the migration lock" in out
    assert "nothing to do" in out
    assert await rows(
        scratch_url, f"SELECT revision FROM {history.TABLE_NAME} WHERE direction = 'upgrade'"
    ) == [(revision,) for revision in CHAIN]
