"""backfill priority

Revision ID: bad000000026
Revises: 0b22f05953e4
Create Date: 2026-12-01 10:00:00+00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "bad000000026"
down_revision = "0b22f05953e4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pending = op.get_bind().execute(sa.text("SELECT count(*) FROM report_jobs")).scalar()
    if pending:
        op.execute("UPDATE report_jobs SET status = 'PENDING' WHERE status = ''")


def downgrade() -> None:
    op.execute("SELECT 1")
