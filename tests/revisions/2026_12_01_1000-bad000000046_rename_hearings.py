"""rename hearings

Revision ID: bad000000046
Revises: 0b22f05953e4
Create Date: 2026-12-01 10:00:00+00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "bad000000046"
down_revision = "0b22f05953e4"
branch_labels = None
depends_on = None
STATES = ["filed", "heard", "closed"]


def upgrade() -> None:
    sa.Enum(*STATES, name="appeal_status").create(op.get_bind())
    op.sync_enum_values(
        enum_schema="public",
        enum_name="appeal_status",
        new_values=["filed", "hearing", "closed"],
        affected_columns=[],
        enum_values_to_rename=[("heard", "hearing")],
    )


def downgrade() -> None:
    op.sync_enum_values(
        enum_schema="public",
        enum_name="appeal_status",
        new_values=["filed", "heard", "closed"],
        affected_columns=[],
        enum_values_to_rename=[("hearing", "heard")],
    )
    sa.Enum(*STATES, name="appeal_status").drop(op.get_bind())
