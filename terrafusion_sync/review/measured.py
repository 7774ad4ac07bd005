"""Findings follow the measurement: the text rules guess, the scratch run decides.

The unsafe-operation check reads SQL text and guesses what a statement locks or rewrites;
the stairway's first upgrade of each revision measured it (:mod:`terrafusion_sync.migrations.
impact`). Here the two meet, line by line:

- a lock/rewrite finding whose line was measured and rewrote or read in full no existing
  table under a lock that blocks writes is refuted, and dropped (``varchar(50)`` to
  ``varchar(100)`` is a catalog change in PostgreSQL, whatever squawk says);
- one the measurement confirms says what was measured, and carries the facts;
- a measured rewrite or full read of an existing table under a write-blocking lock that no
  text rule noticed is a finding of its own, TF416.
"""

from __future__ import annotations

from dataclasses import replace

from terrafusion_sync.migrations.planning.impact import BLOCKS_WRITES, Impact, Relation
from terrafusion_sync.review import codes
from terrafusion_sync.review.findings import Finding
from terrafusion_sync.review.revisions import RevisionFile

REFUTABLE = frozenset(
    {
        codes.SET_NOT_NULL.code,
        codes.INDEX_NOT_CONCURRENT.code,
        codes.FOREIGN_KEY_VALIDATED.code,
        codes.CHECK_VALIDATED.code,
        codes.TYPE_CHANGE.code,
        codes.VOLATILE_DEFAULT.code,
    }
)
"""Codes that claim a rewrite or a full scan under a lock: the measurement can say no."""
COVERING = REFUTABLE | {
    codes.NOT_NULL_WITHOUT_DEFAULT.code,
    codes.CONCURRENT_IN_TRANSACTION.code,
    codes.SCHEMA_AND_ROWS.code,
    codes.PLAIN_REWRITE.code,
    codes.OTHER_LOCK.code,
}
"""Codes that already tell the reader that a statement locks its table."""


def reconcile(
    findings: list[Finding], impacts: dict[str, Impact], revisions: list[RevisionFile]
) -> list[Finding]:
    """``findings`` confirmed, refuted or annotated by ``impacts``; plus TF416 findings."""
    by_path = {r.shown: r for r in revisions if r.revision}
    kept: list[Finding] = []
    for finding in findings:
        rev = by_path.get(finding.path)
        impact = impacts.get(rev.revision) if rev and rev.revision else None
        reconciled = finding if impact is None else _reconciled(finding, impact)
        if reconciled is not None:
            kept.append(reconciled)
    return kept + _unexplained(kept, impacts, revisions)


def _reconciled(finding: Finding, impact: Impact) -> Finding | None:
    """One finding against its revision's measurement; None when the measurement refutes it."""
    if finding.code in REFUTABLE:
        return _judged(finding, impact)
    if finding.code == codes.NOT_NULL_WITHOUT_DEFAULT.code and impact.failed_on_rows:
        rows = ", ".join(f"{t} ({n} rows)" for t, n in impact.seeded.items())
        return replace(
            finding,
            message=f"{finding.message}; failed on {rows} (measured): {impact.failed_on_rows}",
            measured={"seeded": impact.seeded, "failed_on_rows": impact.failed_on_rows},
        )
    return finding


def _unexplained(
    kept: list[Finding], impacts: dict[str, Impact], revisions: list[RevisionFile]
) -> list[Finding]:
    """TF416: a measured lock that blocks writers where no kept finding explains it."""
    covered = {(f.path, f.line) for f in kept if f.code in COVERING}
    found: list[Finding] = []
    for rev_id, impact in impacts.items():
        rev = next((r for r in revisions if r.revision == rev_id), None)
        if rev is None:
            continue
        for rel in impact.tables():
            if not rel.blocks_writes:
                continue
            lines = rel.lines or [rev.line_of("upgrade")]
            if any((rev.shown, line) in covered for line in lines):
                continue
            found.append(
                Finding(
                    rev.shown,
                    lines[0],
                    codes.MEASURED_BLOCKING.code,
                    f"{rel.describe()}: {_consequence(rel)} while it runs, and no rule "
                    "explains why",
                    codes.MEASURED_BLOCKING.hint(),
                    rel.facts(),
                )
            )
    return found


def _judged(finding: Finding, impact: Impact) -> Finding | None:
    """The finding confirmed by what its line measured, None if refuted, else as it was."""
    blocking = [r for r in impact.at_line(finding.line) if r.lock in BLOCKS_WRITES]
    if not blocking:
        return None if impact.touched_at(finding.line) else finding
    rel = next((r for r in blocking if not r.index), blocking[0])
    head = finding.message.split(": ", 1)[0]
    return replace(
        finding,
        message=f"{head}: {rel.describe()}, {_consequence(rel)}",
        measured=rel.facts(),
    )


def _consequence(rel: Relation) -> str:
    if rel.lock == "AccessExclusiveLock":
        return "blocking every read and write"
    return "blocking every write"
