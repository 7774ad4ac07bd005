"""``op.backfill``: a batched, resumable data migration in one line of a revision.

Registered with Alembic's operation plugin API (``Operations.register_operation`` and
``Operations.implementation_for``). ``env.py`` imports this module, so every revision has
``op.backfill``, under plain ``alembic`` too, without importing this package (revisions
stay frozen history)::

    op.backfill(
        "property_operational",
        set="county_id = upper(county_id)",
        where="county_id <> upper(county_id)",
    )
    op.backfill("report_jobs", delete=True, where="finished_at < now() - interval '1 year'")

Run by the migrations core, the call checks its input and records the backfill in the
revision's transaction, under the revision the core says it is applying (Alembic tells an
operation none); the core runs it in batches once the revision has committed, before the
next revision (:mod:`.pending`). Elsewhere (plain ``alembic upgrade``, the review's
stairway) the same check is followed by one plain ``UPDATE`` (or ``DELETE``) in the
revision's transaction, so the data ends up the same. ``--sql`` renders it as comments
saying what runs, and how.
"""

from __future__ import annotations

from alembic.operations import MigrateOperation, Operations

from terrafusion_sync.database import qualified
from terrafusion_sync.migrations.backfill import calls
from terrafusion_sync.migrations.plumbing.environment import captured_backfills, step_backfills


@Operations.register_operation("backfill")
class BackfillOp(MigrateOperation):
    """Rewrite (or delete) the rows of a live table in short batches on its primary key."""

    def __init__(self, call: calls.Call) -> None:
        self.call = call

    @classmethod
    def backfill(
        cls,
        operations: Operations,
        table_name: str,
        *,
        set: str | None = None,  # shadows the builtin on purpose: it reads as the SQL keyword
        where: str | None = None,
        schema: str | None = None,
        batch_time: str | None = None,
        delete: bool = False,
    ) -> None:
        """``UPDATE table_name SET <set> WHERE <where>`` (``DELETE`` with ``delete=True``),
        in batches after the revision commits.

        ``set`` and ``where`` are SQL, as they would follow those keywords; keep ``where``
        true only for rows still to change, so that running it again changes nothing.
        ``delete=True`` deletes the rows matching ``where`` (required) and takes no ``set``.
        ``batch_time`` (``"300ms"``) is how long each batch should take (default:
        ``TFSYNC_BACKFILL_BATCH_TIME``).
        """
        table = qualified(table_name, schema)
        operations.invoke(cls(calls.asked(table, set, where, batch_time, delete=delete)))


@Operations.implementation_for(BackfillOp)
def run_backfill(operations: Operations, operation: BackfillOp) -> None:
    """Render it (``--sql``); else check it, then record it for the core or run it now."""
    context = operations.migration_context
    call = operation.call
    captured = captured_backfills(context)
    if captured is not None:  # the core reads what the file asks now (mending)
        captured.append(call)
        return
    if context.as_sql:
        context.impl.static_output(call.rendered())
        return
    conn = operations.get_bind()
    key = calls.validate(conn, call)
    step = step_backfills(context.config)
    if step is not None and step.revision is not None:
        calls.record(conn, step.revision, call, key)
        step.recorded.append(step.revision)
    else:
        operations.execute(call.plain_sql())
