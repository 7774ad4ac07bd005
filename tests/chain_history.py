"""A small hand-written history in a git repository of its own, for the squash and rebase
tests: an enum, a sequence, a table with a comment, reference rows, a trigger function, a
view and a backfill, then one revision after the squash point."""

from __future__ import annotations

import subprocess
from pathlib import Path

from helpers import add_revision

ENUM_TABLE = "r1000000000a"
REFERENCE_ROWS = "r1000000000b"
VIEW_AND_BACKFILL = "r1000000000c"
AFTER = "r1000000000d"


def git(repo: Path, *args: str) -> str:
    """``git args`` in ``repo`` (a committer of its own), its output; failures raise."""
    return subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def repository(root: Path) -> Path:
    """An empty git repository with a ``versions/`` folder; returns the folder."""
    versions = root / "versions"
    versions.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    return versions


def commit(versions: Path, message: str) -> None:
    """Commit everything in the repository of ``versions``."""
    git(versions.parent, "add", "-A")
    git(versions.parent, "commit", "-q", "-m", message)


def write_history(versions: Path) -> None:
    """The four revisions of this module, committed."""
    add_revision(
        versions,
        ENUM_TABLE,
        None,
        """
op.execute("CREATE TYPE parcel_status AS ENUM ('active', 'retired')")
op.execute("CREATE SEQUENCE parcel_numbers START 1000")
op.create_table(
    "parcels",
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("status", sa.Enum(name="parcel_status", create_type=False),
              nullable=False, server_default="active"),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
    comment="every parcel of the county",
)
op.create_index("ix_parcels_code", "parcels", ["code"], unique=True)
""",
        """
op.drop_table("parcels")
op.execute("DROP SEQUENCE parcel_numbers")
op.execute("DROP TYPE parcel_status")
""",
        doc="parcels with a status",
    )
    add_revision(
        versions,
        REFERENCE_ROWS,
        ENUM_TABLE,
        """
op.create_table(
    "land_use_codes",
    sa.Column("code", sa.String(8), primary_key=True),
    sa.Column("label", sa.Text, nullable=False),
)
op.execute("INSERT INTO land_use_codes VALUES ('RES', 'Residential: one family'), "
           "('AGR', 'Agricultural')")
op.execute(
    "CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$"
)
op.execute(
    "CREATE TRIGGER parcels_touch BEFORE UPDATE ON parcels "
    "FOR EACH ROW EXECUTE FUNCTION touch_updated_at()"
)
""",
        """
op.execute("DROP TRIGGER parcels_touch ON parcels")
op.execute("DROP FUNCTION touch_updated_at()")
op.drop_table("land_use_codes")
""",
        doc="land use codes",
    )
    add_revision(
        versions,
        VIEW_AND_BACKFILL,
        REFERENCE_ROWS,
        """
op.execute("CREATE VIEW active_parcels AS SELECT id, code FROM parcels WHERE status = 'active'")
op.backfill("parcels", set="code = upper(code)", where="code <> upper(code)")
""",
        'op.execute("DROP VIEW active_parcels")',
        doc="active parcels",
    )
    add_revision(
        versions,
        AFTER,
        VIEW_AND_BACKFILL,
        'op.add_column("parcels", sa.Column("note", sa.Text))',
        'op.drop_column("parcels", "note")',
        doc="parcel notes",
    )
    commit(versions, "four revisions")
