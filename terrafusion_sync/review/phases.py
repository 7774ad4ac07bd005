"""The review knows the phases of a deploy (``phase = "expand"`` / ``"contract"``).

Neutron's tests forbid destructive operations in its expand branch; here that is a
finding, TF420: an expand revision runs while the old application still writes, so it
must only add. A contract revision with no expand before it (TF421) has nothing that kept
old and new in step and nothing that recorded when old code last wrote: ``make contract``
would drop what running code may still use. The unsafe-operation findings are read in the
light of the phase: dropping the old column and SET NOT NULL through a validated check are
what a contract is for, and so, in a type change's contract (its ``retypes`` line), is
giving the temporary column of the new type, and its indexes, the old names.
"""

from __future__ import annotations

import re
from dataclasses import replace

from terrafusion_sync.migrations.authoring.retype_sql import TEMPORARY
from terrafusion_sync.review import codes
from terrafusion_sync.review.findings import Finding
from terrafusion_sync.review.revisions import RevisionFile

NOT_ADDITIVE = frozenset(
    {
        codes.TYPE_CHANGE.code,
        codes.RENAME_COLUMN.code,
        codes.RENAME_TABLE.code,
        codes.DROP_COLUMN.code,
        codes.DROP_TABLE.code,
    }
)
"""What an expand must not do: old code still uses what it would drop, rename or rewrite."""
CONTRACT_WORK = frozenset({codes.DROP_COLUMN.code, codes.SET_NOT_NULL.code})
"""What a contract revision is for, once old code is gone (and after VALIDATE)."""
CONTRACT_CLEANUP = ("squawk ban-drop-constraint", "squawk ban-drop-function")
"""squawk's TF419 rules for dropping what the expand itself added (the NOT NULL check, the
trigger's function): no running code assumes them."""
RETYPE_SWAP = re.compile(
    rf"RENAME COLUMN \S+_{TEMPORARY} TO |ALTER INDEX \S+_{TEMPORARY} RENAME TO "
)
"""A type change's contract giving the new column and its indexes the old names."""


def in_phase(findings: list[Finding], revisions: list[RevisionFile]) -> list[Finding]:
    """``findings`` read with each revision's phase: an expand's destructive step becomes
    TF420; a contract's own work is no finding."""
    by_path = {r.shown: r for r in revisions}
    judged = []
    for finding in findings:
        revision = by_path.get(finding.path)
        phase = revision.phase if revision else None
        if phase == "contract" and (
            finding.code in CONTRACT_WORK
            or (
                finding.code == codes.OTHER_LOCK.code
                and finding.message.startswith(CONTRACT_CLEANUP)
            )
            or (revision is not None and _retype_swap(revision, finding.line))
        ):
            continue
        if phase == "expand" and finding.code in NOT_ADDITIVE:
            finding = replace(
                finding,
                code=codes.EXPAND_NOT_ADDITIVE.code,
                message=f"in an expand revision, {finding.message}",
                hint=codes.EXPAND_NOT_ADDITIVE.hint(),
            )
        judged.append(finding)
    return judged


def _retype_swap(revision: RevisionFile, line: int) -> bool:
    """Whether the statement at ``line`` of a type change's contract renames the temporary
    column (or one of its indexes) to the old name: the pair's own work, no finding."""
    if "\nretypes = " not in revision.source:
        return False
    statement = " ".join(revision.source.splitlines()[max(line - 1, 0) : line + 2])
    return RETYPE_SWAP.search(statement) is not None


def contract_findings(revisions: list[RevisionFile]) -> list[Finding]:
    """TF421 for each contract revision with no expand revision among its ancestors."""
    by_id = {r.revision: r for r in revisions if r.revision}
    findings = []
    for rev in revisions:
        if rev.phase != "contract":
            continue
        if not any(by_id[a].phase == "expand" for a in _ancestors(rev, by_id)):
            findings.append(
                Finding(
                    rev.shown,
                    rev.phase_line,
                    codes.CONTRACT_WITHOUT_EXPAND.code,
                    f"contract revision {rev.revision} has no expand revision before it: "
                    "nothing kept old and new in step, nothing shows when old code last wrote",
                    codes.CONTRACT_WITHOUT_EXPAND.hint(),
                )
            )
    return findings


def _ancestors(rev: RevisionFile, by_id: dict[str, RevisionFile]) -> set[str]:
    seen: set[str] = set()
    todo = [*rev.down_revisions, *rev.depends_on]
    while todo:
        current = todo.pop()
        if current in seen or current not in by_id:
            continue
        seen.add(current)
        todo += [*by_id[current].down_revisions, *by_id[current].depends_on]
    return seen
