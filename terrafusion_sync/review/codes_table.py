"""The registry of review codes shown to people: ``tfsync review --codes`` and the README.

The README's "Review codes" table sits between two markers and is generated from
:mod:`.codes`, so the only complete list of codes can never disagree with what the review
reports; ``tests/test_review_codes.py`` fails when it does, and :func:`rewrite_readme`
brings it back.
"""

from __future__ import annotations

import json
from pathlib import Path

from terrafusion_sync.errors import TfsyncError
from terrafusion_sync.review.codes import CODES, Severity

BEGIN = "<!-- review codes: generated from terrafusion_sync/review/codes.py -->"
END = "<!-- end of review codes -->"


def listing() -> str:
    """Every code with its severity, why and safe way, for a person at a terminal; then
    what each severity means."""
    blocks = []
    for code in CODES.values():
        blocks.append(
            f"{code.code}  {code.title}  [{code.severity.value}]\n"
            f"    why: {code.why}\n"
            f"    safe way: {code.safe_way_shown}\n"
            f"    found by: {code.found_by}"
        )
    blocks += [f"{s.value}: {s.meaning}" for s in Severity]
    return "\n".join(blocks)


def as_json() -> str:
    """Every code as a JSON document for tools."""
    return json.dumps(
        {
            "codes": [
                {
                    "code": c.code,
                    "title": c.title,
                    "why": c.why,
                    "safe_way": c.safe_way_shown,
                    "severity": c.severity.value,
                    "found_by": c.found_by,
                }
                for c in CODES.values()
            ]
        },
        indent=2,
    )


def markdown_table() -> str:
    """The README's table: one row a code, its example line as code."""
    rows = ["| code | finding | severity | example |", "|---|---|---|---|"]
    rows += [
        f"| {c.code} | {c.title} | {c.severity.value} | {_as_code(c.example)} |"
        for c in CODES.values()
    ]
    return "\n".join(rows)


def readme_block(text: str) -> str:
    """The generated part of a README's text, between the markers (without them)."""
    start, end = _span(text)
    return text[start:end].strip("\n")


def rewrite_readme(readme: Path) -> bool:
    """Put the registry's table into ``readme``; True when the file changed."""
    if not readme.is_file():
        raise TfsyncError(f"no README at {readme}", "name the project's README.md")
    text = readme.read_text(encoding="utf-8")
    start, end = _span(text)
    new = f"{text[:start]}\n{markdown_table()}\n{text[end:]}"
    if new == text:
        return False
    readme.write_text(new, encoding="utf-8")
    return True


def _span(text: str) -> tuple[int, int]:
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise TfsyncError(
            "the README has no generated review-codes table",
            f"put the two lines {BEGIN!r} and {END!r} where the table goes",
        )
    return start + len(BEGIN), end


def _as_code(text: str) -> str:
    """``text`` as inline code, fenced with two backticks when it holds one."""
    return f"``{text}``" if "`" in text else f"`{text}`"
