"""merge heads

Revision ID: good00000104
Revises: bad000000008, good00000103
Create Date: 2026-12-01 10:00:00+00:00
"""

revision = "good00000104"
down_revision = ("bad000000008", "good00000103")
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to do: this joins two branches."""


def downgrade() -> None:
    """Nothing to undo."""
