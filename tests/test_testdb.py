"""The test database: built from a stamped template once, rebuilt only when it must be."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from terrafusion_sync import migrations
from terrafusion_sync.database import connect, create_engine
from terrafusion_sync.embedded import database_url
from terrafusion_sync.migrations.plumbing import tool_tables
from terrafusion_sync.migrations.plumbing.checksums import versions_fingerprint
from terrafusion_sync.migrations.plumbing.config import VERSIONS_DIR
from terrafusion_sync.migrations.testdb import (
    READY_ENV,
    Stamp,
    ensure_test_database,
    is_marked_ready,
    ready_marker,
    template_url,
)
from terrafusion_sync.provision import MAINTENANCE_DATABASE
from terrafusion_sync.settings import PROJECT_DIR, load_settings

from helpers import add_revision, run_process, tables

on_session_loop = pytest.mark.asyncio(loop_scope="session")


def write_extra_revision(versions: Path, table: str) -> str:
    """Add (or rewrite) one revision on top of the project's head; return its id."""
    head = migrations.script_directory(migrations.alembic_config()).get_current_head()
    rev = "e1e1e1e1e1e1"
    create = f"op.create_table({table!r}, sa.Column('id', sa.Integer(), primary_key=True))"
    add_revision(versions, rev, head, create, f"op.drop_table({table!r})", doc="add extra")
    return rev


async def database_facts(url: URL, name: str | None) -> tuple[int, bool, str | None] | None:
    """``(oid, is_template, comment)`` of database ``name``, or ``None`` when it is absent."""
    async with connect(url.set(database=MAINTENANCE_DATABASE)) as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT oid, datistemplate, shobj_description(oid, 'pg_database')"
                    " FROM pg_database WHERE datname = :name"
                ),
                {"name": name},
            )
        ).first()
    return None if row is None else (row[0], row[1], row[2])


@on_session_loop
async def test_built_once_from_a_stamped_template_then_a_no_op(
    own_test_url: URL, versions: Path
) -> None:
    cfg = migrations.alembic_config(versions_dir=versions)
    heads = migrations.script_directory(cfg).get_heads()

    first = await migrations.prepare_test_database(own_test_url, cfg=cfg)
    assert first.rebuilt
    assert list(first.applied)[-1:] == heads
    assert {"property_operational", "report_jobs"} <= await tables(own_test_url, tooling=True)
    template = await database_facts(own_test_url, template_url(own_test_url).database)
    copy = await database_facts(own_test_url, own_test_url.database)
    assert template is not None
    assert copy is not None
    assert template[1] is True  # a template, which accepts no connections
    assert Stamp.parse(template[2]) == Stamp(versions_fingerprint(versions), tuple(heads))
    assert copy[2] == template[2]

    second = await migrations.prepare_test_database(own_test_url, cfg=cfg)
    assert not second.rebuilt
    assert second.applied == ()
    assert await database_facts(own_test_url, template_url(own_test_url).database) == template
    assert await database_facts(own_test_url, own_test_url.database) == copy  # same oid


@on_session_loop
async def test_a_new_or_edited_revision_file_rebuilds_it(own_test_url: URL, versions: Path) -> None:
    cfg = migrations.alembic_config(versions_dir=versions)
    await migrations.prepare_test_database(own_test_url, cfg=cfg)
    assert "extra_one" not in await tables(own_test_url, tooling=True)

    rev = write_extra_revision(versions, "extra_one")
    added = await migrations.prepare_test_database(own_test_url, cfg=cfg)
    assert added.rebuilt
    assert added.applied[-1] == rev
    assert "extra_one" in await tables(own_test_url, tooling=True)

    write_extra_revision(versions, "extra_two")  # same revision id, edited in place
    edited = await migrations.prepare_test_database(own_test_url, cfg=cfg)
    assert edited.rebuilt
    assert edited.fingerprint != added.fingerprint
    assert {"extra_two"} == {"extra_one", "extra_two"} & await tables(own_test_url, tooling=True)


@on_session_loop
async def test_a_test_database_moved_off_head_is_rebuilt(own_test_url: URL, versions: Path) -> None:
    cfg = migrations.alembic_config(versions_dir=versions)
    await migrations.prepare_test_database(own_test_url, cfg=cfg)
    await migrations.downgrade(own_test_url, "base", cfg=cfg)
    assert await tables(own_test_url, tooling=True) == {"alembic_version", *tool_tables.TOOL_TABLES}

    again = await migrations.prepare_test_database(own_test_url, cfg=cfg)
    assert again.rebuilt
    assert again.applied == ()  # the template was still good: copied, not migrated
    assert (await migrations.status(own_test_url, cfg)).at_head


@on_session_loop
async def test_the_mark_of_tfsync_test_skips_the_check(
    own_test_url: URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(READY_ENV, ready_marker(own_test_url, versions_fingerprint(VERSIONS_DIR)))
    assert is_marked_ready(own_test_url)
    await ensure_test_database(own_test_url)
    assert await database_facts(own_test_url, own_test_url.database) is None  # trusted

    monkeypatch.setenv(READY_ENV, ready_marker(own_test_url, "sha256:stale"))
    assert not is_marked_ready(own_test_url)
    await ensure_test_database(own_test_url)
    assert (await migrations.status(own_test_url)).at_head
    assert is_marked_ready(own_test_url)  # marked now, for whoever runs next in this process


def test_the_mark_holds_no_password(test_database_url: URL) -> None:
    secret = "s3cret-Pa55"
    url = test_database_url.set(password=secret)
    marker = ready_marker(url, versions_fingerprint(VERSIONS_DIR))
    assert secret not in marker
    assert marker.endswith(versions_fingerprint(VERSIONS_DIR))


@on_session_loop
async def test_fresh_database_is_at_head_and_takes_ddl(
    fresh_database: URL, test_database_url: URL
) -> None:
    assert fresh_database.database != test_database_url.database
    assert (await migrations.status(fresh_database)).at_head

    engine = create_engine(fresh_database)  # no pool: the reader is a connection of its own
    try:
        async with engine.begin() as writer:
            await writer.execute(text("CREATE TABLE scratch_notes (body text)"))
            await writer.execute(text("INSERT INTO scratch_notes VALUES ('seen by others')"))
        async with engine.connect() as reader:  # another connection sees what was committed
            assert await reader.scalar(text("SELECT body FROM scratch_notes")) == "seen by others"
    finally:
        await engine.dispose()
    assert "scratch_notes" not in await tables(test_database_url, tooling=True)


MARKED_TESTS = """
from terrafusion_sync.embedded import database_url
from terrafusion_sync.migrations.testdb import is_marked_ready
from terrafusion_sync.settings import load_settings


def test_marked_ready_by_tfsync_test():
    assert is_marked_ready(database_url(load_settings(), test=True))


def test_deselected():
    raise AssertionError("-k should have left this out")
"""


def test_tfsync_test_marks_the_database_and_passes_pytest_options(tmp_path: Path) -> None:
    (tmp_path / "test_marked.py").write_text(MARKED_TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = session\n")
    server = database_url(load_settings(), test=True)  # the run's own, not a worker's copy
    pytest_args = ["-q", "-p", "no:cacheprovider", str(tmp_path), "-k", "ready"]
    done = run_process(
        [sys.executable, "-m", "terrafusion_sync", "test", *pytest_args],
        cwd=PROJECT_DIR,
        TEST_DATABASE_URL=server.render_as_string(hide_password=False),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed, 1 deselected" in done.stdout
