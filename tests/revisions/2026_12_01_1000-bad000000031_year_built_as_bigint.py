"""year built as bigint

Revision ID: bad000000031
Revises: 0b22f05953e4
Create Date: 2026-12-01 10:00:00+00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "bad000000031"
down_revision = "0b22f05953e4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("property_operational", "year_built", type_=sa.BigInteger())


def downgrade() -> None:
    op.alter_column("property_operational", "year_built", type_=sa.Integer())
