"""``docs/schema.md``: both pictures in one Markdown file, written by ``tfsync docs``.

The file describes the project's own models and revision files. Which file belongs to a
versions folder: ``docs/schema.md`` of the repository for the project's ``versions/``; any
other folder (``TFSYNC_VERSIONS_DIR``, a test's copy) has none unless one is named.
The text depends only on the models and the revision files, never on the time or the
machine, so the same inputs give the same bytes and the review can compare them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic.config import Config
from sqlalchemy import MetaData

from terrafusion_sync import VERSIONS_DIR
from terrafusion_sync.errors import ConfigError
from terrafusion_sync.migrations.plumbing import environment
from terrafusion_sync.migrations.plumbing.config import versions_dir
from terrafusion_sync.pictures.lineage import History, read_history
from terrafusion_sync.pictures.mermaid import er_diagram, revision_flowchart
from terrafusion_sync.settings import PROJECT_DIR

__all__ = [
    "DOCS_FILE",
    "Document",
    "Stale",
    "document_path",
    "output_path",
    "render",
    "stale",
    "write",
]

DOCS_FILE = PROJECT_DIR / "docs" / "schema.md"
"""The pictures of the project's own models and revisions."""

HEADER = """\
# Schema and revision history

<!-- Written by `make docs` (tfsync docs) from terrafusion_sync/core_models.py and the
revision files: do not edit by hand. The review (TF601) reports it when it is out of date. -->

Generated from the models (`terrafusion_sync/core_models.py`) and the revision files
(`terrafusion_sync/alembic_migrations/versions/`). Refresh it with `make docs`; `make review`
says when it is out of date. In a terminal, `make status ARGS=--graph` draws the history
with the database's current and pending revisions marked.
"""


@dataclass(frozen=True)
class Document:
    """The Markdown text and its two parts, by what they show."""

    text: str
    parts: dict[str, str]
    tables: int
    revisions: int


@dataclass(frozen=True)
class Stale:
    """How a written file differs from what would be written now."""

    path: Path
    line: int
    parts: tuple[str, ...]  # what differs: "the ER diagram", "the revision graph", ...
    missing: bool = False

    def describe(self) -> str:
        """One sentence for a finding or ``tfsync docs --check``."""
        if self.missing:
            return f"{self.path.name} is missing: the pictures of the schema are not written"
        verb = "differs" if len(self.parts) == 1 else "differ"
        return (
            f"{self.path.name} is out of date: {' and '.join(self.parts)} {verb} from what "
            "make docs writes now"
        )


def document_path(cfg: Config) -> Path | None:
    """The file that pictures the chain ``cfg`` names: ``docs/schema.md`` for the
    project's own versions folder, else None (another folder has no picture of its own)."""
    return DOCS_FILE if versions_dir(cfg).resolve() == VERSIONS_DIR.resolve() else None


def output_path(cfg: Config, output: str | None) -> Path:
    """Where ``tfsync docs`` writes: ``output`` when given, else :func:`document_path`."""
    if output:
        return Path(output)
    path = document_path(cfg)
    if path is None:
        raise ConfigError(
            f"{versions_dir(cfg)} is not the project's versions folder, so docs/schema.md "
            "does not picture it",
            "name a file with --output PATH, or print it with --output -",
        )
    return path


def render(cfg: Config, metadata: MetaData | None = None) -> Document:
    """The document for the models (``metadata``, by default the ones ``cfg`` carries for
    tests, else the project's) and the revision files ``cfg`` names."""
    if metadata is None:
        metadata = cfg.attributes.get("target_metadata")
    if metadata is None:
        from terrafusion_sync.core_models import Base

        metadata = Base.metadata
    history = read_history(cfg)
    parts = {
        "the ER diagram": _tables_section(metadata),
        "the views, functions and triggers": _objects_section(_objects(cfg)),
        "the revision graph": _history_section(history),
    }
    text = HEADER + "".join(f"\n{part}" for part in parts.values())
    return Document(text, parts, len(metadata.tables), len(history.revisions))


