"""Pictures of the schema and of the history: ``docs/schema.md`` (Mermaid) and the
terminal graph of ``tfsync status --graph``."""

from terrafusion_sync.pictures.document import (
    DOCS_FILE,
    Document,
    Stale,
    document_path,
    output_path,
    render,
    stale,
    write,
)
from terrafusion_sync.pictures.lineage import History, Revision, read_history
from terrafusion_sync.pictures.terminal import LEGEND, text_graph

__all__ = [
    "DOCS_FILE",
    "LEGEND",
    "Document",
    "History",
    "Revision",
    "Stale",
    "document_path",
    "output_path",
    "read_history",
    "render",
    "stale",
    "text_graph",
    "write",
]
