"""A review finding, and how findings are printed: like a compiler, or as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, order=True)
class Finding:
    """One problem at ``path:line``; ``hint`` is the safe way, in one sentence.

    ``measured`` carries what the review measured on its scratch database (table, lock,
    rewrite, scan, seconds, rows, bytes), for JSON; it takes no part in comparisons.
    """

    path: str
    line: int
    code: str
    message: str
    hint: str = ""
    measured: dict[str, Any] | None = field(default=None, compare=False)

    def render(self) -> str:
        """``path:line: CODE message (hint)``."""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{self.path}:{self.line}: {self.code} {self.message}{hint}"


def format_text(findings: list[Finding], revisions: int) -> str:
    """One finding a line, then the summary."""
    lines = [f.render() for f in sorted(findings)]
    noun = "finding" if len(findings) == 1 else "findings"
    lines.append(f"{len(findings)} {noun} in {revisions} revision{'s' * (revisions != 1)}")
    return "\n".join(lines)


def format_json(findings: list[Finding], revisions: int) -> str:
    """Findings as a JSON document for tools."""
    return json.dumps(
        {"findings": [asdict(f) for f in sorted(findings)], "revisions": revisions}, indent=2
    )
