"""add report number sequence

Revision ID: bad000000008
Revises: 0b22f05953e4
Create Date: 2026-12-01 10:00:00+00:00
"""

from alembic import op

revision = "bad000000008"
down_revision = "0b22f05953e4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE SEQUENCE IF NOT EXISTS report_number_seq")


def downgrade() -> None:
    op.execute("SELECT 1")
