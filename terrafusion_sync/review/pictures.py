"""The pictures cannot go stale: ``docs/schema.md`` must be what ``make docs`` writes now.

A global check, like the seals: it runs in every review, the pre-commit hook's included,
whichever files changed. It checks the file that pictures the reviewed versions folder
(:func:`terrafusion_sync.pictures.document_path`: ``docs/schema.md`` for the project's own),
or the one the caller names; another versions folder has none, so nothing is checked.
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

from terrafusion_sync.errors import MigrationError
from terrafusion_sync.pictures import Stale, document_path, render, stale
from terrafusion_sync.review import codes
from terrafusion_sync.review.findings import Finding
from terrafusion_sync.settings import shown_path

__all__ = ["pictures_findings", "stale_finding"]


def pictures_findings(cfg: Config, docs: Path | None = None) -> list[Finding]:
    """TF601 when ``docs`` (default: the file for ``cfg``'s versions folder) differs from
    what ``make docs`` would write for the models and revisions ``cfg`` names."""
    docs = docs or document_path(cfg)
    if docs is None:
        return []
    try:
        document = render(cfg)
    except MigrationError:
        return []  # a revision file Alembic cannot load: the structure checks name it
    found = stale(document, docs)
    return [] if found is None else [stale_finding(found)]


def stale_finding(found: Stale) -> Finding:
    """The finding for a stale (or missing) picture file, at its first differing line."""
    return Finding(
        shown_path(found.path),
        found.line,
        codes.STALE_PICTURES.code,
        found.describe(),
        codes.STALE_PICTURES.hint(),
    )
