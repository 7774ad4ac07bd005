"""status not empty

Revision ID: bad000000015
Revises: 0b22f05953e4
Create Date: 2026-12-01 10:00:00+00:00
"""

from alembic import op

revision = "bad000000015"
down_revision = "0b22f05953e4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_check_constraint("ck_report_jobs_status_not_empty", "report_jobs", "status <> ''")


def downgrade() -> None:
    op.drop_constraint("ck_report_jobs_status_not_empty", "report_jobs", type_="check")
