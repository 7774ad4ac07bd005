"""widen correlation id

Revision ID: bad000000028
Revises: 0b22f05953e4
Create Date: 2026-12-01 10:00:00+00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "bad000000028"
down_revision = "0b22f05953e4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column(
        "report_jobs", "correlation_id", existing_type=sa.String(64), type_=sa.String(100)
    )


def downgrade() -> None:
    op.alter_column(
        "report_jobs", "correlation_id", existing_type=sa.String(100), type_=sa.String(64)
    )
