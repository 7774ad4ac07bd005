"""Upgrade every database of a fleet: canaries first, then the rest, N at a time.

1. Read every database in parallel (:mod:`.status`). One that is already at the target,
   by the core's own one-query check, is not started: running again does only what is
   left. One that cannot be read is a failure before anything starts.
2. The canaries, one at a time; if one fails nothing else starts.
3. The rest, at most ``jobs`` at once, each in a worker process (:mod:`.pool`) through
   the same safe upgrade as ``make upgrade``. After the first failure no new database
   starts (the running ones finish) unless ``keep_going``.

There is no coordinator: two fleet runs at once each take every database's own advisory
lock in turn, and the second finds nothing left to do.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.queues import SimpleQueue
from pathlib import Path

from terrafusion_sync.fleet.config import Fleet, Member
from terrafusion_sync.fleet.pool import (
    Event,
    Finished,
    start_pool,
    stop_listening,
    upgrade_in_worker,
)
from terrafusion_sync.fleet.progress import Display
from terrafusion_sync.fleet.status import State, read_states
from terrafusion_sync.migrations.checksums import versions_fingerprint
from terrafusion_sync.migrations.config import (
    alembic_config,
    alembic_errors,
    script_directory,
    versions_dir,
)
from terrafusion_sync.migrations.timeouts import Timeouts

UPGRADED = "upgraded"
AT_TARGET = "already at target"
NOTHING_LEFT = "nothing left (done by another run)"
FAILED = "FAILED"
NOT_STARTED = "not started"


@dataclass(frozen=True)
class Result:
    """What happened to one database in a fleet run."""

    member: Member
    result: str
    before: tuple[str, ...] | None
    after: tuple[str, ...] | None = None
    applied: tuple[str, ...] = ()
    seconds: float | None = None
    error: str | None = None

    @property
    def at_target(self) -> bool:
        return self.result in {UPGRADED, AT_TARGET, NOTHING_LEFT}

    @property
    def failed(self) -> bool:
        return self.result == FAILED

    def describe(self) -> str:
        """One line for the progress: ``upgraded 1 revision(s), now at X (0.41 s)``."""
        took = f" ({self.seconds:.2f} s)" if self.seconds is not None else ""
        if self.result == UPGRADED:
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
    with alembic_errors():  # an unknown target is one error before anything runs
        scripts.get_revisions(options.target)
    fingerprint = versions_fingerprint(versions_dir(cfg))
    states = await read_states(members, scripts, fingerprint, options.target, fleet.connect_timeout)
    results: dict[str, Result] = {}
    todo: list[State] = []
    for state in states:
        if state.problem:
            results[state.member.name] = Result(
                state.member, FAILED, state.current or None, error=state.problem
            )
        elif state.up_to_date:
            results[state.member.name] = Result(
                state.member, AT_TARGET, state.current, state.current
            )
        else:
            todo.append(state)
    display.begin(states)
    try:
        for result in results.values():
            display.finished(result)
        if todo and (options.keep_going or not any(r.failed for r in results.values())):
            await _run(todo, [c.name for c in canaries], options, display, results)
        for state in todo:
            if state.member.name not in results:
                results[state.member.name] = Result(state.member, NOT_STARTED, state.current)
    finally:
        display.end()
    return [results[m.name] for m in members]


async def _run(
    todo: list[State],
    canary_names: list[str],
    options: Options,
    display: Display,
    results: dict[str, Result],
) -> None:
    """Canaries one by one, then the rest ``jobs`` at a time, through the worker pool."""
    canaries = [s for s in todo if s.member.name in canary_names]
    canaries.sort(key=lambda s: canary_names.index(s.member.name))
    rest = [s for s in todo if s.member.name not in canary_names]
    pool, events = start_pool(min(options.jobs, len(todo)))
    listener = threading.Thread(target=_forward, args=(events, display), daemon=True)
    listener.start()
    try:
        for state in canaries:
            result = await _one(pool, state, options, display)
            results[state.member.name] = result
            if result.failed:
                return
        await _bounded(pool, rest, options, display, results)
    finally:
        pool.shutdown(wait=True)
        stop_listening(events)
        listener.join()


async def _bounded(
    pool: ProcessPoolExecutor,
    states: list[State],
    options: Options,
    display: Display,
    results: dict[str, Result],
) -> None:
    """At most ``jobs`` at once; after a failure start no more unless ``keep_going``."""
    waiting = list(reversed(states))
    running: set[asyncio.Task[Result]] = set()
    stopped = False
    while waiting or running:
        while waiting and not stopped and len(running) < options.jobs:
            running.add(asyncio.create_task(_one(pool, waiting.pop(), options, display)))
        if not running:
            return
        done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            result = task.result()
            results[result.member.name] = result
            stopped = stopped or (result.failed and not options.keep_going)


async def _one(
    pool: ProcessPoolExecutor, state: State, options: Options, display: Display
) -> Result:
    """Upgrade one database in a worker; its :class:`Result`."""
    member = state.member
    display.started(member.name)
    loop = asyncio.get_running_loop()
    done: Finished = await loop.run_in_executor(
        pool,
        upgrade_in_worker,
        member.name,
        member.url,
        options.target,
        options.versions_dir,
        options.limits,
    )
    if done.error is not None:
        result = Result(member, FAILED, state.current, seconds=done.seconds, error=done.error)
    elif done.applied:
        result = Result(member, UPGRADED, state.current, done.heads, done.applied, done.seconds)
    else:  # another run applied what was pending while this one waited for the lock
        what = NOTHING_LEFT if state.pending else AT_TARGET
        result = Result(member, what, state.current, done.heads, (), done.seconds)
    display.finished(result)
    return result


def _forward(events: SimpleQueue[Event | None], display: Display) -> None:
    """Pass the workers' progress lines to the display until the end (``None``)."""
    while (event := events.get()) is not None:
        display.line(*event)
