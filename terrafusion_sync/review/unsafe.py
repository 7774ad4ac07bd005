"""Unsafe operations on a live table, from the SQL each revision emits in offline mode.

The text rules, each in a module of its own, over the segments :mod:`.offline` renders:
squawk's (:mod:`.squawk`), a schema change and a row rewrite in one revision
(:mod:`.schema_and_rows`), and rows rewritten by one plain statement (:mod:`.rewrites`).
The measurement (:mod:`.measured`) then confirms or refutes what they guess.
"""

from __future__ import annotations

from terrafusion_sync.review.findings import Finding
from terrafusion_sync.review.revisions import RevisionFile
from terrafusion_sync.review.rewrites import plain_rewrites
from terrafusion_sync.review.schema_and_rows import schema_and_rows
from terrafusion_sync.review.segments import Segment
from terrafusion_sync.review.squawk import squawk_findings


def segment_findings(segments: list[Segment], revisions: list[RevisionFile]) -> list[Finding]:
    """What squawk and our own text rules find in rendered ``segments``."""
    by_id = {r.revision: r for r in revisions if r.revision}
    findings = squawk_findings(segments, by_id)
    for segment in segments:
        findings += schema_and_rows(segment, by_id[segment.revision])
        findings += plain_rewrites(segment, by_id[segment.revision], findings)
    return findings
