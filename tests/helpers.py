"""Helpers shared by the test modules (their fixtures live in conftest.py)."""

from __future__ import annotations

import subprocess

import sqlalchemy as sa
from sqlalchemy import MetaData

from terrafusion_sync.core_models import Base

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


def models(extra: str | None = None) -> MetaData:
    """A copy of the models' metadata, with the model change a test revision makes:
    ``owner_email`` (a nullable column) or ``message_index`` (an index)."""
    metadata = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(metadata)
    if extra == "owner_email":
        metadata.tables["property_operational"].append_column(
            sa.Column("owner_email", sa.String(255), nullable=True)
        )
    if extra == "message_index":
        jobs = metadata.tables["report_jobs"]
        sa.Index("ix_report_jobs_message", jobs.c.message)
    return metadata
