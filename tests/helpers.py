"""Helpers shared by the test modules (their fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, inspect, text
from sqlalchemy.engine import URL

from terrafusion_sync import PACKAGE_DIR, migrations
from terrafusion_sync.cli import main
from terrafusion_sync.core_models import Base
from terrafusion_sync.database import connect
from terrafusion_sync.migrations.deploy import lock
from terrafusion_sync.migrations.plumbing import tool_tables
from terrafusion_sync.migrations.plumbing.config import alembic_config
from terrafusion_sync.settings import child_environ

SECRET = "s3cret-Pa55"
"""The password tests put in URLs; no output may ever show it."""
HANG_GUARD = 120
"""Seconds: a broken build fails here instead of hanging; not a speed check."""


def assert_one_line_error(err: str, *expected: str) -> None:
    """``tfsync: error: ...`` on one line, no traceback, no password, saying ``expected``."""
    assert err.startswith("tfsync: error: "), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    assert SECRET not in err
    for piece in expected:
        assert piece in err, (piece, err)


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    """Wait for ``process``; its exit code, stdout and stderr."""
    out, err = process.communicate(timeout=HANG_GUARD)
    return process.returncode, out, err


def models(extra: str | None = None) -> MetaData:
    """A copy of the models' metadata, with the model change a test revision makes:
    ``owner_email`` (a nullable column) or ``message_index`` (an index)."""
    metadata = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(metadata)
    if extra == "owner_email":
        metadata.tables["property_operational"].append_column(
            sa.Column("owner_email", sa.String(255), nullable=True)
        )
    if extra == "message_index":
        jobs = metadata.tables["report_jobs"]
        sa.Index("ix_report_jobs_message", jobs.c.message)
    return metadata


async def tables(url: URL, *, tooling: bool = False) -> set[str]:
    """The tables of ``url``: the application's, or with ``tooling`` also Alembic's and ours."""
    async with connect(url) as conn:
        found = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    return found if tooling else found - {"alembic_version", *tool_tables.TOOL_TABLES}


REVISION = '''"""{doc}"""

import sqlalchemy as sa
from alembic import op

revision = {rev!r}
down_revision = {down!r}
branch_labels = None
depends_on = None
{header}

def upgrade() -> None:
{upgrade}


def downgrade() -> None:
{downgrade}
'''


def add_revision(
    versions: Path,
    rev: str,
    down: str | None,
    upgrade: str,
    downgrade: str = "pass",
    header: str = "",
    doc: str = "test step",
) -> Path:
    """Write a revision file into ``versions`` (bodies are indented for you)."""

    def body(code: str) -> str:
        return "\n".join("    " + line for line in code.strip().splitlines())

    path = versions / f"2026_12_01_0000-{rev}_{doc.replace(' ', '_')}.py"
    path.write_text(
        REVISION.format(
            doc=doc,
            rev=rev,
            down=down,
            header=header,
            upgrade=body(upgrade),
            downgrade=body(downgrade),
        )
    )
    shutil.rmtree(versions / "__pycache__", ignore_errors=True)  # never run a stale .pyc
    return path


PROJECT_FILES = (
    "pyproject.toml",
    "README.md",
    "noxfile.py",
    ".pre-commit-config.yaml",
    ".gitignore",
)
"""What a copy of the project needs besides the package: to install it, to run its nox
sessions and its pre-commit hooks."""


def project_copy(tmp_path: Path, *, type_cache: bool = False) -> Path:
    """The project (the package, :data:`PROJECT_FILES`, ``docs/``, ``alembic.ini``) in a
    temporary folder: a scratch copy that a test may change (run it with ``PYTHONPATH`` set
    to it). ``type_cache``: with the project's mypy cache, brought up to date first, so a
    full review there re-checks only what the test changes (mypy matches modules by hash)."""
    root = tmp_path / "project"
    root.mkdir()
    for name in PROJECT_FILES:
        shutil.copy(PACKAGE_DIR.parent / name, root)
    shutil.copytree(PACKAGE_DIR.parent / "docs", root / "docs")
    shutil.copytree(
        PACKAGE_DIR, root / "terrafusion_sync", ignore=shutil.ignore_patterns("__pycache__")
    )
    (root / "alembic.ini").symlink_to("terrafusion_sync/alembic.ini")
    if type_cache:
        shutil.copytree(warm_type_cache(), root / ".mypy_cache")
    return root


def warm_type_cache() -> Path:
    """The project's own ``.mypy_cache``, up to date: what ``make lint`` and the review use.

    The first caller checks the package (seconds, once per run); xdist workers and later
    callers wait for it on a lock and then find it warm (a fraction of a second)."""
    project = PACKAGE_DIR.parent
    digest = hashlib.sha1(str(project).encode()).hexdigest()[:12]  # one lock per checkout
    lock_file = Path(tempfile.gettempdir()) / f"tfsync-mypy-{digest}.lock"
    with lock_file.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        subprocess.run(
            [sys.executable, "-m", "mypy"], cwd=project, capture_output=True, check=False
        )
    return project / ".mypy_cache"


INITIAL = "0b22f05953e4"
"""The project's first revision."""
CHAIN = tuple(
    reversed([s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()])
)
"""The project's revisions, oldest first."""
HEAD = CHAIN[-1]
"""The project's head: the revision the tests' own revisions build on."""
APP_TABLES = {"property_operational", "report_jobs"}
"""The application's tables at head."""


