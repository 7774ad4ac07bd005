"""Rows of a live table rewritten by one plain statement: the safe way is ``op.backfill``
(``delete=True`` for a ``DELETE``).

One ``UPDATE`` (or ``DELETE``) over a big table holds the row lock of every row it touches
until the revision commits: the application's writers of those rows wait for the whole
statement. The SQL a revision emits offline is read with PostgreSQL's own parser (pglast),
so an ``UPDATE`` inside a CTE counts and one inside a string or a comment does not (the
comments ``op.backfill`` renders, or a ``DO`` block's loop that commits in batches). Tables
created earlier in the same revision have no readers yet, and a statement already
reported as TF413 (schema change and row rewrite together) is not reported twice.
"""

from __future__ import annotations

from terrafusion_sync.migrations.sql import statements
from terrafusion_sync.review import codes
from terrafusion_sync.review.findings import Finding
from terrafusion_sync.review.revisions import RevisionFile
from terrafusion_sync.review.segments import Segment

_VERBS = {statements.UPDATE: "updated", statements.DELETE: "deleted"}


def plain_rewrites(segment: Segment, rev: RevisionFile, reported: list[Finding]) -> list[Finding]:
    """TF415 for each revision line whose SQL updates or deletes rows of an existing table."""
    already = {(f.path, f.line) for f in reported if f.code == codes.SCHEMA_AND_ROWS.code}
    created: set[str] = set()
    findings = []
    for chunk in segment.chunks:
        if chunk.line is None:  # Alembic's own (alembic_version), not the revision's
            continue
        for action in statements.actions(chunk.text):
            if action.kind == statements.CREATE_TABLE:
                created.add(action.table)
            if action.kind not in _VERBS or action.table in created:
                continue
            if (rev.shown, chunk.line) in already:
                continue
            findings.append(_finding(rev, chunk.line, _VERBS[action.kind], action.table))
            break
    return findings


def _finding(rev: RevisionFile, line: int, verb: str, table: str) -> Finding:
    code = codes.PLAIN_REWRITE
    return Finding(
        rev.shown,
        line,
        code.code,
        f"rows of {table} {verb} by one plain statement: {code.why}",
        code.hint(table=table) if verb == "updated" else code.hint("deleted", table=table),
    )
