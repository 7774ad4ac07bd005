"""count reports

Revision ID: bad000000003
Revises: 0b22f05953e4
Create Date: 2026-12-01 10:00:00+00:00
"""

import sqlalchemy as sa
from alembic import op

from terrafusion_sync.core_models import ReportJob

revision = "bad000000003"
down_revision = "0b22f05953e4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.select(sa.func.count()).select_from(ReportJob.__table__))


def downgrade() -> None:
    op.execute("SELECT 1")
