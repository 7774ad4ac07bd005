"""What a person sees of a fleet: live progress, then tables (rich).

On a terminal a live table shows each database being upgraded, the revision it is on and
its latest line; elsewhere (CI logs, pipes) each event is one plain line prefixed with the
database's name. Every text goes through the fleet's mask first: no password, and no value
a ``${VAR}`` took, is ever shown.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from terrafusion_sync.fleet.results import DatabasePlan, Result
    from terrafusion_sync.fleet.status import State

WIDE = 10_000
"""Console width off a terminal: a log line is never wrapped."""


def console() -> Console:
    """Standard output: live and coloured on a terminal, plain unwrapped text elsewhere."""
    probe = Console(highlight=False)
    return probe if probe.is_terminal else Console(width=WIDE, no_color=True, highlight=False)


class Display(Protocol):
    """Where an upgrade's progress goes."""

    def begin(self, total: int) -> None: ...
    def started(self, state: State) -> None: ...
    def line(self, name: str, text: str) -> None: ...
    def finished(self, result: Result) -> None: ...
    def end(self) -> None: ...


@dataclass
class _Running:
    """One database being upgraded: what is left, what is done, what it last said."""

    pending: tuple[str, ...]
    since: float = field(default_factory=time.monotonic)
    done: int = 0
    last: str = "started"

    @property
    def on(self) -> str:
        """The revision being applied now."""
        return self.pending[self.done] if self.done < len(self.pending) else "-"

    def heard(self, text: str) -> None:
        if self.on != "-" and text.startswith("upgraded") and self.on in text:
            self.done += 1
        self.last = text


