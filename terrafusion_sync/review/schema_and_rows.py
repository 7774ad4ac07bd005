"""A revision that changes a table's schema and also rewrites its rows (TF413).

The DDL takes an ACCESS EXCLUSIVE lock that is held until the revision commits, so every
row the same revision then writes extends the time the table is closed to readers and
writers. squawk reads one statement at a time and cannot see the pair; this check reads
the revision's whole segment. Tables the revision created have no readers yet.
"""

from __future__ import annotations

from terrafusion_sync.migrations.sql import statements
from terrafusion_sync.review import codes
from terrafusion_sync.review.findings import Finding
from terrafusion_sync.review.revisions import RevisionFile
from terrafusion_sync.review.segments import Segment


def schema_and_rows(segment: Segment, rev: RevisionFile) -> list[Finding]:
    """TF413 at each line that writes rows of a table the revision altered before."""
    altered: set[str] = set()
    created: set[str] = set()
    findings: list[Finding] = []
    for chunk in segment.chunks:
        if chunk.line is None:
            continue
        for action in statements.actions(chunk.text):
            if action.kind == statements.CREATE_TABLE:
                created.add(action.table)
            elif action.kind in statements.ROW_WRITES:
                if action.table in altered and action.table not in created:
                    findings.append(_finding(rev, chunk.line, action.table))
                    break  # one finding a line
            elif action.kind in statements.ALTER_TABLE_KINDS:
                altered.add(action.table)
    return findings


def _finding(rev: RevisionFile, line: int, table: str) -> Finding:
    return Finding(
        rev.shown,
        line,
        codes.SCHEMA_AND_ROWS.code,
        f"rows of {table} rewritten in the revision that changes its schema: "
        f"{codes.SCHEMA_AND_ROWS.why}",
        codes.SCHEMA_AND_ROWS.hint(),
    )
