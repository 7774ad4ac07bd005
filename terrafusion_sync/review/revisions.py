"""Revision files as the review reads them: parsed, never imported, so a broken file is a
finding rather than a crash."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from terrafusion_sync.settings import shown_path

_ALLOW = re.compile(
    r"#\s*review:\s*allow\s+(?P<codes>[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*)(?P<rest>.*)$"
)


@dataclass(frozen=True)
class Allow:
    """``# review: allow CODE -- reason`` at ``line``; ``reason`` is empty when missing."""

    line: int
    codes: tuple[str, ...]
    reason: str


@dataclass
class RevisionFile:
    """One file of ``versions/``: its ids, message, functions and allow comments."""

    path: Path
    source: str
    tree: ast.Module | None
    revision: str | None = None
    down_revisions: tuple[str, ...] = ()
    revision_line: int = 1
    down_revision_line: int = 1
    message: str = ""
    phase: str | None = None
    """``expand``, ``contract`` or None: its module-level ``phase = "..."`` line."""
    phase_line: int = 1
    depends_on: tuple[str, ...] = ()
    functions: dict[str, ast.FunctionDef] = field(default_factory=dict)
    allows: list[Allow] = field(default_factory=list)

    @property
    def shown(self) -> str:
        """The path as findings print it: relative to the repository when inside it."""
        return shown_path(self.path)

    def line_of(self, name: str) -> int:
        """The ``def`` line of function ``name`` (1 when it is missing)."""
        fn = self.functions.get(name)
        return fn.lineno if fn is not None else 1


def read_revision(path: Path) -> RevisionFile:
    """Parse one revision file (a syntax error leaves ``tree`` as ``None``)."""
    source = path.read_text(encoding="utf-8")
    try:
        tree: ast.Module | None = ast.parse(source, filename=str(path))
    except SyntaxError:
        tree = None
    found = RevisionFile(path=path, source=source, tree=tree, allows=list(_allows(source)))
    if tree is None:
        return found
    doc = (ast.get_docstring(tree) or "").strip().splitlines()
    found.message = doc[0].strip() if doc else ""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            found.functions[node.name] = node
        target, value = _assignment(node)
        if target == "revision" and isinstance(value, ast.Constant):
            found.revision, found.revision_line = str(value.value), node.lineno
        elif target == "down_revision":
            found.down_revisions = _ids(value)
            found.down_revision_line = node.lineno
        elif target == "depends_on":
            found.depends_on = _ids(value)
        elif target == "phase" and isinstance(value, ast.Constant):
            found.phase, found.phase_line = str(value.value), node.lineno
    return found


def read_versions(versions: Path) -> list[RevisionFile]:
    """Every revision file of a versions folder, sorted by file name."""
    return [read_revision(p) for p in sorted(versions.glob("*.py")) if p.name != "__init__.py"]


def changed_only(revisions: list[RevisionFile], files: Iterable[Path]) -> list[RevisionFile]:
    """The revisions among ``files`` (paths as pre-commit passes them)."""
    wanted = {p.resolve() for p in files}
    return [r for r in revisions if r.path.resolve() in wanted]


def _assignment(node: ast.stmt) -> tuple[str | None, ast.expr | None]:
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
        return (target.id if isinstance(target, ast.Name) else None), node.value
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id, node.value
    return None, None


def _ids(value: ast.expr | None) -> tuple[str, ...]:
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return (value.value,)
    if isinstance(value, ast.Tuple | ast.List):
        return tuple(
            str(e.value) for e in value.elts if isinstance(e, ast.Constant) and e.value is not None
        )
    return ()


def _allows(source: str) -> Iterable[Allow]:
    for number, text in enumerate(source.splitlines(), start=1):
        match = _ALLOW.search(text)
        if match is None:
            continue
        codes = tuple(c.strip() for c in match["codes"].split(","))
        rest = match["rest"].strip()
        reason = rest.removeprefix("--").strip() if rest.startswith("--") else ""
        yield Allow(number, codes, reason)
