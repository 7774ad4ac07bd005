"""drop report message

Revision ID: bad000000024
Revises: 0b22f05953e4
Create Date: 2026-12-01 10:00:00+00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "bad000000024"
down_revision = "0b22f05953e4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # review: allow TF410 -- the application stopped reading message in release 41
    op.drop_column("report_jobs", "message")


def downgrade() -> None:
    op.add_column("report_jobs", sa.Column("message", sa.Text(), nullable=True))
