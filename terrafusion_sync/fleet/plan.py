"""``tfsync fleet upgrade --plan``: per database, what an upgrade would run; changes nothing.

Every database is read (:mod:`.status`) and, when it has something to do, planned on the
same connection by the core's own :func:`terrafusion_sync.migrations.plan` (what ``make
plan`` shows), :data:`PLANS_AT_ONCE` databases at a time. Databases at the same revision
share the revision files, the offline SQL and the scratch database's measurements (a
:class:`~terrafusion_sync.migrations.planning.plan.PlanCache`): a fleet at one revision
builds one scratch database, not one per database. Rendering and measuring go through
Alembic, whose module-global context must not be shared by two databases at once: the
cache lets one plan at a time do them, and each plan has an Alembic config of its own
(the connection Alembic is handed lives on it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from terrafusion_sync import migrations
from terrafusion_sync.errors import TfsyncError
from terrafusion_sync.fleet.fleet_file import Fleet, Member
from terrafusion_sync.fleet.results import DatabasePlan, Options
from terrafusion_sync.fleet.status import State, load_revisions, reading
from terrafusion_sync.migrations.planning.plan import PlanCache

__all__ = ["DatabasePlan", "plan_fleet"]

PLANS_AT_ONCE = 8
"""Databases planned at the same time (each plan holds a connection or two)."""


async def plan_fleet(
    fleet: Fleet, members: Sequence[Member], options: Options
) -> list[DatabasePlan]:
    """A :class:`DatabasePlan` for each of ``members``, in order."""
    files = load_revisions(options.versions_dir, options.target)
    # one scratch database per revision range, the revision files loaded once: not per database
    cache = PlanCache(scripts=files.scripts)
    gate = asyncio.Semaphore(PLANS_AT_ONCE)

    async def one(member: Member) -> DatabasePlan:
        async with gate, reading(member, files, fleet.connect_timeout) as (state, conn):
            return await _plan_one(state, conn, options, cache)

    return list(await asyncio.gather(*(one(member) for member in members)))


async def _plan_one(
    state: State, conn: AsyncConnection | None, options: Options, cache: PlanCache
) -> DatabasePlan:
    """One database's plan, described; or why it has none. ``conn`` is the connection
    its state was just read on: the plan reads the live tables on it too."""
    if state.problem or conn is None:
        return DatabasePlan(state.member, None, problem=state.problem)
    if state.up_to_date or not state.pending:
        return DatabasePlan(state.member, state.current)
    cfg = migrations.alembic_config(versions_dir=options.versions_dir)  # its own: see above
    try:
        plan = await migrations.plan(
            state.member.url,
            options.target,
            cfg=cfg,
            limits=options.limits,
            cache=cache,
            current=state.current,  # just read with the rest of its state
            live=conn,
        )
    except TfsyncError as exc:
        return DatabasePlan(state.member, state.current, problem=str(exc))
    lines: list[str] = []
    for planned in plan.revisions:
        lines.append(planned.describe())
        lines += [f"  {table.describe()}" for table in planned.tables]
        lines += [f"  will fail: {w.table}: {w.reason}" for w in planned.will_fail]
    failing = sum(len(p.will_fail) for p in plan.revisions)
    return DatabasePlan(state.member, plan.current, tuple(lines), failing, plan.measured)
