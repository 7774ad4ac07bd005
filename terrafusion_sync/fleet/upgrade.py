"""Upgrade every database of a fleet: canaries first, then the rest, N at a time.

Every database is read in parallel (:mod:`.status`) from the start, and each is taken,
in order, as soon as its read is in:

1. The canaries, one at a time; if one fails (or cannot be read) nothing else starts.
2. The rest, in file order, at most ``jobs`` at once, each in a worker process
   (:mod:`.pool`) through the same safe upgrade as ``make upgrade``. After the first
   failure (a database that cannot be read is one) no new database starts, the running
   ones finish, unless ``keep_going``.

A database already at the target, by the core's own one-query check, is not started:
running again does only what is left.

There is no coordinator: two fleet runs at once each take every database's own advisory
lock in turn, and the second finds nothing left to do.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from enum import StrEnum
from multiprocessing.queues import SimpleQueue
from pathlib import Path

from terrafusion_sync.fleet.display import Display
from terrafusion_sync.fleet.fleet_file import Fleet, Member
from terrafusion_sync.fleet.pool import (
    Event,
    Finished,
    Job,
    mark_drained,
    start_pool,
    stop_listening,
    upgrade_in_worker,
)
from terrafusion_sync.fleet.status import READS_AT_ONCE, State, check_target, read_state
from terrafusion_sync.migrations.deploy.timeouts import Timeouts
from terrafusion_sync.migrations.plumbing import phases
from terrafusion_sync.migrations.plumbing.checksums import versions_fingerprint
from terrafusion_sync.migrations.plumbing.config import (
    alembic_config,
    script_directory,
    versions_dir,
)

LINES_GRACE = 10.0
"""Seconds a finished database's result waits for its last progress lines to be shown."""


class Ending(StrEnum):
    """How one database's part of a fleet run ended; shown as its value."""

    UPGRADED = "upgraded"
    AT_TARGET = "already at target"
    NOTHING_LEFT = "nothing left (done by another run)"
    FAILED = "FAILED"
    NOT_STARTED = "not started"


@dataclass(frozen=True)
class Result:
    """What happened to one database in a fleet run."""

    member: Member
    result: Ending
    before: tuple[str, ...] | None
    after: tuple[str, ...] | None = None
    applied: tuple[str, ...] = ()
    seconds: float | None = None
    error: str | None = None

    @property
    def at_target(self) -> bool:
        return self.result in {Ending.UPGRADED, Ending.AT_TARGET, Ending.NOTHING_LEFT}

    @property
    def failed(self) -> bool:
        return self.result is Ending.FAILED

    @property
    def started(self) -> bool:
        return self.result is not Ending.NOT_STARTED

    def describe(self) -> str:
        """One line for the progress: ``upgraded 1 revision(s), now at X (0.41 s)``."""
        took = f" ({self.seconds:.2f} s)" if self.seconds is not None else ""
        if self.result is Ending.UPGRADED:
            now = ", ".join(self.after or ()) or "base"
            return f"upgraded {len(self.applied)} revision(s), now at {now}{took}"
        if self.failed:
            return f"FAILED{took}: {self.error}"
        return self.result + took


@dataclass(frozen=True)
class Options:
    """How to run: the target, the workers, what to do after a failure."""

    target: str = "head"
    jobs: int = 4
    keep_going: bool = False
    versions_dir: Path | None = None
    limits: Timeouts = field(default_factory=Timeouts)
    force: bool = False
    """Upgrade even where the pre-flight check says a revision would fail on the rows."""
    contract: bool = False
    """Also apply the contract revisions, as ``make contract`` does on each database."""


async def upgrade_fleet(
    fleet: Fleet,
    members: Sequence[Member],
    canaries: Sequence[Member],
    options: Options,
    display: Display,
) -> list[Result]:
    """Upgrade ``members`` (``canaries`` first); one :class:`Result` each, in file order."""
    cfg = alembic_config(versions_dir=options.versions_dir)
    scripts = script_directory(cfg)
    check_target(scripts, options.target)
    target = phases.upgrade_target(scripts, options.target, contract=options.contract)
    options = replace(options, target=target)  # --contract: every head, as each worker does
    fingerprint = versions_fingerprint(versions_dir(cfg))
    gate = asyncio.Semaphore(READS_AT_ONCE)

    async def read(member: Member) -> State:
        async with gate:
            return await read_state(
                member, scripts, fingerprint, options.target, fleet.connect_timeout
            )

    reads = {m.name: asyncio.ensure_future(read(m)) for m in members}
    run = _Dispatch(options, display, min(options.jobs, len(members)))
    display.begin(len(members))
    try:
        canaries_ok = True
        for canary in canaries:  # one at a time: each must succeed before anything else
            result = await run.now(await reads[canary.name])
            if result.failed:
                canaries_ok = False
                break
        if canaries_ok:
            for member in members:
                if run.stopped:
                    break
                if member.name not in run.results:
                    await run.start(await reads[member.name])
        await run.finish()
        for member in members:
            if member.name not in run.results:
                state = await reads[member.name]
                run.results[member.name] = Result(member, Ending.NOT_STARTED, state.current)
    finally:
        for task in reads.values():
            task.cancel()
        run.close()
        display.end()
    return [run.results[m.name] for m in members]


