"""index report messages

Revision ID: good00000102
Revises: 0b22f05953e4
Create Date: 2026-12-01 10:00:00+00:00
"""

from alembic import op

revision = "good00000102"
down_revision = "0b22f05953e4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_report_jobs_message",
            "report_jobs",
            ["message"],
            postgresql_concurrently=True,
            if_not_exists=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(
            "ix_report_jobs_message",
            table_name="report_jobs",
            postgresql_concurrently=True,
            if_exists=True,
        )
