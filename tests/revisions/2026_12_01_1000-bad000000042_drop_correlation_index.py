"""drop correlation index

Revision ID: bad000000042
Revises: 0b22f05953e4
Create Date: 2026-12-01 10:00:00+00:00
"""

from alembic import op

revision = "bad000000042"
down_revision = "0b22f05953e4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_report_jobs_correlation_id", table_name="report_jobs")


def downgrade() -> None:
    op.create_index("ix_report_jobs_correlation_id", "report_jobs", ["correlation_id"])
