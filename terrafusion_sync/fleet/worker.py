"""The worker processes of a fleet upgrade: each upgrades one database after another.

Why processes: Alembic's ``alembic.context`` and ``alembic.op`` are module-global proxies,
installed for the duration of one run. Two upgrades interleaved in one process (asyncio
tasks or threads) would send one database's ``op.*`` calls into the other's run. So each
upgrade runs alone in its process, through the same :func:`terrafusion_sync.migrations.upgrade`
as ``make upgrade`` (lock, timeouts, history, validation).

The processes are forked from a fork server that imported this module (and so SQLAlchemy,
Alembic and the core) once: a pool of N workers pays the imports once, not N times, and
never once per database. Progress lines go back to the parent through a queue.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing.queues import SimpleQueue
from pathlib import Path

from sqlalchemy.engine import URL

# imported here so that the fork server has them loaded before it forks a worker
from terrafusion_sync import migrations
from terrafusion_sync.errors import TfsyncError, first_line
from terrafusion_sync.migrations import runner  # noqa: F401
from terrafusion_sync.migrations.timeouts import Timeouts

Event = tuple[str, str]
"""``(database name, progress line)``, from a worker to the parent."""

_events: SimpleQueue[Event | None] | None = None


@dataclass(frozen=True)
class Finished:
    """What one database's upgrade did, as the worker saw it."""

    name: str
    applied: tuple[str, ...]
    heads: tuple[str, ...]
    seconds: float
    error: str | None = None


def start_pool(jobs: int) -> tuple[ProcessPoolExecutor, SimpleQueue[Event | None]]:
    """``jobs`` worker processes, and the queue their progress lines come back on."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if context.get_start_method() == "forkserver":
        context.set_forkserver_preload([__name__])
    events: SimpleQueue[Event | None] = context.SimpleQueue()
    pool = ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=_listen_to, initargs=(events,)
    )
    return pool, events


def _listen_to(events: SimpleQueue[Event | None]) -> None:
    global _events
    _events = events


def _say(name: str, line: str) -> None:
    if _events is not None:
        _events.put((name, line.strip()))


def upgrade_one(
    name: str, url: URL, target: str, versions_dir: Path | None, limits: Timeouts
) -> Finished:
    """Upgrade one database to ``target``, exactly as ``make upgrade`` does; never raises
    for a failure of that database (its one-line error is in the result)."""
    started = time.perf_counter()
    try:
        outcome = asyncio.run(
            migrations.upgrade(
                url,
                target,
                versions_dir=versions_dir,
                report=lambda line: _say(name, line),
                limits=limits,
            )
        )
    except TfsyncError as exc:
        return Finished(name, (), (), time.perf_counter() - started, str(exc))
    except Exception as exc:  # one database's surprise must not end the others
        error = f"unexpected {type(exc).__name__}: {first_line(exc)}"
        return Finished(name, (), (), time.perf_counter() - started, error)
    return Finished(name, tuple(outcome.applied), outcome.heads, time.perf_counter() - started)
