"""rename report jobs

Revision ID: bad000000018
Revises: 0b22f05953e4
Create Date: 2026-12-01 10:00:00+00:00
"""

from alembic import op

revision = "bad000000018"
down_revision = "0b22f05953e4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.rename_table("report_jobs", "report_job")


def downgrade() -> None:
    op.rename_table("report_job", "report_jobs")
