"""``# review: allow CODE -- reason``: a finding accepted, with its reason, in the revision file."""

from __future__ import annotations

from terrafusion_sync.review import codes
from terrafusion_sync.review.findings import Finding
from terrafusion_sync.review.revisions import RevisionFile


def apply_allows(findings: list[Finding], revisions: list[RevisionFile]) -> list[Finding]:
    """Drop the findings a file accepts with a reason; an allow with no reason is a finding."""
    accepted: dict[str, set[str]] = {}
    extra: list[Finding] = []
    for rev in revisions:
        for allow in rev.allows:
            if allow.reason:
                accepted.setdefault(rev.shown, set()).update(allow.codes)
            else:
                extra.append(
                    Finding(
                        rev.shown,
                        allow.line,
                        codes.ALLOW_WITHOUT_REASON.code,
                        f"allow {', '.join(allow.codes)} gives no reason, so it accepts nothing",
                        codes.ALLOW_WITHOUT_REASON.hint(),
                    )
                )
    kept = [f for f in findings if f.code not in accepted.get(f.path, set())]
    return kept + extra
