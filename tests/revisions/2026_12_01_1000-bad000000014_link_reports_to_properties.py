"""link reports to properties

Revision ID: bad000000014
Revises: 0b22f05953e4
Create Date: 2026-12-01 10:00:00+00:00
"""

from alembic import op

revision = "bad000000014"
down_revision = "0b22f05953e4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_foreign_key(
        "fk_report_jobs_correlation_id_property_operational",
        "report_jobs",
        "property_operational",
        ["correlation_id"],
        ["property_id"],
    )


def downgrade() -> None:
    op.drop_constraint(
        "fk_report_jobs_correlation_id_property_operational", "report_jobs", type_="foreignkey"
    )
