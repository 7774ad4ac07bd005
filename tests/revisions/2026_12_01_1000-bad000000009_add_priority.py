"""add priority

Revision ID: bad000000009
Revises: 0b22f05953e4
Create Date: 2026-12-01 10:00:00+00:00
"""

from alembic import op

revision = "bad000000009"
down_revision = "0b22f05953e4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE report_job ADD COLUMN priority integer")


def downgrade() -> None:
    op.execute("ALTER TABLE report_job DROP COLUMN priority")
