"""``tfsync fleet upgrade --plan``: per database, what an upgrade would run; changes nothing.

Every database is read in parallel (:mod:`.status`); each one with something to do is then
planned by the core's own :func:`terrafusion_sync.migrations.plan` (what ``make plan``
shows), one database after another: planning renders SQL through Alembic, whose module-
global context must not be shared by two databases at once. Databases at the same revision
share the offline SQL and the scratch database's measurements (a
:class:`~terrafusion_sync.migrations.planning.plan.PlanCache`): a fleet at one revision
builds one scratch database, not one per database.
"""

from __future__ import annotations

from collections.abc import Sequence

from terrafusion_sync import migrations
from terrafusion_sync.errors import TfsyncError
from terrafusion_sync.fleet.fleet_file import Fleet, Member
from terrafusion_sync.fleet.results import DatabasePlan, Options
from terrafusion_sync.fleet.status import load_revisions, read_states
from terrafusion_sync.migrations.planning.plan import PlanCache

__all__ = ["DatabasePlan", "plan_fleet"]


async def plan_fleet(
    fleet: Fleet, members: Sequence[Member], options: Options
) -> list[DatabasePlan]:
    """A :class:`DatabasePlan` for each of ``members``, in order."""
    files = load_revisions(options.versions_dir, options.target)
    states = await read_states(members, files, fleet.connect_timeout)
    cache = PlanCache()  # one scratch database per revision range, not one per database
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
                state.member.url, options.target, cfg=files.cfg, limits=options.limits, cache=cache
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
