"""mypy, strict on the package, as a check of the review: its errors are findings.

``pyproject.toml`` (``[tool.mypy]``) says what is checked and how strictly; ``make lint``
runs the same mypy on the same configuration, and the review, which CI runs, makes a type
error block a merge the way a ruff finding does. Revision files are left out (frozen
history: ``op.backfill`` is registered at run time, and ruff lints them).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable
from pathlib import Path

from terrafusion_sync import PACKAGE_DIR
from terrafusion_sync.review import codes
from terrafusion_sync.review.findings import Finding
from terrafusion_sync.review.lint import run_tool
from terrafusion_sync.settings import PROJECT_DIR, shown_path

VERSIONS = PACKAGE_DIR / "alembic_migrations" / "versions"


def touches_package(files: Iterable[Path]) -> bool:
    """Whether any of ``files`` (a commit's) is a module of the package mypy checks."""
    paths = [Path(file).resolve() for file in files]
    return any(
        path.suffix == ".py"
        and path.is_relative_to(PACKAGE_DIR.resolve())
        and not path.is_relative_to(VERSIONS.resolve())
        for path in paths
    )


def mypy_findings(paths: Iterable[Path] = ()) -> list[Finding]:
    """One finding per mypy error, on the package (or on ``paths``, with the same settings)."""
    result = _mypy("--output", "json", *(str(p) for p in paths))
    findings = []
    for line in result.stdout.splitlines():
        if not line.startswith("{"):
            continue
        item = json.loads(line)
        if item.get("severity") != "error":
            continue
        code = item.get("code")
        findings.append(
            Finding(
                shown_path(PROJECT_DIR / item["file"]),
                int(item["line"]),
                codes.TYPE_ERROR.code,
                f"{item['message']} [{code}]" if code else item["message"],
                codes.TYPE_ERROR.hint(),
            )
        )
    return findings


def _mypy(*args: str) -> subprocess.CompletedProcess[str]:
    return run_tool("mypy", *args, group="typecheck")
