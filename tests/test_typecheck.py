"""The review's type check: mypy, strict, as ``pyproject.toml`` configures it."""

from __future__ import annotations

from pathlib import Path

from terrafusion_sync.review import codes
from terrafusion_sync.review.typecheck import mypy_findings, touches_package
from terrafusion_sync.settings import PROJECT_DIR

MODULE = '''"""Parcels."""


def parcel_count() -> int:
    return "none"


def untyped(rows):
    return rows
'''


def test_a_type_error_is_a_finding_at_its_line(tmp_path: Path) -> None:
    module = tmp_path / "parcels.py"
    module.write_text(MODULE)
    found = sorted(mypy_findings([module]), key=lambda f: f.line)
    assert [(f.line, f.code) for f in found] == [(5, "mypy"), (8, "mypy")]
    assert found[0].message == (
        'Incompatible return value type (got "str", expected "int") [return-value]'
    )
    assert found[1].message.endswith("[no-untyped-def]")  # strict, as pyproject.toml says
    assert found[0].hint == codes.TYPE_ERROR.safe_way


def test_a_commit_of_revisions_or_docs_alone_skips_the_type_check() -> None:
    package = PROJECT_DIR / "terrafusion_sync"
    revision = package / "alembic_migrations" / "versions" / "x.py"
    assert not touches_package([revision, PROJECT_DIR / "docs" / "schema.md"])
    assert touches_package([revision, package / "core_models.py"])
