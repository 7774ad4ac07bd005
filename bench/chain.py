"""A generated revision chain, a plain Alembic project to run it with (in a temp folder),
and empty databases to run both on.

Never written into the project's ``versions/``: callers pass a temporary directory.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy.engine import URL

from terrafusion_sync.aio import run_blocking
from terrafusion_sync.provision import drop_database, ensure_database

REVISION = '''"""chain step {index:04d}

Revision ID: {rev}
Revises: {down}
"""

import sqlalchemy as sa
from alembic import op

revision = {rev!r}
down_revision = {down_repr}
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chain_{index:04d}",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Numeric(14, 2)),
    )
    op.create_index("ix_chain_{index:04d}_name", "chain_{index:04d}", ["name"])


def downgrade() -> None:
    op.drop_index("ix_chain_{index:04d}_name", table_name="chain_{index:04d}")
    op.drop_table("chain_{index:04d}")
'''


def revision_id(index: int) -> str:
    """Deterministic, Alembic-shaped (12 hex digits) revision ids."""
    return f"c{index:011x}"


def write_chain(versions: Path, length: int = 200) -> list[str]:
    """Write ``length`` linear revisions into ``versions``; return their ids, oldest first."""
    versions.mkdir(parents=True, exist_ok=True)
    ids = [revision_id(i) for i in range(length)]
    for index, rev in enumerate(ids):
        down = ids[index - 1] if index else None
        text = REVISION.format(index=index, rev=rev, down=down or "", down_repr=repr(down))
        (versions / f"2026_01_01_0000-{rev}_chain_step_{index:04d}.py").write_text(text)
    return ids


def plain_alembic_project(directory: Path, url: URL, versions: Path) -> Path:
    """``alembic init -t async`` in ``directory``, pointed at ``url`` and ``versions``.

    This is what a team without this project's tooling runs: Alembic's own async template.
    Returns the path of its ``alembic.ini``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "alembic", "init", "-t", "async", str(directory / "migrations")],
        cwd=directory,
        check=True,
        capture_output=True,
    )
    ini = directory / "alembic.ini"
    text = ini.read_text()
    rendered = url.render_as_string(hide_password=False).replace("%", "%%")
    text = text.replace(
        "sqlalchemy.url = driver://user:pass@localhost/dbname", f"sqlalchemy.url = {rendered}"
    )
    text = text.replace("[alembic]\n", f"[alembic]\nversion_locations = {versions}\n", 1)
    ini.write_text(text)
    return ini


def fresh(url: URL) -> None:
    """Make ``url`` an empty database."""
    run_blocking(drop_database(url))
    run_blocking(ensure_database(url))


ONE_REVISION = '''"""{doc}"""

import sqlalchemy as sa
from alembic import op

revision = {rev!r}
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
    {body}


def downgrade() -> None:
    pass
'''


def write_revision(versions: Path, rev: str, down: str | None, doc: str, body: str) -> Path:
    """One hand-made revision file in ``versions`` whose upgrade is ``body`` (one line or
    more, indented by the caller); its downgrade does nothing."""
    path = versions / f"2099_01_01_0000-{rev}_{doc.replace(' ', '_')}.py"
    path.write_text(ONE_REVISION.format(doc=doc, rev=rev, down=down, body=body))
    return path
