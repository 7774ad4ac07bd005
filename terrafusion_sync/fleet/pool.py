"""The worker processes of a fleet upgrade: one per database, each on a pipe of its own.

Why processes: Alembic's ``alembic.context`` and ``alembic.op`` are module-global proxies,
installed for the duration of one run. Two upgrades interleaved in one process (asyncio
tasks or threads) would send one database's ``op.*`` calls into the other's run. So each
upgrade runs alone in a process (:mod:`.worker`).

Why one process per database rather than a pool: a ``concurrent.futures`` pool that loses
a worker (SIGKILL, the OOM killer) is broken as a whole, and every database running in it
fails with it. Here a worker that dies costs its own database alone: its pipe ends without
a :class:`~.jobs.Finished`, and the parent says how it died.

The workers are forked from a fork server that imported :mod:`.worker` (SQLAlchemy,
Alembic, the core) once, so a worker costs a fork, never the imports. :func:`start_early`
starts that server while this process is still reading the fleet. This module itself
imports nothing heavy: the parent never loads the runner.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext, SpawnContext

from terrafusion_sync.fleet.jobs import Died, Finished, Job, Message

WORKER_MODULE = "terrafusion_sync.fleet.worker"


def _context() -> ForkServerContext | SpawnContext:
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


async def run_job(job: Job, line: Callable[[str, str], None]) -> Finished | Died:
    """Upgrade one database in a worker process of its own; pass each progress line to
    ``line(name, text)`` as it comes, then return the worker's result or how it died."""
    context = _context()
    receiver, sender = context.Pipe(duplex=False)
    started = time.perf_counter()
    process = context.Process(
        target=_work, args=(job, sender), name=f"tfsync fleet {job.name}", daemon=True
    )
    try:
        # in a thread: the first start waits for the fork server to finish its imports,
        # seconds under load, during which the loop must go on reading the other databases
        await asyncio.to_thread(process.start)
        sender.close()  # the worker's end: the pipe ends when the worker does
        finished = await _listen(receiver, job.name, line)
        await _readable(process.sentinel)
    finally:
        receiver.close()
        if process.pid is not None:  # started: never leave a database's upgrade behind
            process.join()
    if finished is not None:
        return finished
    return Died(job.name, time.perf_counter() - started, _how(process.exitcode))


async def _listen(
    receiver: Connection, name: str, line: Callable[[str, str], None]
) -> Finished | None:
    """Lines until the worker's :class:`Finished`; None when the pipe ends without it."""
    while True:
        await _readable(receiver.fileno())
        try:
            message: Message = receiver.recv()
        except EOFError:
            return None
        if isinstance(message, Finished):
            return message
        line(name, message)


async def _readable(fd: int) -> None:
    """Wait, without a thread, until ``fd`` can be read (or has ended)."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


def _how(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"killed by {signal.Signals(-exitcode).name}"
    return f"exited with code {exitcode}"


def _work(job: Job, sender: Connection) -> None:
    """In the worker: run ``job``, sending its progress lines, then its result."""
    from terrafusion_sync.fleet.worker import upgrade_one  # the fork server imported it

    def report(text: str) -> None:
        sender.send(text.strip())

    sender.send(upgrade_one(job, report))
    sender.close()
