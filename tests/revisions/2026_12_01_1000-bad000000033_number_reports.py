"""number reports

Revision ID: bad000000033
Revises: 0b22f05953e4
Create Date: 2026-12-01 10:00:00+00:00
"""

from alembic import op

revision = "bad000000033"
down_revision = "0b22f05953e4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE report_jobs ADD COLUMN report_number serial")


def downgrade() -> None:
    op.drop_column("report_jobs", "report_number")
