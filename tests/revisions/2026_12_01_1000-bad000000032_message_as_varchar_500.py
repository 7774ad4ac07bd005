"""message as varchar 500

Revision ID: bad000000032
Revises: 0b22f05953e4
Create Date: 2026-12-01 10:00:00+00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "bad000000032"
down_revision = "0b22f05953e4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("report_jobs", "message", existing_type=sa.Text(), type_=sa.String(500))


def downgrade() -> None:
    op.alter_column("report_jobs", "message", existing_type=sa.String(500), type_=sa.Text())
