"""README, Review codes: one registry declares every code, and everything else follows it.

The README's table is the registry's; every code is reported by the module the registry
names, and no other module spells a code; ruff's own codes pass through with the
registry's safe way.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
import shutil
from pathlib import Path

import pytest

from terrafusion_sync import PACKAGE_DIR
from terrafusion_sync.cli import main
from terrafusion_sync.review import codes
from terrafusion_sync.review.codes import CODES, Code
from terrafusion_sync.review.codes_table import (
    BEGIN,
    END,
    markdown_table,
    readme_block,
    rewrite_readme,
)
from terrafusion_sync.review.lint import ruff_findings

README = PACKAGE_DIR.parent / "README.md"
NAMES = {value.code: name for name, value in vars(codes).items() if isinstance(value, Code)}


def test_the_readme_table_is_the_registry() -> None:
    assert readme_block(README.read_text(encoding="utf-8")) == markdown_table(), (
        "the README's review codes differ from review/codes.py: "
        "tfsync review --codes --readme README.md rewrites the table"
    )


def test_a_stale_readme_table_is_rewritten_from_the_registry(tmp_path: Path) -> None:
    readme = Path(shutil.copy(README, tmp_path / "README.md"))
    text = readme.read_text(encoding="utf-8")
    readme.write_text(re.sub(r"^\| TF410 .*\n", "", text, flags=re.MULTILINE), encoding="utf-8")
    assert "| TF410 |" not in readme_block(readme.read_text(encoding="utf-8"))
    assert rewrite_readme(readme) is True
    assert readme.read_text(encoding="utf-8") == text
    assert rewrite_readme(readme) is False


@pytest.mark.parametrize("code", list(CODES.values()), ids=lambda c: c.code)
def test_the_module_the_registry_names_reports_the_code(code: Code) -> None:
    module = importlib.import_module(f"terrafusion_sync.{code.found_by}")
    assert f"codes.{NAMES[code.code]}" in inspect.getsource(module)


@pytest.mark.parametrize("code", [c for c in CODES.values() if c.shown_by], ids=lambda c: c.code)
def test_a_code_no_revision_shows_alone_names_a_test_that_shows_it(code: Code) -> None:
    assert code.shown_by is not None
    path, name = code.shown_by.split("::")
    tree = ast.parse((PACKAGE_DIR.parent / path).read_text(encoding="utf-8"))
    [test] = [
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name
    ]
    shown = ast.get_source_segment((PACKAGE_DIR.parent / path).read_text(encoding="utf-8"), test)
    assert shown is not None
    assert code.code in shown or f"codes.{NAMES[code.code]}" in shown


def test_no_module_but_the_registry_spells_a_code() -> None:
    spelled = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        if path == PACKAGE_DIR / "review" / "codes.py" or "alembic_migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and re.fullmatch(r"TF\d{3}", str(node.value)):
                spelled.append(f"{path.relative_to(PACKAGE_DIR)}:{node.lineno}")
    assert spelled == []


def test_codes_keep_to_their_ranges_and_the_reserved_ones_are_documented() -> None:
    numbered = [int(c.code[2:]) for c in CODES.values() if c.code.startswith("TF")]
    assert numbered == sorted(numbered)
    for reserved in ("TF420-TF429", "TF430-TF439", "TF440-TF449"):
        assert reserved in (codes.__doc__ or "")


def test_ruff_findings_pass_through(tmp_path: Path) -> None:
    revision = tmp_path / "x.py"
    revision.write_text('"""x"""\n\nimport os\n', encoding="utf-8")
    [found] = ruff_findings([revision])
    assert (found.code, found.line) == ("F401", 3)
    assert found.hint == codes.RUFF.safe_way


def test_tfsync_review_codes_lists_the_registry_without_a_database(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    env.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/nothing")  # never connected
    assert main(["review", "--codes"]) == 0
    out = capsys.readouterr().out
    assert "TF410  column dropped  [failure]\n" in out
    assert f"    safe way: {codes.DROP_COLUMN.safe_way}\n" in out
    assert "    safe way: rename it to <date>-<revision>_<slug>.py" in out  # fields shown as <>
    assert main(["review", "--codes", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)["codes"]
    assert [c["code"] for c in listed] == list(CODES)
    assert listed[-1]["severity"] == codes.STALE_PICTURES.severity.value

    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{BEGIN}\n| old |\n{END}\n\nmore\n", encoding="utf-8")
    assert main(["review", "--codes", "--readme", str(readme)]) == 0
    assert readme_block(readme.read_text(encoding="utf-8")) == markdown_table()
    assert readme.read_text(encoding="utf-8").endswith(f"{END}\n\nmore\n")
    assert capsys.readouterr().out.startswith("rewrote the review codes in ")
