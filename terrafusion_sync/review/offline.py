"""Each revision's upgrade rendered offline (``alembic upgrade FROM:TO --sql``), by line.

The text rules need the SQL a revision runs. A revision that cannot be rendered offline
(it reads rows through ``op.get_bind()``) is a finding of its own, TF414, and the
rendering carries on after it, so the revisions that follow are still checked.
"""

from __future__ import annotations

import os

from alembic.config import Config

from terrafusion_sync.errors import first_line
from terrafusion_sync.migrations import upgrade_sql
from terrafusion_sync.migrations.plumbing import revision_lines
from terrafusion_sync.migrations.plumbing.config import script_directory
from terrafusion_sync.review import codes
from terrafusion_sync.review.findings import Finding
from terrafusion_sync.review.revisions import RevisionFile
from terrafusion_sync.review.segments import LineTracer, Segment


async def render(
    cfg: Config, revisions: list[RevisionFile], wanted: set[str], order: list[str]
) -> tuple[list[Segment], list[Finding]]:
    """The offline SQL of the revisions ``wanted``, by revision and line, and a TF414 finding
    for each that cannot be rendered offline."""
    by_id = {r.revision: r for r in revisions if r.revision}
    todo = [rev for rev in order if rev in wanted]
    if not todo:
        return [], []
    paths = {str(r.path): r.revision for r in revisions if r.revision}
    paths |= {os.path.realpath(p): rev for p, rev in list(paths.items())}  # noqa: ASYNC240
    findings: list[Finding] = []
    segments: list[Segment] = []
    start = order.index(todo[0])
    scripts = script_directory(cfg)  # the revision files are loaded once for every segment
    while start < len(order):
        tracer = LineTracer(paths)
        first = order[start]
        parent = by_id[first].down_revisions
        spec = f"{parent[0]}:{order[-1]}" if parent else f"base:{order[-1]}"
        try:
            await upgrade_sql(None, spec, cfg=cfg, buffer=tracer, scripts=scripts)
        except Exception as exc:
            failed, line = _failing_revision(exc, paths, tracer)
            segments += [s for s in tracer.segments if s.revision != failed]
            rev = by_id.get(failed)
            if rev is None:
                raise
            if failed in wanted:
                findings.append(_offline_failed(rev, line, exc))
            start = order.index(failed) + 1
            continue
        segments += tracer.segments
        break
    return [s for s in segments if s.revision in wanted], findings


def _offline_failed(rev: RevisionFile, line: int | None, exc: Exception) -> Finding:
    return Finding(
        rev.shown,
        line or rev.line_of("upgrade"),
        codes.OFFLINE_FAILED.code,
        f"upgrade cannot render its SQL offline: {first_line(exc, typed=True)}",
        codes.OFFLINE_FAILED.hint(),
    )


def _failing_revision(
    exc: BaseException, paths: dict[str, str], tracer: LineTracer
) -> tuple[str, int | None]:
    found = revision_lines.raised_in(paths, exc)
    if found is not None:
        return paths[found[0]], found[1]
    if tracer.segments:
        return tracer.segments[-1].revision, None
    raise exc
