"""Will a waiting contract's NOT NULL fail? Its expand's check, counted on the live rows.

A NOT NULL written as a pair (a NOT NULL column's own pair, or a rename's new column) is a
``CHECK (col IS NOT NULL) NOT VALID`` from the expand until the contract VALIDATEs it;
rows that still hold NULL then make the contract fail. The contract's SQL is not rendered
for this (it waits on a branch of its own): the check is read from the catalog, for each
column the contract finishes or renames, and its NULLs are counted (read only). ``make
plan`` shows them under the waiting contracts, and ``make contract`` refuses before any
change (unless ``--force``).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic.script import Script
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import Connection

from terrafusion_sync.database import quoted
from terrafusion_sync.migrations.planning.preflight import (
    COUNT_LIMIT,
    LiveRowFailure,
    PreflightRefused,
)
from terrafusion_sync.migrations.plumbing import phases
from terrafusion_sync.migrations.plumbing.revisions import file_name

_CHECKS = text(
    "SELECT conname::text, pg_get_expr(conbin, conrelid) FROM pg_constraint"
    " WHERE conrelid = to_regclass(:t) AND contype = 'c' AND NOT convalidated"
)


def null_rows(conn: Connection, contracts: Sequence[Script]) -> list[LiveRowFailure]:
    """Per waiting contract, each NOT NULL it would VALIDATE over rows holding NULL."""
    found = []
    for contract in contracts:
        for table, column in phases.left_alone(contract):
            nulls = _nulls(conn, table, column)
            if nulls is not None:
                name, count = nulls
                shown = f"{COUNT_LIMIT}+" if count > COUNT_LIMIT else str(count)
                reason = f"VALIDATE {name}: {shown} row(s) are NULL in {column}"
                found.append(LiveRowFailure(contract.revision, table, reason))
    return found


def refuse(conn: Connection, contracts: Sequence[Script]) -> None:
    """``make contract``'s pre-flight: refuse, nothing run, when :func:`null_rows` finds any."""
    found = null_rows(conn, contracts)
    if not found:
        return
    first = found[0]
    files = {c.revision: file_name(c) for c in contracts}
    raise PreflightRefused(
        f"contract revision {first.revision} ({files[first.revision]}) would fail on the rows "
        f"there: {first.table}: {first.reason}; nothing was run",
        f"fill them first (an op.backfill in the expand, or UPDATE {first.table} SET ... WHERE "
        "... IS NULL), then `make contract` again; to run it anyway: --force",
    )


def _nulls(conn: Connection, table: str, column: str) -> tuple[str, int] | None:
    """The NOT VALID ``column IS NOT NULL`` check on ``table`` and its NULL rows, if any."""
    try:
        with conn.begin_nested():
            checks = conn.execute(_CHECKS, {"t": quoted(table)}).all()
            wanted = f"({quoted(column)} IS NOT NULL)"
            for name, expression in checks:
                if expression == wanted:
                    count = conn.execute(
                        text(
                            f"SELECT count(*) FROM (SELECT 1 FROM {quoted(table)} WHERE"
                            f" {quoted(column)} IS NULL LIMIT {COUNT_LIMIT + 1}) found"
                        )
                    ).scalar_one()
                    return (name, int(count)) if count else None
    except sa_exc.DBAPIError:
        return None  # the table is not there, or the query timed out: cannot tell
    return None
