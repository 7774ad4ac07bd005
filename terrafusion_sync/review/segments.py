"""The SQL of each revision's upgrade, as Alembic writes it offline, line by line.

:class:`LineTracer` is the buffer ``alembic upgrade --sql`` writes into: it notes, for every
statement, the line of the revision file that emitted it, and cuts the output into one
:class:`Segment` per revision. Every text rule (squawk, TF413, TF415) and the measurement
read segments, so they live here, beneath all of them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from terrafusion_sync.migrations.plumbing import revision_lines
from terrafusion_sync.migrations.sql import alembic_output, statements


@dataclass
class Chunk:
    """One write of Alembic's SQL output, and the revision line that emitted it."""

    text: str
    line: int | None


@dataclass
class Segment:
    """The SQL of one revision's upgrade."""

    revision: str
    chunks: list[Chunk] = field(default_factory=list)


class LineTracer(io.StringIO):
    """A buffer for Alembic's offline output that records which revision line wrote what."""

    def __init__(self, paths: dict[str, str]) -> None:
        super().__init__()
        self.paths = paths  # code filename -> revision id
        self.segments: list[Segment] = []
        self._pending: list[Chunk] = []

    def write(self, text: str) -> int:
        line = self._revision_line()
        chunk = Chunk(text.strip(), line)
        if not chunk.text:
            return super().write(text)
        running = alembic_output.running_revision(chunk.text)
        if running:
            self.segments.append(Segment(running, self._pending))
            self._pending = []
        elif line is None and chunk.text.upper() == "BEGIN;":
            self._pending = [chunk]
        elif self.segments:
            self.segments[-1].chunks.append(chunk)
        return super().write(text)

    def _revision_line(self) -> int | None:
        return revision_lines.on_stack(self.paths).line


def touched_tables(segment: Segment) -> list[str]:
    """The tables a revision acts on that it did not create itself (those that have rows)."""
    created: set[str] = set()
    touched: dict[str, None] = {}
    for chunk in segment.chunks:
        for action in statements.actions(chunk.text):
            if action.kind == statements.CREATE_TABLE:
                created.add(action.table)
            elif action.table not in created:
                touched.setdefault(action.table, None)
            if action.references and action.references not in created:
                touched.setdefault(action.references, None)
    return [t for t in touched if t != "alembic_version"]


def table_of(statement: str) -> str | None:
    """The table a statement acts on (the first, as PostgreSQL's parser reads it)."""
    found = statements.actions(statement)
    return found[0].table if found else None


def created_before(segment: Segment, statement: str) -> set[str]:
    """Tables created in ``segment`` before ``statement``."""
    created: set[str] = set()
    for chunk in segment.chunks:
        if chunk.text == statement:
            break
        created.update(statements.created_tables(chunk.text))
    return created
