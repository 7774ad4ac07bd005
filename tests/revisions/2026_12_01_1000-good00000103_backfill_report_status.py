"""backfill report status

Revision ID: good00000103
Revises: 0b22f05953e4
Create Date: 2026-12-01 10:00:00+00:00
"""

from alembic import op

revision = "good00000103"
down_revision = "0b22f05953e4"
branch_labels = None
depends_on = None
BACKFILL = """
DO $$
DECLARE
  done integer;
BEGIN
  LOOP
    UPDATE report_jobs SET status = 'COMPLETED'
     WHERE report_id IN (
       SELECT report_id FROM report_jobs WHERE status = 'DONE' LIMIT 1000
     );
    GET DIAGNOSTICS done = ROW_COUNT;
    EXIT WHEN done = 0;
    COMMIT;
  END LOOP;
END $$
"""


def upgrade() -> None:
    # one short transaction per batch of 1000 rows: no long lock on a live table
    with op.get_context().autocommit_block():
        op.execute(BACKFILL)


def downgrade() -> None:
    pass  # review: allow TF301 -- the old spelling is not restored: both mean the same