def cli(
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    url: URL,
    *argv: str,
    versions: Path | None = None,
) -> tuple[int, str, str]:
    """``tfsync ARGV`` in-process against ``url`` (and a versions folder): exit code, stdout,
    stderr. ``env`` is conftest's clean configuration."""
    env.setenv("DATABASE_URL", url.render_as_string(hide_password=False))
    if versions is not None:
        env.setenv("TFSYNC_VERSIONS_DIR", str(versions))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_process(
    argv: list[str], *, cwd: Path | None = None, timeout: float = HANG_GUARD, **settings: str
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` as a child process with only ``settings`` configured
    (:func:`~terrafusion_sync.settings.child_environ`); its exit code and output as text."""
    return subprocess.run(
        argv,
        cwd=cwd,
        env=child_environ(**settings),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def spawn(
    url: URL,
    *argv: str,
    versions: Path | None = None,
    module: str | None = "terrafusion_sync",
    **settings: str,
) -> subprocess.Popen[str]:
    """``python -m terrafusion_sync ARGV`` (or ``python ARGV``) as a real process on ``url``,
    with a versions folder and other ``settings`` if given, and nothing else configured."""
    if versions is not None:
        settings["TFSYNC_VERSIONS_DIR"] = str(versions)
    return subprocess.Popen(
        [sys.executable, *(["-m", module] if module else []), *argv],
        env=child_environ(DATABASE_URL=url.render_as_string(hide_password=False), **settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def rows(url: URL, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """The rows ``sql`` returns on ``url``."""
    async with connect(url) as conn:
        return [tuple(r) for r in await conn.execute(text(sql), params)]


async def execute(url: URL, *sql: str) -> None:
    """Run the statements ``sql`` on ``url``, in order, and commit them."""
    async with connect(url) as conn:
        for statement in sql:
            await conn.execute(text(statement))
        await conn.commit()


async def current(url: URL, versions: Path | None = None) -> tuple[str, ...]:
    """The revision(s) ``url`` is at, by the revision files in ``versions``."""
    cfg = migrations.alembic_config(versions_dir=versions)
    return await migrations.current_revisions(url, cfg)


async def wait_for(url: URL, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Poll until ``sql`` returns rows."""
    for _ in range(HANG_GUARD * 10):
        found = await rows(url, sql, **params)
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened: {sql}")


async def advisory_holders(url: URL) -> list[tuple[Any, ...]]:
    """Sessions holding or awaiting the migration lock of ``url``'s database only: tests on
    other workers' scratch databases hold their own at the same time."""
    return await rows(
        url,
        "SELECT pid, granted FROM pg_locks WHERE locktype = 'advisory' AND classid = :ns"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        ns=lock.NAMESPACE,
    )


def fixture_on_head(fixture: Path, versions: Path) -> Path:
    """Copy a revision of ``tests/revisions/`` into ``versions``, built on the project's head
    rather than on the first revision it was written against (same length: lines stay)."""
    copy = versions / fixture.name
    copy.write_text(
        fixture.read_text().replace(f'down_revision = "{INITIAL}"', f'down_revision = "{HEAD}"')
    )
    return copy


STATEMENTS_LIBRARY = "pg_stat_statements"


def postgres_bindir() -> Path | None:
    """The PostgreSQL server binaries that ship pg_stat_statements, if this machine has them."""
    found = None
    if shutil.which("pg_config"):
        lines = subprocess.run(
            ["pg_config", "--bindir", "--pkglibdir"], capture_output=True, text=True, check=False
        ).stdout.split()
        if len(lines) == 2 and (Path(lines[1]) / f"{STATEMENTS_LIBRARY}.so").exists():
            found = Path(lines[0])
    fallback = Path("/usr/lib/postgresql/15/bin")
    if found is None and (fallback.parent / "lib" / f"{STATEMENTS_LIBRARY}.so").exists():
        found = fallback
    return found if found is not None and (found / "initdb").exists() else None


class StatementsCluster:
    """A throwaway PostgreSQL cluster with pg_stat_statements preloaded (unless not
    ``preload``), on its own port and socket folder (as root: run by the ``postgres`` OS
    user, which initdb requires)."""

    def __init__(self, bindir: Path, folder: Path, *, preload: bool = True) -> None:
        self.bindir, self.folder, self.preload = bindir, folder, preload
        self.data, self.port = folder / "data", _free_port()

    def _run(self, *argv: str) -> None:
        as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*as_user, *argv], check=True, capture_output=True, timeout=120)

    def start(self) -> URL:
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "--auth=trust", "--no-sync")  # fmt: skip
        preload = STATEMENTS_LIBRARY if self.preload else "''"
        options = (
            f"-c shared_preload_libraries={preload} -c port={self.port}"
            f" -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.folder}"
            " -c fsync=off"
        )
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options,
                  "-l", str(self.folder / "log"), "-w", "start")  # fmt: skip
        return URL.create(
            "postgresql+asyncpg", "postgres", None, "127.0.0.1", self.port, "postgres"
        )

    def stop(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def upgrade_past_an_old_snapshot(
    url: URL, cfg: Any, hold: float = 1.5
) -> tuple[migrations.Outcome, list[str]]:
    """Upgrade ``url`` while a REPEATABLE READ reader holds a snapshot for ``hold`` seconds:
    a ``CONCURRENTLY`` index build waits for it under a short lock_timeout, is cut short and
    retried. The outcome, and the lines the upgrade reported."""
    async with connect(url) as reader:
        reader = await reader.execution_options(isolation_level="REPEATABLE READ")
        await reader.execute(text("SELECT 1"))  # a snapshot older than the build

        async def release() -> None:
            await asyncio.sleep(hold)
            await reader.rollback()

        released = asyncio.create_task(release())
        limits = migrations.Timeouts(lock="300ms", retries=10, backoff=0.2)
        reports: list[str] = []
        done = await migrations.upgrade(url, cfg=cfg, limits=limits, report=reports.append)
        await released
    assert any("lock_timeout 300ms" in line for line in reports), reports  # it did time out
    return done, reports
