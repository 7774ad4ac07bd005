"""``make contract`` runs only once the database shows that the old application is gone.

pgroll's ``complete`` and Neutron's contract leave "is old code still running?" to the
operator. Here the expand revision's trigger answers it: a write that comes in through the
old column alone is one only old code makes, and the trigger notes its time in
``tfsync_contract_watch`` (the expand itself notes its own time there, so the quiet period
also runs from the expand). While such a write is more recent than
``TFSYNC_CONTRACT_QUIET`` the contract is refused, naming table, old column and when, and
nothing changes. ``--force`` goes ahead anyway; the history notes that it did.

A contract that retires no column (it ``completes`` a NOT NULL, a unique constraint or a
foreign key its expand added NOT VALID or CONCURRENTLY) needs no such proof: old code
never sees the difference. Alembic applies it only after its expand (its parent or
``depends_on``), and that is all it waits for (:func:`needs_proof`).

Nor does a type change's contract (``retypes``, :mod:`...authoring.retypes`): there both
versions of the application write the same column name, so its trigger cannot tell old
code from new, and no write proves anything. Old code keeps working after it as far as
its values fit the new type; values that do not already fail from the expand on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from alembic.script import Script
from sqlalchemy import text
from sqlalchemy.engine import Connection

from terrafusion_sync.errors import MigrationError
from terrafusion_sync.migrations.plumbing.phases import retired_columns
from terrafusion_sync.migrations.plumbing.revisions import file_name
from terrafusion_sync.migrations.plumbing.tool_tables import CONTRACT_WATCH_TABLE_NAME
from terrafusion_sync.settings import seconds

_LAST_WRITES = text(
    "SELECT table_name, old_column, last_old_write_at,"
    " extract(epoch FROM now() - last_old_write_at) AS ago"
    f" FROM {CONTRACT_WATCH_TABLE_NAME}"
    " WHERE (table_name, old_column) IN (SELECT * FROM unnest("
    "  CAST(:tables AS text[]), CAST(:columns AS text[])))"
    " ORDER BY last_old_write_at DESC"
)


@dataclass(frozen=True)
class OldWrite:
    """When an old column was last written through alone (or its expand applied)."""

    table: str
    column: str
    at: datetime
    seconds_ago: float

    def describe(self) -> str:
        """``owners.email written through the old column at 2026-12-06 03:10:02 UTC (42 s ago)``."""
        ago = _ago(self.seconds_ago)
        return (
            f"{self.table}.{self.column} was last written through the old column (or expanded)"
            f" at {self.at:%Y-%m-%d %H:%M:%S} UTC ({ago} ago)"
        )


def needs_proof(contract: Script) -> bool:
    """Whether ``contract`` must wait for old code to be gone: only if it retires old columns
    (a rename). A type change's contract also drops a column, but old code writes the same
    name before and after: no write could tell, so none is waited for."""
    return bool(retired_columns(contract))


def last_old_writes(conn: Connection, contracts: Sequence[Script]) -> list[OldWrite]:
    """The newest old-path write of each column the ``contracts`` retire, newest first."""
    retired = [pair for script in contracts for pair in retired_columns(script)]
    if not retired:
        return []
    rows = conn.execute(
        _LAST_WRITES,
        {"tables": [t for t, _ in retired], "columns": [c for _, c in retired]},
    ).all()
    return [OldWrite(r.table_name, r.old_column, r.last_old_write_at, float(r.ago)) for r in rows]


def refuse_while_old_code(
    conn: Connection, contracts: Sequence[Script], quiet: str, *, force: bool
) -> str | None:
    """Refuse (one line, exit 2) while an old column was written within ``quiet``.

    Returns the note the history keeps when ``force`` went past a recent write, else None.
    Contracts that retire no column are not asked (:func:`needs_proof`).
    """
    contracts = [c for c in contracts if needs_proof(c)]
    recent = [w for w in last_old_writes(conn, contracts) if w.seconds_ago < seconds(quiet)]
    if not recent:
        return None
    if force:
        return "contract forced: " + "; ".join(w.describe() for w in recent)
    newest = recent[0]
    names = ", ".join(f"{s.revision} ({file_name(s)})" for s in contracts)
    wait = _ago(seconds(quiet) - newest.seconds_ago)
    raise MigrationError(
        f"contract refused: {newest.describe()}, within TFSYNC_CONTRACT_QUIET {quiet}: an "
        f"instance of the old application may still run; nothing was changed ({names} wait)",
        f"retire the old instances and run `make contract` again in {wait} or later; "
        "to drop the old column anyway: tfsync upgrade --contract --force",
    )


def _ago(seconds_: float) -> str:
    seconds_ = max(0.0, seconds_)
    if seconds_ < 120:
        return f"{seconds_:.0f} s"
    if seconds_ < 7200:
        return f"{seconds_ / 60:.0f} min"
    return f"{seconds_ / 3600:.1f} h"
