"""add owner email backfilled

Revision ID: good00000105
Revises: 0b22f05953e4
Create Date: 2026-12-01 10:00:00+00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "good00000105"
down_revision = "0b22f05953e4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "property_operational", sa.Column("owner_email", sa.String(length=255), nullable=True)
    )
    # in batches after this revision commits: the ALTER's lock is long released by then
    op.backfill(
        "property_operational",
        set="owner_email = lower(property_id) || '@owners.invalid'",
        where="owner_email IS NULL",
    )


def downgrade() -> None:
    op.drop_column("property_operational", "owner_email")
