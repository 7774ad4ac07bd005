"""Ruff, lint and format, on the package, the revision files, tests and tooling."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from terrafusion_sync.errors import TfsyncError, first_line
from terrafusion_sync.review import codes
from terrafusion_sync.review.findings import Finding
from terrafusion_sync.settings import PROJECT_DIR, shown_path


def ruff_findings(paths: list[Path] | None = None) -> list[Finding]:
    """Ruff's lint findings and every file ``ruff format`` would change."""
    targets = [str(p) for p in paths] if paths else ["."]
    checked = _ruff("check", "--output-format", "json", "--exit-zero", *targets)
    findings = [
        Finding(
            shown_path(Path(item["filename"])),
            item["location"]["row"],
            item["code"] or "ruff",
            item["message"],
            codes.RUFF.hint() if item.get("fix") else "",
        )
        for item in json.loads(checked.stdout or "[]")
    ]
    for path in unformatted(_ruff("format", "--diff", "--quiet", *targets).stdout):
        findings.append(
            Finding(
                shown_path(path),
                1,
                codes.NOT_FORMATTED.code,
                "file is not formatted",
                codes.NOT_FORMATTED.hint(),
            )
        )
    return findings


def unformatted(diff: str) -> list[Path]:
    """The files a ``ruff format --diff`` would change: the ``---``/``+++``/``@@`` headers of
    its unified diff, which every ruff release prints alike (its ``--check`` wording and
    output formats have changed between releases)."""
    lines = diff.splitlines()
    return [
        Path(line.removeprefix("--- ").strip())
        for line, plus, hunk in zip(lines, lines[1:], lines[2:], strict=False)
        if line.startswith("--- ") and plus.startswith("+++ ") and hunk.startswith("@@")
    ]


def _ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return run_tool("ruff", *args, group="review")


def run_tool(tool: str, *args: str, group: str) -> subprocess.CompletedProcess[str]:
    """``python -m tool args`` in the project (ruff, mypy): its result, whatever it found; a
    one-line error when it cannot run at all (exit code 2 or more, or not installed)."""
    try:
        result = subprocess.run(
            [sys.executable, "-m", tool, *args],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:  # pragma: no cover - the interpreter itself is missing
        raise TfsyncError(f"cannot run {tool}: {exc}", f"install the {group} group") from exc
    if result.returncode >= 2 or f"No module named {tool}" in result.stderr:
        first = first_line(result.stderr or result.stdout) or f"{tool} failed"
        raise TfsyncError(
            f"{tool} could not run: {first}",
            f"run the review through `make review`, which installs {tool}",
        )
    return result
