"""add report age

Revision ID: bad000000041
Revises: 0b22f05953e4
Create Date: 2026-12-01 10:00:00+00:00
"""

from alembic import op

revision = "bad000000041"
down_revision = "0b22f05953e4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE FUNCTION report_age(created timestamptz) RETURNS interval"
        " LANGUAGE sql AS 'SELECT now() - created'"
    )


def downgrade() -> None:
    # the wrong argument type: IF EXISTS finds no such function, and the real one stays
    op.execute("DROP FUNCTION IF EXISTS report_age(timestamp)")
