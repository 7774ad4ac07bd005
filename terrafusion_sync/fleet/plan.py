"""``tfsync fleet upgrade --plan``: per database, what an upgrade would run; changes nothing.

Every database is read in parallel (:mod:`.status`); each one with something to do is then
planned by the core's own :func:`terrafusion_sync.migrations.plan` (what ``make plan``
shows), one database after another: planning renders SQL through Alembic, whose module-
global context must not be shared by two databases at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from terrafusion_sync import migrations
from terrafusion_sync.errors import TfsyncError
from terrafusion_sync.fleet.fleet_file import Fleet, Member
from terrafusion_sync.fleet.status import check_target, read_states
from terrafusion_sync.fleet.upgrade import Options
from terrafusion_sync.migrations.plumbing.checksums import versions_fingerprint
from terrafusion_sync.migrations.plumbing.config import (
    alembic_config,
    script_directory,
    versions_dir,
)


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


async def plan_fleet(
    fleet: Fleet, members: Sequence[Member], options: Options
) -> list[DatabasePlan]:
    """A :class:`DatabasePlan` for each of ``members``, in order."""
    cfg = alembic_config(versions_dir=options.versions_dir)
    scripts = script_directory(cfg)
    check_target(scripts, options.target)
    fingerprint = versions_fingerprint(versions_dir(cfg))
    states = await read_states(members, scripts, fingerprint, options.target, fleet.connect_timeout)
    plans = []
    for state in states:
        if state.problem:
            plans.append(DatabasePlan(state.member, None, problem=state.problem))
            continue
        if state.up_to_date or not state.pending:
            plans.append(DatabasePlan(state.member, state.current))
            continue
        try:
            plan = await migrations.plan(
                state.member.url, options.target, cfg=cfg, limits=options.limits
            )
        except TfsyncError as exc:
            plans.append(DatabasePlan(state.member, state.current, problem=str(exc)))
            continue
        lines: list[str] = []
        for planned in plan.revisions:
            lines.append(planned.describe())
            lines += [f"  {table.describe()}" for table in planned.tables]
            lines += [f"  will fail: {w.table}: {w.reason}" for w in planned.will_fail]
        failing = sum(len(p.will_fail) for p in plan.revisions)
        plans.append(DatabasePlan(state.member, plan.current, tuple(lines), failing, plan.measured))
    return plans
