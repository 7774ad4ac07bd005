"""squawk on each revision's offline SQL, its findings mapped to our codes and lines.

squawk (squawk-cli) reads PostgreSQL's SQL and knows which statements lock or rewrite a
live table. Each revision's segment goes to it as one file; what it reports is mapped back
to the revision line that emitted the statement and given a stable code of the registry
(:mod:`.codes`): its title and why make the message, its safe way the hint. A table the
revision created earlier has no readers yet, so nothing on it is reported.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from terrafusion_sync.errors import TfsyncError, first_line
from terrafusion_sync.review import codes
from terrafusion_sync.review.findings import Finding
from terrafusion_sync.review.revisions import RevisionFile
from terrafusion_sync.review.segments import Segment, created_before, table_of

RULES: dict[str, codes.Code] = {
    "adding-required-field": codes.NOT_NULL_WITHOUT_DEFAULT,
    "adding-not-nullable-field": codes.SET_NOT_NULL,
    "require-concurrent-index-creation": codes.INDEX_NOT_CONCURRENT,
    "ban-concurrent-index-creation-in-transaction": codes.CONCURRENT_IN_TRANSACTION,
    "adding-foreign-key-constraint": codes.FOREIGN_KEY_VALIDATED,
    "constraint-missing-not-valid": codes.CHECK_VALIDATED,
    "changing-column-type": codes.TYPE_CHANGE,
    "renaming-column": codes.RENAME_COLUMN,
    "renaming-table": codes.RENAME_TABLE,
    "ban-drop-column": codes.DROP_COLUMN,
    "ban-drop-table": codes.DROP_TABLE,
    "adding-field-with-default": codes.VOLATILE_DEFAULT,
}
"""squawk's rule -> our code; any other rule it reports is TF419 in squawk's own words."""
# Style and settings rules that say nothing about locking a live table.
EXCLUDED_RULES = (
    "prefer-bigint-over-int",
    "prefer-bigint-over-smallint",
    "prefer-identity",
    "prefer-text-field",
    "prefer-timestamp-tz",
    "prefer-robust-stmts",
    "require-lock-timeout",
    "require-statement-timeout",
    "require-timeout-settings",
    "ban-char-field",
    "transaction-nesting",
    "ban-uncommitted-transaction",
)
PG_VERSION = "15"


@dataclass(frozen=True)
class _File:
    """One segment as squawk reads it: per line of the file, the revision line and statement."""

    segment: Segment
    lines: list[int | None]
    texts: list[str]


def squawk_findings(segments: list[Segment], by_id: dict[str, RevisionFile]) -> list[Finding]:
    """What squawk reports on ``segments``, at the revision lines that emitted it."""
    if not segments:
        return []
    with tempfile.TemporaryDirectory(prefix="tfsync-squawk-") as tmp:
        layout = _write(Path(tmp), segments)
        reported = _run(Path(tmp), sorted(layout))
    findings: list[Finding] = []
    seen: set[tuple[str, int, str]] = set()
    for item in reported:
        found = _finding(item, layout[Path(item["file"]).name], by_id)
        if found is None or (found.path, found.line, found.code) in seen:
            continue
        seen.add((found.path, found.line, found.code))
        findings.append(found)
    return findings


def _write(folder: Path, segments: list[Segment]) -> dict[str, _File]:
    layout: dict[str, _File] = {}
    for index, segment in enumerate(segments):
        name = f"{index:05d}_{segment.revision}.sql"
        lines: list[int | None] = []
        texts: list[str] = []
        for chunk in segment.chunks:
            body = chunk.text.splitlines()
            lines += [chunk.line] * len(body)
            texts += [chunk.text] * len(body)
        (folder / name).write_text("\n".join(c.text for c in segment.chunks) + "\n")
        layout[name] = _File(segment, lines, texts)
    return layout


def _run(folder: Path, names: list[str]) -> list[dict[str, Any]]:
    done = subprocess.run(
        [
            squawk_binary(),
            *("--reporter", "json", "--pg-version", PG_VERSION),
            *("--exclude", ",".join(EXCLUDED_RULES), *names),
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        reported: list[dict[str, Any]] = json.loads(done.stdout or "[]")
    except json.JSONDecodeError as exc:
        first = first_line(done.stderr) or "no output"
        raise TfsyncError(
            f"squawk could not check the SQL: {first}",
            "run the review through `make review`, which installs squawk-cli",
        ) from exc
    return reported


def _finding(item: dict[str, Any], file: _File, by_id: dict[str, RevisionFile]) -> Finding | None:
    """squawk's report ``item`` as a finding, or None when it is not about the revision's own
    SQL, is about a table it created, or is a foreign key reported as such."""
    at = item["line"]
    line = file.lines[at] if at < len(file.lines) else None
    if line is None:
        return None
    statement = file.texts[at]
    table = table_of(statement)
    if table is not None and table in created_before(file.segment, statement):
        return None  # a table this revision created has no readers yet
    code = RULES.get(item["rule_name"])
    if code is codes.CHECK_VALIDATED and "FOREIGN KEY" in statement.upper():
        return None  # reported as a foreign key
    on = f" on {table}" if table else ""
    rev = by_id[file.segment.revision]
    if code is None:  # a rule we have no code of our own for: squawk's words
        what, why = f"squawk {item['rule_name']}", item["message"].rstrip(".")
        code, safe = codes.OTHER_LOCK, item.get("help") or ""
    else:
        what, why, safe = code.title, code.why, code.hint()
    return Finding(rev.shown, line, code.code, f"{what}{on}: {why}", safe)


def squawk_binary() -> str:
    """The squawk executable from squawk-cli, beside this interpreter or on PATH."""
    beside = Path(sys.executable).parent / "squawk"
    if beside.is_file():
        return str(beside)
    found = shutil.which("squawk")
    if found is None:
        raise TfsyncError(
            "squawk is not installed", "run the review through `make review`, which installs it"
        )
    return found
