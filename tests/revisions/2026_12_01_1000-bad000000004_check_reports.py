"""check reports

Revision ID: bad000000004
Revises: ffffffffffff
Create Date: 2026-12-01 10:00:00+00:00
"""

from alembic import op

revision = "bad000000004"
down_revision = "ffffffffffff"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SELECT 1")


def downgrade() -> None:
    op.execute("SELECT 1")
