"""``tfsync fleet backfill``: the backfills of every database of a fleet, or one operator
action (retry, pause, resume, cancel) on each, through the same core as ``tfsync backfill``.

Each database is acted on by itself, a few at a time: one that has no such backfill, or
cannot be reached, says so on its own line and leaves the others be.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from terrafusion_sync.errors import TfsyncError
from terrafusion_sync.fleet.fleet_file import Fleet, Member
from terrafusion_sync.migrations.backfill import operator, states
from terrafusion_sync.migrations.backfill.states import BackfillStatus
from terrafusion_sync.migrations.deploy.timeouts import Timeouts


@dataclass(frozen=True)
class MemberBackfills:
    """One database's backfills after the action, or why the action failed there."""

    member: Member
    backfills: list[BackfillStatus] = field(default_factory=list)
    error: str | None = None

    def describe_lines(self, mask: Callable[[str], str]) -> list[str]:
        """``name: <backfill line>`` for each, or ``name: error: ...``."""
        if self.error is not None:
            return [mask(f"{self.member.name}: error: {self.error}")]
        if not self.backfills:
            return [f"{self.member.name}: no backfill"]
        return [f"{self.member.name}: {b.describe()}" for b in self.backfills]


async def backfill_fleet(
    fleet: Fleet,
    members: Sequence[Member],
    action: str,
    revision: str = "",
    *,
    reason: str = "",
    versions_dir: Path | None = None,
    limits: Timeouts | None = None,
) -> list[MemberBackfills]:
    """``action`` (``status`` or an :mod:`operator` action) on each of ``members``, at most
    the fleet's ``jobs`` at a time; one result per member, in order."""
    operator.refuse_bad_input(action, revision, reason)  # before any database is touched
    gate = asyncio.Semaphore(fleet.jobs)
    from terrafusion_sync.migrations.plumbing.config import alembic_config

    cfg = alembic_config(versions_dir=versions_dir)

    async def one(member: Member) -> MemberBackfills:
        async with gate:
            try:
                if action == "status":
                    return MemberBackfills(member, await states.read(member.url))
                done = await operator.act(
                    member.url, action, revision, cfg=cfg, reason=reason, limits=limits
                )
            except TfsyncError as exc:
                return MemberBackfills(member, error=str(exc))
            return MemberBackfills(member, done)

    return list(await asyncio.gather(*(one(m) for m in members)))
