"""The fleet's vocabulary: how a run is asked for, and what it says about each database.

It sits beneath :mod:`.upgrade`, :mod:`.plan` and :mod:`.display`, which all speak of
:class:`Options`, :class:`Result` and :class:`DatabasePlan`: the display renders what the
others produce without importing them (and so without import circles).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from terrafusion_sync.fleet.fleet_file import Member
from terrafusion_sync.migrations.deploy.timeouts import Timeouts


class Ending(StrEnum):
    """How one database's part of a fleet run ended; shown as its value."""

    UPGRADED = "upgraded"
    AT_TARGET = "already at target"
    NOTHING_LEFT = "nothing left (done by another run)"
    FAILED = "FAILED"
    NOT_STARTED = "not started"


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
class DatabasePlan:
    """One database: where it is, and the revisions that would run (described)."""

    member: Member
    current: tuple[str, ...] | None
    revisions: tuple[str, ...] = ()
    """Each revision that would run, then per table what it would do there (indented)."""
    will_fail: int = 0
    """How many pre-flight findings say a revision would fail on the rows there."""
    measured: str = ""
    problem: str | None = None
