"""Helpers shared by the test modules (their fixtures live in conftest.py)."""

from __future__ import annotations

import subprocess

SECRET = "s3cret-Pa55"
"""The password tests put in URLs; no output may ever show it."""
HANG_GUARD = 120
"""Seconds: a broken build fails here instead of hanging; not a speed check."""


def assert_one_line_error(err: str, *expected: str) -> None:
    """``tfsync: error: ...`` on one line, no traceback, no password, saying ``expected``."""
    assert err.startswith("tfsync: error: "), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    assert SECRET not in err
    for piece in expected:
        assert piece in err, (piece, err)


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    """Wait for ``process``; its exit code, stdout and stderr."""
    out, err = process.communicate(timeout=HANG_GUARD)
    return process.returncode, out, err
