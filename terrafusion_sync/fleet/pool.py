"""The worker processes of a fleet upgrade, and the queue their progress comes back on.

Why processes: Alembic's ``alembic.context`` and ``alembic.op`` are module-global proxies,
installed for the duration of one run. Two upgrades interleaved in one process (asyncio
tasks or threads) would send one database's ``op.*`` calls into the other's run. So each
upgrade runs alone in a process, one database after another (:mod:`.worker`).

The workers are forked from a fork server that imported :mod:`.worker` (SQLAlchemy,
Alembic, the core) once, so N workers pay the imports once, not N times, and never once
per database. :func:`start_early` starts that server while this process is still reading
the fleet. This module itself imports nothing heavy: the parent never loads the runner.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from multiprocessing.queues import SimpleQueue
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from terrafusion_sync.migrations.deploy.timeouts import Timeouts

WORKER_MODULE = "terrafusion_sync.fleet.worker"

Event = tuple[str, str | None]
"""``(database name, progress line)`` from a worker; ``(name, None)`` from the parent once
the worker's result is in, so that the listener knows every line of it has been read."""

_events: SimpleQueue[Event | None] | None = None


@dataclass(frozen=True)
class Finished:
    """What one database's upgrade did, as its worker saw it."""

    name: str
    applied: tuple[str, ...]
    heads: tuple[str, ...]
    seconds: float
    error: str | None = None


def _context() -> BaseContext:
    """A fork server where there is one (it imported the worker module), else spawn."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([WORKER_MODULE])
    return context


def start_early() -> None:
    """Start the fork server now: it imports the core while this process does other work."""
    context = _context()
    if context.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def start_pool(jobs: int) -> tuple[ProcessPoolExecutor, SimpleQueue[Event | None]]:
    """``jobs`` worker processes, and the queue their progress lines come back on."""
    context = _context()
    events: SimpleQueue[Event | None] = context.SimpleQueue()
    pool = ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=_listen_to, initargs=(events,)
    )
    return pool, events


def _listen_to(events: SimpleQueue[Event | None]) -> None:
    global _events
    _events = events


def say(name: str, line: str) -> None:
    """In a worker: send one progress line of database ``name`` to the parent."""
    if _events is not None:
        _events.put((name, line.strip()))


@dataclass(frozen=True)
class Job:
    """One database to upgrade, and how: what a worker is sent."""

    name: str
    url: URL
    target: str
    versions_dir: Path | None
    limits: Timeouts
    force: bool = False
    """Run even when the pre-flight check says a revision would fail on the rows there."""
    contract: bool = False
    """Apply the contract revisions too (``fleet upgrade --contract``)."""


def upgrade_in_worker(job: Job) -> Finished:
    """Run in a worker: :func:`terrafusion_sync.fleet.worker.upgrade_one` (already imported
    there, so the parent never imports it to name it)."""
    from terrafusion_sync.fleet.worker import upgrade_one

    return upgrade_one(job)


def mark_drained(events: SimpleQueue[Event | None], name: str) -> None:
    """In the parent, once ``name``'s result is in: its lines are all queued before this."""
    events.put((name, None))


def stop_listening(events: SimpleQueue[Event | None]) -> None:
    """Tell the parent's listener that no more lines will come."""
    events.put(None)
