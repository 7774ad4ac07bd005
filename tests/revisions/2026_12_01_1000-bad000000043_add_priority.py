"""add priority

Revision ID: bad000000043
Revises: 0b22f05953e4
Create Date: 2026-12-01 10:00:00+00:00
"""

import sqlalchemy as sa
from alembic import op

revison = "bad000000043"
down_revision = "0b22f05953e4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("report_jobs", sa.Column("priority", sa.Integer()))


def downgrade() -> None:
    op.drop_column("report_jobs", "priority")
