"""pytest-alembic, the test plugin most Alembic projects use, on this project's migrations.

A user project in a temporary folder gives pytest-alembic our ``alembic.ini`` and an engine
(a sync psycopg one, then an async asyncpg one), each on a scratch database of the test
server, from its own ``tests/conftest.py``, and runs ``pytest --test-alembic`` with the
experimental ``downgrade_leaves_no_trace`` included, as a process of its own.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy.engine import URL

from terrafusion_sync.settings import PROJECT_DIR, child_environ

from helpers import finish, project_copy

CONFTEST = """
import asyncio
import os
import secrets

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from terrafusion_sync.provision import derived_name, drop_database, ensure_database

SERVER = make_url(os.environ["PA_SERVER_URL"])


@pytest.fixture
def alembic_config():
    return {{"file": {ini!r}}}


@pytest.fixture
def alembic_engine():
    url = SERVER.set(database=derived_name(SERVER.database, "pa", secrets.token_hex(3)))
    asyncio.run(ensure_database(url))
    try:
        if os.environ["PA_DRIVER"] == "asyncpg":
            engine = create_async_engine(url)
            yield engine
            asyncio.run(engine.dispose())
        else:
            engine = create_engine(url.set(drivername="postgresql+psycopg"))
            yield engine
            engine.dispose()
    finally:
        asyncio.run(drop_database(url))
"""

PYTEST_INI = """[pytest]
pytest_alembic_include_experimental = downgrade_leaves_no_trace
asyncio_default_fixture_loop_scope = function
"""

BUILT_IN = [
    "test_downgrade_leaves_no_trace",
    "test_model_definitions_match_ddl",
    "test_single_head_revision",
    "test_up_down_consistency",
    "test_upgrade",
]


def user_project(tmp_path: Path) -> Path:
    """A project that tests our migrations with pytest-alembic: its pytest.ini, and a
    tests/conftest.py giving pytest-alembic its ``alembic_config`` and ``alembic_engine``."""
    root = tmp_path / "user_project"
    (root / "tests").mkdir(parents=True)
    (root / "pytest.ini").write_text(PYTEST_INI)
    (root / "tests" / "conftest.py").write_text(
        CONFTEST.format(ini=str(PROJECT_DIR / "alembic.ini"))
    )
    return root


def pytest_test_alembic(root: Path, server: URL, *args: str, **env: str) -> subprocess.Popen:
    """``pytest --test-alembic`` in ``root``, as its own process, with engines on ``server``."""
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "--test-alembic", "-v", "-p", "no:cacheprovider", *args],
        cwd=root,
        env=child_environ(PA_SERVER_URL=server.render_as_string(hide_password=False), **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def with_each_engine(root: Path, server: URL, *args: str, **env: str) -> dict[str, tuple]:
    """:func:`pytest_test_alembic` with a sync psycopg and an async asyncpg engine, at once:
    the exit code, stdout and stderr of each."""
    runs = {
        driver: pytest_test_alembic(root, server, *args, PA_DRIVER=driver, **env)
        for driver in ("psycopg", "asyncpg")
    }
    return {driver: finish(process) for driver, process in runs.items()}


def test_built_in_tests_pass_with_a_sync_and_an_async_engine(
    tmp_path: Path, test_database_url: URL
) -> None:
    for code, out, err in with_each_engine(user_project(tmp_path), test_database_url).values():
        assert code == 0, out[-3000:] + err[-3000:]
        for test in BUILT_IN:
            assert f"tests/conftest.py::pytest-alembic::{test} PASSED" in out
        assert f"{len(BUILT_IN)} passed" in out


def test_a_model_changed_without_a_revision_fails_the_model_test(
    tmp_path: Path, test_database_url: URL
) -> None:
    copy = project_copy(tmp_path)
    models = copy / "terrafusion_sync" / "core_models.py"
    county = "    county_id: Mapped[str] = mapped_column(String(32))\n"
    owner = "    owner_email: Mapped[str | None] = mapped_column(String(255))\n"
    models.write_text(models.read_text().replace(county, county + owner, 1))

    runs = with_each_engine(
        user_project(tmp_path), test_database_url, "-k", "model_definitions", PYTHONPATH=str(copy)
    )
    added = "op.add_column('property_operational', sa.Column('owner_email', sa.String(length=255)"
    for code, out, err in runs.values():
        assert code == 1, out[-3000:] + err[-3000:]
        assert "test_model_definitions_match_ddl FAILED" in out
        assert added in out
