"""add report notes

Revision ID: bad000000025
Revises: 0b22f05953e4
Create Date: 2026-12-01 10:00:00+00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "bad000000025"
down_revision = "0b22f05953e4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_notes")),
    )
    op.create_index("ix_report_notes_body", "report_notes", ["body"])
    op.alter_column("report_notes", "body", new_column_name="text")
    op.add_column("report_notes", sa.Column("kind", sa.String(16), nullable=False))


def downgrade() -> None:
    op.drop_table("report_notes")
