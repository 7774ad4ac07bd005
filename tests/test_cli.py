"""The ``tfsync`` command line: exit codes, one-line errors, masked passwords, no changes.

Most cases call :func:`terrafusion_sync.cli.main` in-process (the same code the console
script runs); one runs ``python -m terrafusion_sync`` for real to see what a person sees.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from terrafusion_sync import embedded, migrations
from terrafusion_sync.aio import run_blocking
from terrafusion_sync.cli import main
from terrafusion_sync.database import connect
from terrafusion_sync.errors import DatabaseError
from terrafusion_sync.settings import DRIVER

from helpers import SECRET, assert_one_line_error, run_process


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("sqlite:///x.db", "'sqlite', not PostgreSQL"),
        (f"mysql://root:{SECRET}@localhost/county", "'mysql', not PostgreSQL"),
        (f"postgresql://u:{SECRET}@host:port/db", "not a valid URL"),
    ],
)
def test_bad_database_url(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str, said: str
) -> None:
    env.setenv("DATABASE_URL", url)
    code, _, err = run_cli(capsys, "upgrade")
    assert code == 2
    assert_one_line_error(err, said)


def test_unreachable_server_names_host_and_port(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("DATABASE_URL", f"postgresql://tf:{SECRET}@127.0.0.1:1/county")
    code, _, err = run_cli(capsys, "status")
    assert code == 2
    assert_one_line_error(err, "cannot connect to PostgreSQL at 127.0.0.1:1/county")


def test_missing_database(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], test_database_url: URL
) -> None:
    env.setenv(
        "DATABASE_URL",
        test_database_url.set(database="tfsync_no_such_db").render_as_string(hide_password=False),
    )
    code, _, err = run_cli(capsys, "upgrade")
    assert code == 2
    assert_one_line_error(err, "database 'tfsync_no_such_db' does not exist")


@pytest.fixture(scope="module")
def password_server(cluster_state_dir: Callable[[], Path]) -> Iterator[str]:
    """A throwaway embedded cluster that demands a password; yields its socket directory."""
    state_dir = cluster_state_dir()
    socket_dir = embedded.start(state_dir)

    async def require_password() -> None:
        conn = await asyncpg.connect(host=socket_dir, user="postgres", database="postgres")
        await conn.execute(f"ALTER USER postgres PASSWORD '{SECRET}'")
        (state_dir / "pgdata" / "pg_hba.conf").write_text("local all all scram-sha-256\n")
        await conn.execute("SELECT pg_reload_conf()")
        await conn.close()

    asyncio.run(require_password())
    try:
        yield socket_dir
    finally:
        embedded.stop(state_dir)


def test_wrong_password_is_never_printed(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], password_server: str
) -> None:
    good = URL.create(
        DRIVER, "postgres", SECRET, database="postgres", query={"host": password_server}
    )
    assert run_blocking(migrations.status(good)).current == ()  # the right one works

    env.setenv(
        "DATABASE_URL", good.set(password=SECRET + "-wrong").render_as_string(hide_password=False)
    )
    code, _, err = run_cli(capsys, "status")
    assert code == 2
    assert_one_line_error(err, "password authentication failed for user 'postgres'")


def test_revision_needs_a_message(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(capsys, "revision", "  ", "--empty")
    assert code == 2
    assert_one_line_error(err, "a revision needs a message")


def test_downgrade_needs_a_target(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scratch_url: URL
) -> None:
    env.setenv("DATABASE_URL", scratch_url.render_as_string(hide_password=False))
    code, _, err = run_cli(capsys, "downgrade")
    assert code == 2
    assert_one_line_error(err, "downgrade needs a target revision")


def test_unknown_revision_changes_nothing(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scratch_url: URL
) -> None:
    env.setenv("DATABASE_URL", scratch_url.render_as_string(hide_password=False))
    assert run_cli(capsys, "upgrade")[0] == 0
    before = run_blocking(migrations.status(scratch_url)).current

    code, _, err = run_cli(capsys, "downgrade", "0123abcd")
    assert code == 2
    assert_one_line_error(err, "Can't locate revision identified by '0123abcd'")
    assert run_blocking(migrations.status(scratch_url)).current == before


def test_same_test_and_application_database(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("DATABASE_URL", f"postgresql://u:{SECRET}@db/county")
    env.setenv("TEST_DATABASE_URL", f"postgres://u:{SECRET}@db:5432/county")
    code, _, err = run_cli(capsys, "test")
    assert code == 2
    assert_one_line_error(err, "same database")


def test_unparsable_env_file(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    env_file = tmp_path / "broken.env"
    env_file.write_text(f"DATABASE_URL 'postgresql://u:{SECRET}@h/db\n")
    env.setenv("TFSYNC_ENV_FILE", str(env_file))
    code, _, err = run_cli(capsys, "status")
    assert code == 2
    assert_one_line_error(err, "broken.env line 1: cannot parse")


def test_upgrade_reports_progress_then_is_a_no_op(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scratch_url: URL
) -> None:
    env.setenv(
        "DATABASE_URL", scratch_url.set(password=SECRET).render_as_string(hide_password=False)
    )
    code, out, _ = run_cli(capsys, "upgrade")
    assert code == 0
    assert "upgraded" in out
    assert "applied" in out

    code, out, _ = run_cli(capsys, "upgrade")
    assert code == 0
    assert "already at" in out

    code, out, _ = run_cli(capsys, "status")
    assert code == 0
    assert "pending: none" in out
    assert SECRET not in out
    assert ":***@" in out


def console(**settings: str) -> subprocess.CompletedProcess[str]:
    """``python -m terrafusion_sync upgrade`` with only ``settings`` set, as a real process."""
    return run_process([sys.executable, "-m", "terrafusion_sync", "upgrade"], **settings)


def test_console_entry_point_prints_one_line() -> None:
    done = console(DATABASE_URL="sqlite:///x.db")
    assert done.returncode == 2
    assert_one_line_error(done.stderr, "'sqlite', not PostgreSQL")
    assert done.stdout == ""


@pytest.mark.parametrize("where", ["environment", ".env"])
def test_debug_prints_the_traceback_wherever_it_is_set(tmp_path: Path, where: str) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("DATABASE_URL=sqlite:///x.db\n")
    if where == ".env":
        env_file.write_text(env_file.read_text() + "TFSYNC_DEBUG=1\n")
        done = console(TFSYNC_ENV_FILE=str(env_file))
    else:
        done = console(TFSYNC_ENV_FILE=str(env_file), TFSYNC_DEBUG="1")
    assert done.returncode == 1  # Python's own exit code for an uncaught exception
    assert done.stderr.startswith("Traceback (most recent call last):")
    assert (
        done.stderr.rstrip()
        .splitlines()[-1]
        .startswith(
            "terrafusion_sync.errors.ConfigError: DATABASE_URL uses 'sqlite', not PostgreSQL"
        )
    )


def test_usage_errors_are_one_line_with_exit_2(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["frobnicate"])
    assert exited.value.code == 2
    assert_one_line_error(capsys.readouterr().err, "invalid choice: 'frobnicate'")


@pytest.mark.asyncio(loop_scope="session")
async def test_only_database_failures_are_reported_as_database_failures(
    test_database_url: URL,
) -> None:
    """Inside ``connect()``, the caller's own errors stay theirs; a dropped session says so."""
    with pytest.raises(TimeoutError):
        async with connect(test_database_url) as conn:
            await asyncio.wait_for(conn.execute(text("SELECT pg_sleep(5)")), 0.1)
    with pytest.raises(FileNotFoundError):
        async with connect(test_database_url):
            Path("/nonexistent/revision.py").read_bytes()

    async def use_after_the_server_ended_the_session() -> None:
        async with connect(test_database_url) as conn:
            pid = await conn.scalar(text("SELECT pg_backend_pid()"))
            async with connect(test_database_url) as other:  # waits up to 5 s for the end
                await other.execute(text("SELECT pg_terminate_backend(:p, 5000)"), {"p": pid})
            await conn.execute(text("SELECT 1"))

    lost = "lost the connection to PostgreSQL at .*run the command again"
    with pytest.raises(DatabaseError, match=lost):
        await use_after_the_server_ended_the_session()


def test_database_at_a_revision_the_files_do_not_have(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fresh_database: URL
) -> None:
    async def stamp_unknown() -> None:
        async with connect(fresh_database) as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = 'ffffffffffff'"))
            await conn.commit()

    run_blocking(stamp_unknown())
    env.setenv("DATABASE_URL", fresh_database.render_as_string(hide_password=False))
    code, _, err = run_cli(capsys, "status")
    assert code == 2
    assert_one_line_error(err, "ffffffffffff", "see `make status`")
    assert "unexpected" not in err  # Alembic's RevisionError is explained, not a crash