# long: the fleet upgrade's dispatch loop; split by the test-speed/fleet work of issue 23
class _Dispatch:
    """The worker pool (started on first use), what runs in it, and every result so far."""

    def __init__(self, options: Options, display: Display, workers: int) -> None:
        self.options = options
        self.display = display
        self.workers = workers
        self.results: dict[str, Result] = {}
        self.running: set[asyncio.Task[Result]] = set()
        self.stopped = False
        """After a failure without ``keep_going``: start nothing more."""
        self.pool: ProcessPoolExecutor | None = None
        self.events: SimpleQueue[Event | None] | None = None
        self.listener: threading.Thread | None = None
        self.drained: dict[str, asyncio.Future[None]] = {}
        """Per database in a worker: set when the listener has shown its last line."""

    def settled(self, state: State) -> Result | None:
        """The result of a database that needs no worker (cannot be read, or at target)."""
        if state.problem:
            return Result(state.member, Ending.FAILED, state.current or None, error=state.problem)
        if state.up_to_date:
            return Result(state.member, Ending.AT_TARGET, state.current, state.current)
        return None

    async def now(self, state: State) -> Result:
        """Upgrade one database and wait for it (a canary)."""
        result = self.settled(state)
        if result is None:
            result = await self._upgrade(state)
        else:
            self._record(result)
        return result

    async def start(self, state: State) -> None:
        """Start one database once fewer than ``jobs`` run (unless stopped meanwhile)."""
        result = self.settled(state)
        if result is not None:
            self._record(result)
            return
        while len(self.running) >= self.options.jobs:
            await self._reap()
        if not self.stopped:
            self.running.add(asyncio.ensure_future(self._upgrade(state)))

    async def finish(self) -> None:
        """Wait for every database still running."""
        while self.running:
            await self._reap()

    async def _reap(self) -> None:
        done, self.running = await asyncio.wait(self.running, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # recorded by _upgrade; raises what went wrong in the pool itself

    def _record(self, result: Result) -> None:
        self.results[result.member.name] = result
        self.display.finished(result)
        if result.failed and not self.options.keep_going:
            self.stopped = True

    async def _upgrade(self, state: State) -> Result:
        """Upgrade one database in a worker; record and return its :class:`Result`."""
        member = state.member
        self.display.started(state)
        done: Finished = await asyncio.get_running_loop().run_in_executor(
            self._pool(),
            upgrade_in_worker,
            Job(
                member.name,
                member.url,
                self.options.target,
                self.options.versions_dir,
                self.options.limits,
                self.options.force,
                self.options.contract,
            ),
        )
        await self._lines_shown(member.name)  # its progress lines before its result
        if done.error is not None:
            result = Result(
                member, Ending.FAILED, state.current, seconds=done.seconds, error=done.error
            )
        elif done.applied:
            result = Result(
                member, Ending.UPGRADED, state.current, done.heads, done.applied, done.seconds
            )
        else:  # another run applied what was pending while this one waited for the lock
            what = Ending.NOTHING_LEFT if state.pending else Ending.AT_TARGET
            result = Result(member, what, state.current, done.heads, (), done.seconds)
        self._record(result)
        return result

    async def _lines_shown(self, name: str) -> None:
        """Wait until the listener has passed on every progress line of ``name``."""
        assert self.events is not None
        shown = self.drained[name] = asyncio.get_running_loop().create_future()
        mark_drained(self.events, name)
        try:  # bounded: a result is never held back by its progress display
            await asyncio.wait([shown], timeout=LINES_GRACE)
        finally:
            del self.drained[name]

    def _pool(self) -> ProcessPoolExecutor:
        if self.pool is None:
            self.pool, self.events = start_pool(self.workers)
            loop = asyncio.get_running_loop()

            def drained(name: str) -> None:  # in the listener's thread
                shown = self.drained.get(name)
                if shown is not None:
                    loop.call_soon_threadsafe(shown.set_result, None)

            self.listener = threading.Thread(
                target=_forward, args=(self.events, self.display, drained), daemon=True
            )
            self.listener.start()
        return self.pool

    def close(self) -> None:
        """Wait for the workers to finish and the last progress line to be shown."""
        if self.pool is None or self.events is None or self.listener is None:
            return
        self.pool.shutdown(wait=True)
        stop_listening(self.events)
        self.listener.join()


def _forward(
    events: SimpleQueue[Event | None], display: Display, drained: Callable[[str], None]
) -> None:
    """Pass the workers' progress lines to the display until the end (``None``)."""
    while (event := events.get()) is not None:
        name, line = event
        if line is None:
            drained(name)
        else:
            display.line(name, line)
