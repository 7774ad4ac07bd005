"""The package's own shape, as the developers' guide asks it: short functions and classes
(unless they say why), no import circle, public names that keep their types through the lazy
exports, and no ``type: ignore`` that does not say why."""

from __future__ import annotations

import ast
import graphlib
import importlib
import importlib.util
import re
from pathlib import Path

import pytest

from terrafusion_sync import PACKAGE_DIR

FUNCTION_LINES = 50
CLASS_LINES = 120
REASON = "# long:"
"""A comment on a long function's or class's ``def``/``class`` line(s), or just above, that
says why it stays long: ``# long: one table of every option, read top to bottom``."""
FROZEN = PACKAGE_DIR / "alembic_migrations" / "versions"  # revision files: history, not code


def _too_long(path: Path, root: Path = PACKAGE_DIR.parent) -> list[str]:
    """``file:line name`` of each function or class in ``path`` too long without a reason."""
    lines = path.read_text().splitlines()
    found = []
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, ast.ClassDef):
            limit = CLASS_LINES
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            limit = FUNCTION_LINES
        else:
            continue
        length = (node.end_lineno or node.lineno) - node.lineno + 1
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        heading = lines[max(first - 2, 0) : node.body[0].lineno - 1]  # the line above, the def
        if length > limit and not any(REASON in line for line in heading):
            found.append(f"{path.relative_to(root)}:{node.lineno} {node.name}")
    return found


def _modules(package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """The package's Python files, in order, its frozen revision files aside."""
    return sorted(p for p in package_dir.rglob("*.py") if not p.is_relative_to(FROZEN))


def test_no_function_or_class_is_long_without_saying_why() -> None:
    too_long = [where for path in _modules() for where in _too_long(path)]
    assert too_long == [], (
        f"over {FUNCTION_LINES} lines (functions) or {CLASS_LINES} (classes): split them, "
        f"or say why with '{REASON} ...' on the def line"
    )


def test_the_length_check_sees_a_long_function_and_its_reason(tmp_path: Path) -> None:
    body = "\n".join(f"    x = {i}" for i in range(FUNCTION_LINES))
    plain = tmp_path / "plain.py"
    plain.write_text(f"def f() -> None:\n{body}\n")
    excused = tmp_path / "excused.py"
    excused.write_text(f"def f() -> None:  {REASON} a table read top to bottom\n{body}\n")
    assert _too_long(plain, tmp_path) == ["plain.py:1 f"]
    assert _too_long(excused, tmp_path) == []


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str, modules: set[str]) -> set[str]:
    """The package's modules that ``path`` imports, anywhere in it (a function's lazy import
    and a ``TYPE_CHECKING`` one count too: both still tie the two modules together)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            relative = "." * node.level + (node.module or "")
            base = importlib.util.resolve_name(relative, package) if node.level else relative
            targets = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target not in modules and "." in target:  # a name of a module: its module
                target = target.rpartition(".")[0]
            if target in modules and target != name:
                found.add(target)
    return found


def _import_circle(root: Path, package: str) -> list[str] | None:
    """One circle of imports among the modules of ``root/package``, if there is one."""
    paths = {_module_name(p, root): p for p in _modules(root / package)}
    graph = {name: _imports(path, name, set(paths)) for name, path in paths.items()}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as circle:
        return list(circle.args[1])
    return None


def test_no_module_of_the_package_imports_one_that_imports_it_back() -> None:
    assert _import_circle(PACKAGE_DIR.parent, "terrafusion_sync") is None


def test_the_circle_check_sees_a_circle_through_a_type_checking_import(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "walk.py").write_text("from pkg.calls import Call\n")
    (package / "calls.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import walk\n"
    )
    assert sorted(set(_import_circle(tmp_path, "pkg") or [])) == ["pkg.calls", "pkg.walk"]
    (package / "calls.py").write_text("")
    assert _import_circle(tmp_path, "pkg") is None


_IGNORE = re.compile(r"#\s*type:\s*ignore(\[[^\]]*\])?(?P<after>.*)$")


def _unexplained_ignores(path: Path, root: Path = PACKAGE_DIR.parent) -> list[str]:
    """``file:line`` of each ``type: ignore`` with no reason: a comment after it on its
    line, or a comment on the line above."""
    lines = path.read_text().splitlines()
    found = []
    for number, line in enumerate(lines, start=1):
        ignore = _IGNORE.search(line)
        if ignore is None:
            continue
        after = ignore["after"].strip().lstrip("#").strip()
        above = lines[number - 2] if number > 1 else ""
        if not after and "#" not in above:
            found.append(f"{path.relative_to(root)}:{number}")
    return found


def test_every_type_ignore_says_why() -> None:
    unexplained = [where for path in _modules() for where in _unexplained_ignores(path)]
    assert unexplained == [], "say why after it ('# type: ignore[code]  # why') or just above"


def test_the_ignore_check_sees_a_bare_ignore_and_a_reason(tmp_path: Path) -> None:
    bare = tmp_path / "bare.py"
    bare.write_text("x: int = f()  # type: ignore[no-any-return]\n")
    after = tmp_path / "after.py"
    after.write_text("x: int = f()  # type: ignore[no-any-return]  # f is untyped\n")
    above = tmp_path / "above.py"
    above.write_text("# f is untyped\nx: int = f()  # type: ignore[no-any-return]\n")
    assert _unexplained_ignores(bare, tmp_path) == ["bare.py:1"]
    assert _unexplained_ignores(after, tmp_path) == []
    assert _unexplained_ignores(above, tmp_path) == []


def _type_checking_imports(package: str) -> dict[str, str]:
    """``{exported name: defining module}`` from the package's ``if TYPE_CHECKING:`` block."""
    tree = ast.parse((PACKAGE_DIR / package / "__init__.py").read_text())
    block = next(
        n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"
    )
    return {
        alias.asname or alias.name: node.module or ""
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


@pytest.mark.parametrize("package", ["migrations", "review"])
def test_lazy_exports_are_the_names_type_checkers_see(package: str) -> None:
    module = importlib.import_module(f"terrafusion_sync.{package}")
    exports: dict[str, str] = module._EXPORTS
    typed = _type_checking_imports(package)
    assert module.__all__ == sorted(exports)
    assert {name: f"terrafusion_sync.{package}.{m}" for name, m in exports.items()} == typed
    for name, defined_in in typed.items():
        source = importlib.import_module(defined_in)
        original = module._RENAMED.get(name, name) if hasattr(module, "_RENAMED") else name
        assert getattr(module, name) is getattr(source, original), name