def write(document: Document, path: Path) -> bool:
    """Write ``document`` to ``path`` unless it already holds it; True when written."""
    if path.is_file() and path.read_bytes() == document.text.encode("utf-8"):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(document.text.encode("utf-8"))
    return True


def stale(document: Document, path: Path) -> Stale | None:
    """None when ``path`` holds exactly ``document``; else what differs and the first line
    that does."""
    if not path.is_file():
        return Stale(path, 1, tuple(document.parts), missing=True)
    written = path.read_text(encoding="utf-8")
    if written == document.text:
        return None
    old, new = written.splitlines(), document.text.splitlines()
    line = next((i for i, (a, b) in enumerate(zip(old, new, strict=False), 1) if a != b), None)
    line = line or min(len(old), len(new)) + 1
    differing = tuple(name for name, part in document.parts.items() if part not in written)
    return Stale(path, line, differing or ("the text around the diagrams",))


def _tables_section(metadata: MetaData) -> str:
    foreign_keys = sum(len(t.foreign_key_constraints) for t in metadata.tables.values())
    return (
        "## Tables\n\n"
        f"{_count(len(metadata.tables), 'table')}, {_count(foreign_keys, 'foreign key')}.\n"
        "PK primary key, FK foreign key, UK unique (alone, or with the columns the comment\n"
        "names); a space in a type is written `_` (`timestamp_with_time_zone`).\n\n"
        f"```mermaid\n{er_diagram(metadata)}```\n"
    )


def _objects(cfg: Config) -> list[Any]:
    """The entities ``cfg`` carries for tests, else those of ``db_objects.py``."""
    handed_in = cfg.attributes.get(environment.ENTITIES)
    if handed_in is not None:
        return list(handed_in)
    from terrafusion_sync.db_objects import ENTITIES

    return list(ENTITIES)


def _objects_section(objects: list[Any]) -> str:
    """A row per view, function and trigger of ``db_objects.py``, then each view's SQL."""
    entities = sorted(objects, key=lambda e: (e.type_, e.schema, e.signature))
    rows = [
        f"| {e.type_} | {_code(f'{e.schema}.{e.signature}')} | "
        f"{_code(getattr(e, 'on_entity', '') or '')} |"
        for e in entities
    ]
    views = [
        f"`{e.schema}.{e.signature}`:\n\n```sql\n{e.definition.strip()}\n```\n"
        for e in entities
        if e.type_ in ("view", "materialized_view")
    ]
    return (
        "## Views, functions and triggers\n\n"
        f"{_count(len(entities), 'entity')} of `terrafusion_sync/db_objects.py` (enum types\n"
        "show as column types above, with their values).\n\n"
        "| kind | name | on |\n|---|---|---|\n"
        + "".join(row + "\n" for row in rows)
        + "".join(f"\n{view}" for view in views)
    )


def _history_section(history: History) -> str:
    rows = [
        f"| `{r.id}` | {', '.join(f'`{p}`' for p in r.parents) or 'base'} | "
        f"{_cell(r.message)} | {_code(r.file)} |"
        for r in history.revisions
    ]
    heads = ", ".join(f"`{h}`" for h in history.heads) or "none"
    return (
        "## Revision history\n\n"
        f"{_count(len(history.revisions), 'revision')}, oldest at the top; head: {heads}.\n"
        "An arrow leads from a revision to the one built on it; a hexagon merges branches.\n\n"
        f"```mermaid\n{revision_flowchart(history)}```\n\n"
        "| revision | revises | message | file |\n|---|---|---|---|\n"
        + "".join(row + "\n" for row in rows)
    )


def _count(n: int, noun: str) -> str:
    if noun.endswith("y") and n != 1:
        return f"{n} {noun[:-1]}ies"
    return f"{n} {noun}{'s' * (n != 1)}"


def _code(text: str) -> str:
    """``text`` as inline code, or escaped when it holds a backtick."""
    return f"`{text}`" if text and "`" not in text else _cell(text)


def _cell(text: str) -> str:
    """``text`` in a Markdown table cell: characters Markdown would read are escaped."""
    return "".join("\\" + ch if ch in "\\`*_[]<>|#" else ch for ch in text)
