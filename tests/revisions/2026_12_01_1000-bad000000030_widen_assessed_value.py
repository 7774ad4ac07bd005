"""widen assessed value

Revision ID: bad000000030
Revises: 0b22f05953e4
Create Date: 2026-12-01 10:00:00+00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "bad000000030"
down_revision = "0b22f05953e4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column(
        "property_operational",
        "assessed_value",
        existing_type=sa.Numeric(14, 2),
        type_=sa.Numeric(16, 2),
    )


def downgrade() -> None:
    op.alter_column(
        "property_operational",
        "assessed_value",
        existing_type=sa.Numeric(16, 2),
        type_=sa.Numeric(14, 2),
    )
