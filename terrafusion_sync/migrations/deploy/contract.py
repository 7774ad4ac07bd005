"""``make contract`` runs only once the database shows that the old application is gone.

pgroll's ``complete`` and Neutron's contract leave "is old code still running?" to the
operator. Here the expand revision's trigger answers it: a write that comes in through the
old column alone is one only old code makes, and the trigger notes its time in
``tfsync_contract_watch`` (the expand itself notes its own time there, so the quiet period
also runs from the expand). While such a write is more recent than
``TFSYNC_CONTRACT_QUIET`` the contract is refused, naming table, old column and when, and
nothing changes. ``--force`` goes ahead anyway; the history notes that it did.

No record, no contract: a retired column with no watch row at all (its expand was applied
by plain ``alembic``, or the row was lost) is refused too, and so is a contract whose
expand has not been applied yet (the expand notes its own time when it runs, so the quiet
period cannot have passed). A database at base is the exception: nothing ever ran on it,
so ``make contract`` may build it whole. Where pg_stat_statements is installed, statements
that still name the old column count as well (:mod:`.statement_counts`). Once a contract
ran, its watch rows and snapshots are deleted (:func:`forget`); its downgrade notes the
time again, as the expand did (:func:`watch_again`).

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

from alembic.config import Config
from alembic.script import Script, ScriptDirectory
from alembic.util import to_tuple
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection

from terrafusion_sync.errors import MigrationError
from terrafusion_sync.migrations.deploy import statement_counts
from terrafusion_sync.migrations.plumbing import phases, revisions
from terrafusion_sync.migrations.plumbing.commands import run_on
from terrafusion_sync.migrations.plumbing.config import script_directory
from terrafusion_sync.migrations.plumbing.revisions import current_heads, file_name
from terrafusion_sync.migrations.plumbing.tool_tables import (
    CONTRACT_STATEMENTS_TABLE_NAME,
    CONTRACT_WATCH_TABLE_NAME,
    contract_watch_table,
)
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
    return bool(phases.retired_columns(contract))


def last_old_writes(conn: Connection, contracts: Sequence[Script]) -> list[OldWrite]:
    """The newest old-path write of each column the ``contracts`` retire, newest first."""
    retired = [pair for script in contracts for pair in phases.retired_columns(script)]
    if not retired:
        return []
    rows = conn.execute(
        _LAST_WRITES,
        {"tables": [t for t, _ in retired], "columns": [c for _, c in retired]},
    ).all()
    return [OldWrite(r.table_name, r.old_column, r.last_old_write_at, float(r.ago)) for r in rows]


@dataclass(frozen=True)
class _Refusal:
    """Why one contract may not run yet: the line and its hint."""

    reason: str
    hint: str


def refuse_while_old_code(
    conn: Connection, scripts: ScriptDirectory, quiet: str, *, force: bool
) -> str | None:
    """Refuse (one line, exit 2) a ``make contract`` whose retired columns are not proven
    quiet for ``quiet``: an expand not applied yet, no watch row, an old-path write or a
    statement naming the old column within ``quiet``.

    Returns the note the history keeps when ``force`` went past them, else None.
    Contracts that retire no column are not asked (:func:`needs_proof`), nor is a database
    at base.
    """
    current = current_heads(conn)
    contracts = [c for c in phases.waiting(scripts, current) if needs_proof(c)]
    if not contracts or not current:
        return None
    found = _refusals(conn, scripts, current, contracts, seconds(quiet), quiet)
    if not found:
        return None
    if force:
        return "contract forced: " + "; ".join(r.reason for r in found)
    conn.commit()  # the snapshot of the counts stays: it dates what runs from now on
    names = ", ".join(f"{s.revision} ({file_name(s)})" for s in contracts)
    raise MigrationError(
        f"contract refused: {found[0].reason}; nothing was changed ({names} wait)",
        found[0].hint,
    )


_FORCE = "to drop the old column anyway: tfsync upgrade --contract --force"


def _refusals(
    conn: Connection,
    scripts: ScriptDirectory,
    current: tuple[str, ...],
    contracts: Sequence[Script],
    quiet_s: float,
    quiet: str,
) -> list[_Refusal]:
    """Every reason the ``contracts`` may not run yet, the most telling first."""
    found = [_Refusal(r, "") for r in _expands_pending(scripts, current, contracts)]
    if found:
        hint = (
            f"run `make upgrade` first (the expand), retire the old instances, then `make "
            f"contract` once TFSYNC_CONTRACT_QUIET {quiet} passed; {_FORCE}"
        )
        return [_Refusal(r.reason, hint) for r in found]
    retired = [r for c in contracts for r in retired_with_new(c)]
    writes = {(w.table, w.column): w for w in last_old_writes(conn, contracts)}
    for table, old, _ in retired:
        if (table, old) not in writes:
            found.append(_no_record(table, old))
    for write in sorted(writes.values(), key=lambda w: w.seconds_ago):
        if write.seconds_ago < quiet_s:
            wait = _ago(quiet_s - write.seconds_ago)
            found.append(
                _Refusal(
                    f"{write.describe()}, within TFSYNC_CONTRACT_QUIET {quiet}: an instance "
                    "of the old application may still run",
                    f"retire the old instances and run `make contract` again in {wait} or "
                    f"later; {_FORCE}",
                )
            )
    for ran in statement_counts.still_running(conn, retired, quiet_s):
        found.append(
            _Refusal(
                f"{ran.describe()}, within TFSYNC_CONTRACT_QUIET {quiet}",
                "retire the old instances (or whatever still reads the old column) and run "
                f"`make contract` again once TFSYNC_CONTRACT_QUIET passed with no new call; "
                f"{_FORCE}",
            )
        )
    return found


def _no_record(table: str, column: str) -> _Refusal:
    return _Refusal(
        f"no record of when {table}.{column} was last written through the old column (its "
        "expand was applied outside tfsync, by plain alembic, or the record was lost)",
        "if no instance of the old application runs any more: tfsync upgrade --contract "
        "--force (the history records it); otherwise retire them first",
    )


def _expands_pending(
    scripts: ScriptDirectory, current: tuple[str, ...], contracts: Sequence[Script]
) -> list[str]:
    """A line for each contract whose expand (its parent or ``depends_on``) is not applied:
    applied in the same run, it would note its own time, so the quiet period has not run."""
    pending = {s.revision for s in revisions.pending(scripts, "heads", current)}
    found = []
    for contract in contracts:
        parents = to_tuple(contract.down_revision) or ()
        for rev in (*parents, *(to_tuple(contract.dependencies) or ())):
            if rev in pending and not phases.is_contract(scripts.get_revision(rev)):
                expand = scripts.get_revision(rev)
                found.append(
                    f"its expand revision {rev} ({file_name(expand)}) is not applied yet: "
                    "it notes when the old column was last written only once applied, so "
                    "the quiet period has not passed"
                )
    return found


def retired_with_new(contract: Script) -> list[statement_counts.Retired]:
    """``(table, old column, new column)`` of each column ``contract`` retires."""
    retires = getattr(contract.module, "retires", None) or {}
    news = list(retires.values()) if isinstance(retires, dict) else []
    pairs = phases.retired_columns(contract)
    return [(t, c, n) for (t, c), n in zip(pairs, news, strict=False)]


def snapshot_statements(conn: Connection, contracts: Sequence[Script]) -> None:
    """Keep pg_stat_statements' counts for the columns the waiting ``contracts`` retire
    (when the tool applied an expand, and at ``tfsync status``)."""
    statement_counts.snapshot(conn, [r for c in contracts for r in retired_with_new(c)])


async def count_old_statements(url: URL, cfg: Config) -> None:
    """``tfsync status``'s part of the proof: a snapshot of pg_stat_statements' counts for
    the columns waiting contracts retire (nothing before the tooling's tables exist)."""

    def take(conn: Connection) -> None:
        if conn.execute(_TABLE_THERE).scalar():
            contracts = phases.waiting(script_directory(cfg), current_heads(conn))
            snapshot_statements(conn, contracts)

    await run_on(url, cfg, take)


_TABLE_THERE = text(f"SELECT to_regclass('{CONTRACT_STATEMENTS_TABLE_NAME}') IS NOT NULL")


def forget(conn: Connection, contract: Script) -> None:
    """After ``contract`` ran: its columns' watch rows and statement snapshots go."""
    retired = retired_with_new(contract)
    for table, old, _ in retired:
        conn.execute(
            contract_watch_table.delete().where(
                contract_watch_table.c.table_name == table,
                contract_watch_table.c.old_column == old,
            )
        )
    statement_counts.forget(conn, retired)


def watch_again(conn: Connection, contract: Script) -> None:
    """After ``contract``'s downgrade: the old column is back, written from now on as the
    expand left it; the quiet period starts again, as the expand's own row did."""
    for table, old, new in retired_with_new(contract):
        conn.execute(
            text(
                f"INSERT INTO {CONTRACT_WATCH_TABLE_NAME} VALUES (:t, :o, :n, now())"
                " ON CONFLICT (table_name, old_column) DO UPDATE SET"
                " new_column = EXCLUDED.new_column, last_old_write_at = now()"
            ),
            {"t": table, "o": old, "n": new},
        )


def _ago(seconds_: float) -> str:
    seconds_ = max(0.0, seconds_)
    if seconds_ < 120:
        return f"{seconds_:.0f} s"
    if seconds_ < 7200:
        return f"{seconds_ / 60:.0f} min"
    return f"{seconds_ / 3600:.1f} h"
