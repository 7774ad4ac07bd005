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

Run by the migrations core, the call checks its input and records the backfill in the
revision's transaction; the core runs it in batches once the revision has committed, before
the next revision (:mod:`.backfill`). Elsewhere (plain ``alembic upgrade``, the review's
stairway) the same check is followed by one plain ``UPDATE`` in the revision's
transaction, so the data ends up the same. ``--sql`` renders it as comments saying what
runs, and how.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from alembic.operations import MigrateOperation, Operations

from terrafusion_sync.database import quoted
from terrafusion_sync.errors import ConfigError, MigrationError
from terrafusion_sync.migrations.backfill import batches as backfill
from terrafusion_sync.migrations.plumbing.environment import recorded_backfills
from terrafusion_sync.settings import positive_duration


@Operations.register_operation("backfill")
class BackfillOp(MigrateOperation):
    """Rewrite the rows of a live table in short batches on its primary key."""

    def __init__(self, call: backfill.Call) -> None:
        self.call = call

    @classmethod
    def backfill(
        cls,
        operations: Operations,
        table_name: str,
        *,
        set: str,  # shadows the builtin on purpose: it reads as the SQL keyword
        where: str | None = None,
        schema: str | None = None,
        batch_time: str | None = None,
    ) -> None:
        """``UPDATE table_name SET <set> WHERE <where>``, in batches after the revision commits.

        ``set`` and ``where`` are SQL, as they would follow those keywords; keep ``where``
        true only for rows still to change, so that running it again changes nothing.
        ``batch_time`` (``"300ms"``) is how long each batch should take (default:
        ``TFSYNC_BACKFILL_BATCH_TIME``).
        """
        table = f"{quoted(schema)}.{quoted(table_name)}" if schema else quoted(table_name)
        try:
            checked = positive_duration(batch_time, "batch_time") if batch_time else None
        except ConfigError as exc:
            raise MigrationError(
                f"{calling_revision()[1]}: op.backfill on {table}: {exc.message}", exc.hint
            ) from None
        call = backfill.Call(table, set.strip(), (where or "true").strip(), checked)
        operations.invoke(cls(call))


@Operations.implementation_for(BackfillOp)
def run_backfill(operations: Operations, operation: BackfillOp) -> None:
    """Render it (``--sql``); else check it, then record it for the core or run it now."""
    context = operations.migration_context
    call = operation.call
    if context.as_sql:
        context.impl.static_output(call.rendered())
        return
    revision, where = calling_revision()
    conn = operations.get_bind()
    key = backfill.validate(conn, call, where)
    recorded = recorded_backfills(context.config) if context.config is not None else None
    if recorded is not None:
        backfill.record(conn, revision, call, key)
        recorded.append(revision)
    else:
        operations.execute(call.plain_sql())


def calling_revision() -> tuple[str, str]:
    """The revision id whose ``upgrade()`` made the call, and ``revision X (file) line N``.

    Alembic hands an operation no revision: the revision module is the nearest caller
    whose globals hold ``revision`` and ``down_revision``.
    """
    frame: Any = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals
        if isinstance(module.get("revision"), str) and "down_revision" in module:
            revision, name = module["revision"], Path(frame.f_code.co_filename).name
            return revision, f"revision {revision} ({name}) line {frame.f_lineno}"
        frame = frame.f_back
    return "?", "a revision"
