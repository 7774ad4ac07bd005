"""rename message to note

Revision ID: bad000000017
Revises: 0b22f05953e4
Create Date: 2026-12-01 10:00:00+00:00
"""

from alembic import op

revision = "bad000000017"
down_revision = "0b22f05953e4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("report_jobs", "message", new_column_name="note")


def downgrade() -> None:
    op.alter_column("report_jobs", "note", new_column_name="message")
