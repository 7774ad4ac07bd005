"""The shape of the history: one head, known parents, file names, messages, no app imports."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from terrafusion_sync.review import codes
from terrafusion_sync.review.findings import Finding
from terrafusion_sync.review.revisions import RevisionFile
from terrafusion_sync.settings import shown_path

APPLICATION_PACKAGE = "terrafusion_sync"
_FILE_NAME = re.compile(r"^\d{4}_\d{2}_\d{2}_\d{4}-(?P<rev>[0-9a-zA-Z]+)_(?P<slug>\w*)\.py$")
_WORD = re.compile(r"\w+")


def heads(revisions: list[RevisionFile]) -> list[str]:
    """Revisions no other revision names as its parent."""
    parents = {down for rev in revisions for down in rev.down_revisions}
    return sorted(r.revision for r in revisions if r.revision and r.revision not in parents)


def global_findings(revisions: list[RevisionFile], versions: Path) -> list[Finding]:
    """Findings about the whole history: more than one head (the contract branch's head
    aside: contract revisions form a branch of their own, see ``plumbing/phases.py``)."""
    contracts = {r.revision for r in revisions if r.phase == "contract"}
    found = heads(revisions)
    if len([h for h in found if h not in contracts]) <= 1 and len(found) <= 2:
        return []
    return [
        Finding(
            shown_path(versions),
            1,
            codes.MULTIPLE_HEADS.code,
            f"{len(found)} heads: {', '.join(found)}",
            codes.MULTIPLE_HEADS.hint(),
        )
    ]


def revision_findings(
    rev: RevisionFile, known: set[str], truncate_slug_length: int = 40
) -> list[Finding]:
    """Findings about one revision file."""
    if rev.tree is None or rev.revision is None:
        return [
            Finding(
                rev.shown,
                1,
                codes.UNREADABLE.code,
                "not a revision Alembic can read (syntax error or no `revision = ...`)",
                codes.UNREADABLE.hint(),
            )
        ]
    findings = [
        Finding(
            rev.shown,
            rev.down_revision_line,
            codes.UNKNOWN_DOWN_REVISION.code,
            f"down_revision {down!r} names no revision in versions/",
            codes.UNKNOWN_DOWN_REVISION.hint(),
        )
        for down in rev.down_revisions
        if down not in known
    ]
    findings += _name_and_message(rev, truncate_slug_length)
    findings += _application_imports(rev)
    return findings


def expected_slug(message: str, truncate_slug_length: int = 40) -> str:
    """The slug Alembic writes into the file name for ``message``."""
    slug = "_".join(_WORD.findall(message)).lower()
    if len(slug) > truncate_slug_length:
        slug = slug[:truncate_slug_length].rsplit("_", 1)[0] + "_"
    return slug


def _name_and_message(rev: RevisionFile, truncate_slug_length: int) -> list[Finding]:
    if not rev.message:
        return [
            Finding(
                rev.shown,
                1,
                codes.REVISION_MESSAGE.code,
                "the revision has no message (its docstring's first line is empty)",
                codes.REVISION_MESSAGE.hint(),
            )
        ]
    slug = expected_slug(rev.message, truncate_slug_length)
    match = _FILE_NAME.match(rev.path.name)
    if match is None or match["rev"] != rev.revision:
        return [
            Finding(
                rev.shown,
                1,
                codes.FILE_NAME.code,
                f"file name {rev.path.name!r} does not follow YYYY_MM_DD_HHMM-<rev>_<slug>.py",
                codes.FILE_NAME.hint(revision=str(rev.revision), slug=slug),
            )
        ]
    if match["slug"] != slug:
        return [
            Finding(
                rev.shown,
                1,
                codes.REVISION_MESSAGE.code,
                f"file name says {match['slug']!r} but the message {rev.message!r} gives {slug!r}",
                codes.REVISION_MESSAGE.hint("disagree"),
            )
        ]
    return []


def _application_imports(rev: RevisionFile) -> list[Finding]:
    assert rev.tree is not None
    findings = []
    for node in ast.walk(rev.tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif node.module and node.level == 0:
            names = [node.module]
        for name in names:
            if name == APPLICATION_PACKAGE or name.startswith(APPLICATION_PACKAGE + "."):
                findings.append(
                    Finding(
                        rev.shown,
                        node.lineno,
                        codes.IMPORTS_APPLICATION.code,
                        f"imports {name}: a revision must not depend on today's application code",
                        codes.IMPORTS_APPLICATION.hint(),
                    )
                )
    return findings
