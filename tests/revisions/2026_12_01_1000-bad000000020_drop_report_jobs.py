"""drop report jobs

Revision ID: bad000000020
Revises: 0b22f05953e4
Create Date: 2026-12-01 10:00:00+00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "bad000000020"
down_revision = "0b22f05953e4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("report_jobs")


def downgrade() -> None:
    op.create_table(
        "report_jobs",
        sa.Column("report_id", sa.String(length=36), nullable=False),
        sa.Column("report_type", sa.String(length=64), nullable=False),
        sa.Column("county_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), server_default="PENDING", nullable=False),
        sa.Column("parameters_json", sa.dialects.postgresql.JSONB(), nullable=True),
        sa.Column("result_location", sa.String(length=1024), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("correlation_id", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_report_jobs")),
    )
    op.create_index(
        op.f("ix_report_jobs_correlation_id"), "report_jobs", ["correlation_id"], unique=False
    )
    op.create_index(
        "ix_report_jobs_county_id_status", "report_jobs", ["county_id", "status"], unique=False
    )
