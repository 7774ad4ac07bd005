"""add owner email

Revision ID: good00000101
Revises: 0b22f05953e4
Create Date: 2026-12-01 10:00:00+00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "good00000101"
down_revision = "0b22f05953e4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "property_operational", sa.Column("owner_email", sa.String(length=255), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("property_operational", "owner_email")