class Progress:
    """Live on a terminal, plain lines elsewhere; thread-safe (lines come from a thread)."""

    def __init__(self, out: Console, mask: Callable[[str], str], title: str) -> None:
        self.out = out
        self.title = title
        self.mask = mask
        self.live: Live | None = None
        self.lock = threading.Lock()
        self.running: dict[str, _Running] = {}
        self.total = 0
        self.finished_count = 0
        self.failed = 0

    def begin(self, total: int) -> None:
        """Say what is about to happen (once the run is known to be possible)."""
        self.out.print(Text(self.mask(self.title)), soft_wrap=True)
        self.total = total
        if self.out.is_terminal:
            self.live = Live(self._render(), console=self.out, refresh_per_second=8, transient=True)
            self.live.start()

    def started(self, state: State) -> None:
        with self.lock:
            self.running[state.member.name] = _Running(state.pending)
            self._say(f"{state.member.name}: started, {len(state.pending)} revision(s) to apply")

    def line(self, name: str, text: str) -> None:
        with self.lock:
            if name in self.running:
                self.running[name].heard(self.mask(text))
            self._say(f"{name}: {text}")

    def finished(self, result: Result) -> None:
        with self.lock:
            self.running.pop(result.member.name, None)
            self.finished_count += 1
            self.failed += result.failed
            self._say(f"{result.member.name}: {result.describe()}", always=True)

    def end(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    def _say(self, text: str, *, always: bool = False) -> None:
        """A plain line off a terminal; on one, a line above the live table (results only)."""
        if self.live is None:
            self.out.print(Text(self.mask(text)), soft_wrap=True)
            return
        if always:
            self.live.console.print(Text(self.mask(text)))
        self.live.update(self._render())

    def _render(self) -> Group:
        table = Table(box=box.SIMPLE, title_justify="left")
        for column in ("database", "on revision", "done", "time", "last"):
            table.add_column(column)
        now = time.monotonic()
        for name, run in sorted(self.running.items()):
            table.add_row(
                name,
                run.on,
                f"{run.done}/{len(run.pending)}",
                f"{now - run.since:.1f} s",
                Text(run.last, overflow="ellipsis", no_wrap=True),
            )
        head = Text(
            f"{self.finished_count} of {self.total} databases finished, {self.failed} failed, "
            f"{len(self.running)} running"
        )
        return Group(head, table)


def _table(*columns: str) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def revisions(heads: Sequence[str] | None) -> str:
    """``a, b``, ``base`` for none, ``?`` when unknown."""
    if heads is None:
        return "?"
    return ", ".join(heads) or "base"


def print_status(out: Console, states: Sequence[State], mask: Callable[[str], str]) -> None:
    """One row per database: reachable or why not, revision, pending, last upgrade."""
    table = _table("database", "reachable", "revision", "pending", "last upgrade (UTC)")
    for state in states:
        pending = "?" if state.problem else str(len(state.pending))
        if state.waiting and not state.problem:
            pending += f" (+{len(state.waiting)} contract)"
        revision = "?" if state.down else revisions(state.current)
        if state.broken:
            revision += " (broken)"
        last = f"{state.last_upgrade:%Y-%m-%d %H:%M:%S}" if state.last_upgrade else "-"
        reachable = "no" if state.down else "yes"
        table.add_row(state.member.name, reachable, revision, pending, last)
    out.print(table)
    for state in states:
        if state.problem:
            out.print(Text(mask(f"{state.member.name}: {state.problem}")), soft_wrap=True)
    down = sum(s.down is not None for s in states)
    broken = sum(s.broken is not None for s in states)
    behind = sum(bool(s.pending) for s in states if not s.problem)
    at = len(states) - down - broken - behind
    waits = sum(bool(s.waiting) for s in states if not s.problem)
    also = f"; {waits} with contract revisions waiting (fleet upgrade --contract)" if waits else ""
    out.print(
        f"{len(states)} database(s): {at} at head, {behind} behind, {down} down, {broken} broken"
        + also
    )


def print_summary(out: Console, results: Sequence[Result], mask: Callable[[str], str]) -> None:
    """The end of an upgrade: database, from, to, time, result; then each failure's error."""
    table = _table("database", "from", "to", "time", "result")
    for r in results:
        seconds = f"{r.seconds:.2f} s" if r.seconds is not None else "-"
        after = "-" if r.after is None else revisions(r.after)
        table.add_row(r.member.name, revisions(r.before), after, seconds, r.result)
    out.print(table)
    for r in results:
        if r.error:
            out.print(Text(mask(f"{r.member.name}: {r.error}")), soft_wrap=True)
    counts: dict[str, int] = {}
    for r in results:
        counts[r.result] = counts.get(r.result, 0) + 1
    at = sum(r.at_target for r in results)
    if not all(r.started for r in results):
        out.print(
            "stopped after the first failure: the databases not started are as they were "
            "(fix it and run again, which does only what is left, or use --keep-going)"
        )
    out.print(
        f"{at} of {len(results)} database(s) at the target; "
        + ", ".join(f"{n} {what}" for what, n in counts.items())
    )


def print_plans(out: Console, plans: Sequence[DatabasePlan], mask: Callable[[str], str]) -> None:
    """Per database: where it is and each revision that would run (as ``make plan``)."""
    for plan in plans:
        name = plan.member.name
        if plan.problem:
            out.print(Text(mask(f"{name}: cannot plan: {plan.problem}")), soft_wrap=True)
        elif not plan.revisions:
            out.print(Text(f"{name}: at {revisions(plan.current)}: nothing would run"))
        else:
            out.print(Text(f"{name}: at {revisions(plan.current)}, would run:"))
            for line in plan.revisions:
                out.print(Text(f"  {line}"), soft_wrap=True)
            if plan.measured:
                out.print(Text(f"  ({plan.measured})"), soft_wrap=True)
    would = sum(bool(p.revisions) for p in plans)
    failing = sum(bool(p.will_fail) for p in plans)
    failed = sum(bool(p.problem) for p in plans)
    out.print(
        f"{len(plans)} database(s): {would} would be upgraded, {failing} with a revision that "
        f"would fail there, {failed} cannot be planned; nothing was changed"
    )
