"""``tfsync fleet rehearse``: the rehearsal (:mod:`terrafusion_sync.migrations.planning.rehearse`)
of every database of the fleet, ``jobs`` at a time.

Each rehearsal runs alone in a worker process (:mod:`.pool` says why: Alembic's module-global
context), copies its database on that database's own server, and drops the copy. A database
that cannot be rehearsed (unreachable, no CREATEDB) is reported and the others go on: a
rehearsal changes nothing live, so there is nothing to stop for.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from terrafusion_sync.fleet.fleet_file import Member
from terrafusion_sync.fleet.pool import _context
from terrafusion_sync.migrations.deploy.timeouts import Timeouts


@dataclass(frozen=True)
class Rehearsed:
    """One database's rehearsal: its JSON report, or why there is none."""

    member: Member
    found: dict[str, Any] | None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None and self.found is not None and bool(self.found["ok"])

    def describe(self) -> str:
        """``benton: ok, 2 revision(s) rehearsed`` or what failed."""
        name = self.member.name
        if self.problem is not None or self.found is None:
            return f"{name}: cannot rehearse: {self.problem}"
        revisions = self.found["revisions"]
        if not revisions:
            return f"{name}: nothing pending"
        failed = [r for r in revisions if not r["ok"]]
        if failed:
            error = failed[0]["error"]
            return (
                f"{name}: FAILED at {failed[0]['revision']} line {error['line']}: "
                f"{error['error']}" + (f" (row {error['key']})" if error["key"] else "")
            )
        seconds = sum(r["duration_s"] for r in revisions)
        return f"{name}: ok, {len(revisions)} revision(s) rehearsed in {seconds:.2f} s"


def rehearse_fleet(
    members: Sequence[Member],
    *,
    target: str,
    jobs: int,
    versions_dir: Path | None,
    limits: Timeouts,
    sample: float | None = None,
) -> list[Rehearsed]:
    """Rehearse each of ``members``, ``jobs`` at a time; results in file order."""
    with ProcessPoolExecutor(max_workers=jobs, mp_context=_context()) as pool:
        futures = [
            pool.submit(_rehearse_one, m.url, target, versions_dir, limits, sample) for m in members
        ]
        results = []
        for member, future in zip(members, futures, strict=True):
            found, problem = future.result()
            results.append(Rehearsed(member, found, problem))
    return results


def _rehearse_one(
    url: URL, target: str, versions_dir: Path | None, limits: Timeouts, sample: float | None
) -> tuple[dict[str, Any] | None, str | None]:
    """In a worker: one rehearsal, as JSON, or the one-line error that stopped it."""
    from terrafusion_sync.aio import run_blocking
    from terrafusion_sync.errors import TfsyncError
    from terrafusion_sync.migrations.planning.rehearse import Options, rehearse
    from terrafusion_sync.migrations.plumbing.config import alembic_config

    try:
        found = run_blocking(
            rehearse(
                url,
                target,
                cfg=alembic_config(versions_dir=versions_dir),
                options=Options(sample=sample),
                limits=limits,
            )
        )
    except TfsyncError as exc:
        return None, str(exc)
    return found.as_json(), None
