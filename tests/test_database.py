"""``database.connect``: the one way to a connection, with an engine kept per URL."""

from __future__ import annotations

import asyncio
import os

from sqlalchemy import text
from sqlalchemy.engine import URL

from terrafusion_sync import database
from terrafusion_sync.database import application_name, connect


async def backend(url: URL) -> tuple[int, str]:
    """The server process of a new connection to ``url``, and its application_name."""
    async with connect(url) as conn:
        row = (
            await conn.execute(text("SELECT pg_backend_pid(), current_setting('application_name')"))
        ).one()
    return row[0], row[1]


async def other_sessions_named(url: URL, name: str) -> int:
    """Sessions on ``url``'s database called ``name``, besides the one asking."""
    async with connect(url) as conn:
        found = await conn.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )
    return int(found or 0)


def test_connections_of_one_process_share_an_engine_across_event_loops_and_leave_none_open(
    scratch_url: URL,
) -> None:
    """Each ``asyncio.run`` is a new event loop, as each command and test has its own: the
    kept engine works in every one, and no connection outlives its ``connect`` block."""
    first_pid, name = asyncio.run(backend(scratch_url))
    second_pid, _ = asyncio.run(backend(scratch_url))

    assert name == application_name()
    assert first_pid != second_pid  # a connection of its own each time (NullPool)
    assert database._engine(scratch_url, os.getpid()) is database._engine(scratch_url, os.getpid())
    assert asyncio.run(other_sessions_named(scratch_url, name)) == 0


def test_a_forked_child_makes_its_own_engine() -> None:
    """Its engine names its sessions after its own process (``application_name``)."""
    url = URL.create("postgresql+asyncpg", "u", database="d", query={"host": "/nowhere"})
    assert database._engine(url, 1) is not database._engine(url, 2)
