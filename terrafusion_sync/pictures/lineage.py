"""The revision history as a graph: read from Alembic's ScriptDirectory, oldest first."""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from alembic.config import Config
from alembic.util import to_tuple

from terrafusion_sync.migrations.plumbing.alembic_errors import alembic_errors
from terrafusion_sync.migrations.plumbing.config import script_directory

__all__ = ["History", "Revision", "read_history"]


@dataclass(frozen=True)
class Revision:
    """One revision: its id, message (the docstring's first line), parents and file."""

    id: str
    message: str
    parents: tuple[str, ...]
    depends_on: tuple[str, ...] = ()
    branch_labels: tuple[str, ...] = ()
    file: str = ""


@dataclass(frozen=True)
class History:
    """Every revision, parents before children (ties: by file name, which starts with the
    date), so the same files always give the same order."""

    revisions: tuple[Revision, ...]

    def children(self, rev: str) -> tuple[str, ...]:
        """The revisions whose parent is ``rev``, in history order."""
        return self._children.get(rev, ())

    def get(self, rev: str) -> Revision:
        """The revision ``rev``."""
        return self._by_id[rev]

    @cached_property
    def _children(self) -> dict[str, tuple[str, ...]]:
        found: dict[str, list[str]] = {}
        for r in self.revisions:
            for parent in r.parents:
                found.setdefault(parent, []).append(r.id)
        return {parent: tuple(kids) for parent, kids in found.items()}

    @cached_property
    def _by_id(self) -> dict[str, Revision]:
        return {r.id: r for r in self.revisions}

    @property
    def heads(self) -> tuple[str, ...]:
        """Revisions nothing builds on."""
        return tuple(r.id for r in self.revisions if not self.children(r.id))

    def is_merge(self, rev: Revision) -> bool:
        """True when ``rev`` joins several parents."""
        return len(rev.parents) > 1

    def is_branch_point(self, rev: Revision) -> bool:
        """True when several revisions build on ``rev``."""
        return len(self.children(rev.id)) > 1

    def ancestors(self, revs: tuple[str, ...]) -> set[str]:
        """``revs`` and every revision they build on."""
        seen: set[str] = set()
        todo = [r for r in revs if r in self._by_id]
        while todo:
            rev = todo.pop()
            if rev not in seen:
                seen.add(rev)
                todo.extend(self._by_id[rev].parents)
        return seen


def read_history(cfg: Config) -> History:
    """The revisions of the chain ``cfg`` names (loading each file, as Alembic does)."""
    scripts = script_directory(cfg)
    with alembic_errors():
        found = list(scripts.walk_revisions())
        # depends_on may name a branch label or a short id: the revision it resolves to
        needs = {
            s.revision: sorted(
                scripts.get_revision(d).revision for d in to_tuple(s.dependencies, default=())
            )
            for s in found
        }
    revisions = {
        s.revision: Revision(
            id=s.revision,
            message=(s.doc.strip().splitlines() or [""])[0].strip(),
            parents=tuple(to_tuple(s.down_revision, default=())),
            depends_on=tuple(needs[s.revision]),
            branch_labels=tuple(sorted(s.branch_labels)),
            file=Path(s.path).name if s.path else "",
        )
        for s in found
    }
    return History(_parents_first(revisions))


def _parents_first(revisions: dict[str, Revision]) -> tuple[Revision, ...]:
    """Kahn's topological sort, taking the earliest file name first among the ready ones."""
    waiting = {rid: {p for p in r.parents if p in revisions} for rid, r in revisions.items()}
    ready = [(r.file, rid) for rid, r in revisions.items() if not waiting[rid]]
    heapq.heapify(ready)
    ordered: list[Revision] = []
    while ready:
        _, rid = heapq.heappop(ready)
        ordered.append(revisions[rid])
        for child, parents in waiting.items():
            if rid in parents:
                parents.discard(rid)
                if not parents:
                    heapq.heappush(ready, (revisions[child].file, child))
    return tuple(ordered)
