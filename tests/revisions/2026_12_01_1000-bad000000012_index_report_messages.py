"""index report messages

Revision ID: bad000000012
Revises: 0b22f05953e4
Create Date: 2026-12-01 10:00:00+00:00
"""

from alembic import op

revision = "bad000000012"
down_revision = "0b22f05953e4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_report_jobs_message", "report_jobs", ["message"])


def downgrade() -> None:
    op.drop_index("ix_report_jobs_message", table_name="report_jobs")
