"""What the core's long-running commands exchange: where progress lines go, and what a run did.

It sits beneath every other module of the core, so the deploy, the backfills and the
planning share these names without importing one another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Report = Callable[[str], None]
"""Where progress lines go (``print`` in the CLI)."""


def quiet(_: str) -> None:
    """The reporter that says nothing: the one every caller passes for silence."""


def is_quiet(report: Report) -> bool:
    """Whether ``report`` shows nothing, so that work can skip preparing what it would say."""
    return report is quiet


@dataclass(frozen=True)
class Outcome:
    """What a run did: the revisions applied (or undone), in order, and where it ended."""

    applied: list[str]
    heads: tuple[str, ...]
    """The revision(s) the database is at now (empty: base)."""
    waiting: tuple[str, ...] = ()
    """Contract revisions not applied: they wait for ``make contract``."""

    def summary(self, verb: str = "applied") -> str:
        """``applied 2 revision(s); now at X``, or ``already at X: nothing to do``."""
        where = ", ".join(self.heads) or "base"
        done = (
            f"already at {where}: nothing to do"
            if not self.applied
            else f"{verb} {len(self.applied)} revision(s); now at {where}"
        )
        if self.waiting:
            done += (
                f"; {len(self.waiting)} contract revision(s) wait ({', '.join(self.waiting)}): "
                "run `make contract` once no instance of the old application runs"
            )
        return done
