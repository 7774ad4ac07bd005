"""Upgrade every database of a fleet: canaries first, then the rest, N at a time.

Every database is read in parallel (:mod:`.status`) from the start, and each is taken,
in order, as soon as its read is in:

1. The canaries, one at a time; if one fails (or cannot be read) nothing else starts.
2. The rest, in file order, at most ``jobs`` at once, each in a worker process of its own
   (:mod:`.pool`) through the same safe upgrade as ``make upgrade``. After the first
   failure (a database that cannot be read is one) no new database starts, the running
   ones finish, unless ``keep_going``.

A database already at the target, by the core's own one-query check, is not started:
running again does only what is left. A worker that dies (SIGKILL, the OOM killer) fails
its own database alone, whose revision is then read back from the database itself.

There is no coordinator: two fleet runs at once each take every database's own advisory
lock in turn, and the second finds nothing left to do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

from terrafusion_sync.fleet.display import Display, revisions
from terrafusion_sync.fleet.fleet_file import Fleet, Member
from terrafusion_sync.fleet.jobs import Died, Finished, Job
from terrafusion_sync.fleet.pool import run_job
from terrafusion_sync.fleet.results import Ending, Options, Result
from terrafusion_sync.fleet.status import (
    READS_AT_ONCE,
    Revisions,
    State,
    load_revisions,
    read_state,
)
from terrafusion_sync.migrations.plumbing import phases

__all__ = ["Options", "Result", "upgrade_fleet"]

RESUME = "run `tfsync fleet upgrade` again to resume it; it does only what is left"
"""The hint of a database whose worker died."""


async def upgrade_fleet(
    fleet: Fleet,
    members: Sequence[Member],
    canaries: Sequence[Member],
    options: Options,
    display: Display,
) -> list[Result]:
    """Upgrade ``members`` (``canaries`` first); one :class:`Result` each, in file order."""
    files = load_revisions(options.versions_dir, options.target)
    target = phases.upgrade_target(files.scripts, options.target, contract=options.contract)
    options = replace(options, target=target)  # --contract: every head, as each worker does
    gate = asyncio.Semaphore(READS_AT_ONCE)

    async def read(member: Member) -> State:
        async with gate:
            return await read_state(member, files, fleet.connect_timeout)

    reads = {m.name: asyncio.ensure_future(read(m)) for m in members}
    rollout = Rollout(options, display, files, fleet.connect_timeout)
    display.begin(len(members))
    try:
        for canary in canaries:  # one at a time: each must succeed before anything else
            if (await rollout.now(await reads[canary.name])).failed:
                rollout.stopped = True
                break
        for member in members:
            if rollout.stopped:
                break
            if member.name not in rollout.results:
                await rollout.start(await reads[member.name])
        await rollout.finish()
        for member in members:
            if member.name not in rollout.results:
                state = await reads[member.name]
                rollout.results[member.name] = Result(member, Ending.NOT_STARTED, state.current)
    finally:
        for task in reads.values():
            task.cancel()
        display.end()
    return [rollout.results[m.name] for m in members]


class Rollout:
    """One fleet upgrade under way: the databases running, every result so far, and
    whether to start any more."""

    def __init__(self, options: Options, display: Display, files: Revisions, wait: float) -> None:
        self.options = options
        self.display = display
        self.files = files
        self.wait = wait
        """How long reading a database back may take (the fleet's connect timeout)."""
        self.results: dict[str, Result] = {}
        self.running: set[asyncio.Task[Result]] = set()
        self.stopped = False
        """After a failure without ``keep_going`` (or a failed canary): start nothing more."""

    async def now(self, state: State) -> Result:
        """Upgrade one database and wait for it (a canary)."""
        result = _settled(state)
        if result is None:
            return await self._upgrade(state)
        self._record(result)
        return result

    async def start(self, state: State) -> None:
        """Start one database once fewer than ``jobs`` run (unless stopped meanwhile)."""
        result = _settled(state)
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
            task.result()  # recorded by _upgrade; raises what went wrong in the parent itself

    def _record(self, result: Result) -> None:
        self.results[result.member.name] = result
        self.display.finished(result)
        if result.failed and not self.options.keep_going:
            self.stopped = True

    async def _upgrade(self, state: State) -> Result:
        """Upgrade one database in a worker; record and return its :class:`Result`."""
        member, options = state.member, self.options
        self.display.started(state)
        job = Job(
            member.name,
            member.url,
            options.target,
            options.versions_dir,
            options.limits,
            options.force,
            options.contract,
        )
        done = await run_job(job, self.display.line)
        if isinstance(done, Died):
            result = await self._died(state, done)
        else:
            result = _finished(state, done)
        self._record(result)
        return result

    async def _died(self, state: State, died: Died) -> Result:
        """A worker that died: its database failed, at whatever revision it now says."""
        now = await read_state(state.member, self.files, self.wait)
        after = None if now.down else now.current
        where = "cannot be read back" if after is None else f"is at {revisions(after)}"
        error = f"its worker process was {died.how} during the upgrade; the database {where}"
        error += f" ({RESUME})"
        return Result(state.member, Ending.FAILED, state.current, after, (), died.seconds, error)


def _settled(state: State) -> Result | None:
    """The result of a database that needs no worker (cannot be read, or at target)."""
    if state.problem:
        return Result(state.member, Ending.FAILED, state.current or None, error=state.problem)
    if state.up_to_date:
        return Result(state.member, Ending.AT_TARGET, state.current, state.current)
    return None


def _finished(state: State, done: Finished) -> Result:
    """The result of a database whose worker answered."""
    member = state.member
    if done.error is not None:
        return Result(member, Ending.FAILED, state.current, seconds=done.seconds, error=done.error)
    if done.applied:
        return Result(
            member, Ending.UPGRADED, state.current, done.heads, done.applied, done.seconds
        )
    # another run applied what was pending while this one waited for the lock
    what = Ending.NOTHING_LEFT if state.pending else Ending.AT_TARGET
    return Result(member, what, state.current, done.heads, (), done.seconds)
