"""Will it fail? Read-only checks of the live rows, before anything runs.

The pending revisions' SQL (Alembic's offline rendering, split per revision) is read with
PostgreSQL's parser (:mod:`.statements`); each statement that fails on rows that are there
is checked against the live table, in a READ ONLY transaction:

- a NOT NULL column added without a default, on a table with rows;
- ``SET NOT NULL`` on a column holding NULLs;
- a unique index, unique constraint or primary key over duplicate values (how many);
- a CHECK or foreign key added without NOT VALID, or a ``VALIDATE CONSTRAINT``, over rows
  that break it (how many);
- an enum type recreated without some of its values (``op.sync_enum_values``), while rows
  hold a removed value (how many; a renamed value's rows are mapped, so not counted).

A table the pending revisions create, rename or write rows of before the statement (an
``UPDATE``, or an ``op.backfill`` of an earlier revision) is not checked: its rows then
are not the rows now. Only what is known to fail is reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import Connection

from terrafusion_sync.database import quoted
from terrafusion_sync.errors import MigrationError
from terrafusion_sync.migrations.sql import statements as st

COUNT_LIMIT = 10_000
"""Violations are counted up to this many (``10000+``), so a bad table costs no full count."""
_BACKFILL = re.compile(r"^-- op\.backfill on (\S+), run by tfsync", re.MULTILINE)
"""The first line ``backfill.Call.rendered()`` writes for ``--sql`` (a comment, not SQL)."""


class PreflightRefused(MigrationError):
    """The upgrade would fail on the rows there; nothing was run."""


@dataclass(frozen=True)
class LiveRowFailure:
    """A statement of ``revision`` that fails on the live rows of ``table``, and why."""

    revision: str
    table: str
    reason: str


def check(
    conn: Connection, pending: list[tuple[str, str]], statement_timeout: str = "0"
) -> list[LiveRowFailure]:
    """What of ``pending`` (``[(revision, SQL)]``) would fail on ``conn``'s rows; reads only.

    Each query stops after ``statement_timeout`` (then that check says nothing).
    """
    if conn.in_transaction():
        conn.commit()
    read_only(conn, statement_timeout)
    try:
        return failures(conn, pending)
    finally:
        conn.rollback()


def read_only(conn: Connection, statement_timeout: str) -> None:
    """Begin a READ ONLY transaction on ``conn`` whose queries each stop after
    ``statement_timeout``: one round trip."""
    conn.execute(
        text(
            "SELECT set_config('transaction_read_only', 'on', true),"
            " set_config('statement_timeout', :t, true)"
        ),
        {"t": statement_timeout},
    )


def failures(conn: Connection, pending: list[tuple[str, str]]) -> list[LiveRowFailure]:
    """:func:`check` inside a transaction :func:`read_only` began (the caller's)."""
    return list(_check(conn, pending))


def refuse(
    conn: Connection,
    pending: list[tuple[str, str]],
    files: dict[str, str],
    statement_timeout: str = "0",
) -> None:
    """Raise :class:`PreflightRefused` when :func:`check` finds anything (``files``: rev ->
    file)."""
    found = check(conn, pending, statement_timeout)
    if not found:
        return
    first = found[0]
    more = f"; and {len(found) - 1} more" if len(found) > 1 else ""
    raise PreflightRefused(
        f"revision {first.revision} ({files.get(first.revision, '?')}) would fail on the rows "
        f"there: {first.table}: {first.reason}{more}; nothing was run",
        "fix those rows or the revision first, make plan lists every one; to run it anyway: "
        "upgrade --force",
    )


def _check(conn: Connection, pending: list[tuple[str, str]]) -> Iterator[LiveRowFailure]:
    unknown: set[str] = set()  # tables whose rows at that point are not the rows now
    for revision, sql in pending:
        for action in st.actions(sql):
            if action.kind in (st.CREATE_TABLE, st.RENAME_TABLE, *st.ROW_WRITES, st.TRUNCATE):
                unknown.add(action.table)
                continue
            if action.table in unknown or not _exists(conn, action.table):
                continue
            reason = _fails(conn, action)
            if reason:
                yield LiveRowFailure(revision, action.table, reason)
        yield from _removed_enum_values(conn, revision, sql)
        # op.backfill changes rows once its revision has committed: later checks cannot tell
        unknown.update(found[1] for found in _BACKFILL.finditer(sql))


def _fails(conn: Connection, a: st.Action) -> str | None:
    table = a.table
    if a.kind == st.ADD_COLUMN and a.not_null and not a.has_default:
        if _count(conn, f"SELECT 1 FROM {table}"):
            return f"adds NOT NULL column {a.column} without a default to a table with rows"
    elif a.kind == st.SET_NOT_NULL and _has_column(conn, table, a.column):
        nulls = _count(conn, f"SELECT 1 FROM {table} WHERE {quoted(a.column or '')} IS NULL")
        if nulls:
            return f"SET NOT NULL on {a.column}, but {_n(nulls)} row(s) hold NULL there"
    elif (a.kind == st.CREATE_INDEX and a.unique) or (
        a.kind == st.ADD_CONSTRAINT and a.constraint_type in (st.UNIQUE, st.PRIMARY_KEY)
    ):
        return _duplicates(conn, a)
    elif a.kind == st.ADD_CONSTRAINT and not a.not_valid:
        if a.constraint_type == st.CHECK and a.expression:
            bad = _count(conn, f"SELECT 1 FROM {table} WHERE NOT ({a.expression})")
            if bad:
                return f"{_n(bad)} row(s) break CHECK ({a.expression})"
        elif a.constraint_type == st.FOREIGN_KEY and a.references:
            return _orphans(conn, table, a.columns, a.references, a.ref_columns)
    elif a.kind == st.VALIDATE_CONSTRAINT:
        return _validate(conn, table, a.constraint or "")
    return None


def _duplicates(conn: Connection, a: st.Action) -> str | None:
    if not a.columns or not all(_has_column(conn, a.table, c) for c in a.columns):
        return None  # an expression index, or columns added on the way: cannot tell
    cols = ", ".join(quoted(c) for c in a.columns)
    where = " AND ".join(f"{quoted(c)} IS NOT NULL" for c in a.columns)
    if a.kind == st.CREATE_INDEX and a.expression:
        where += f" AND ({a.expression})"
    groups = _count(
        conn, f"SELECT 1 FROM {a.table} WHERE {where} GROUP BY {cols} HAVING count(*) > 1"
    )
    if groups:
        return f"unique ({', '.join(a.columns)}) over {_n(groups)} duplicated value(s)"
    return None


def _orphans(
    conn: Connection, table: str, columns: tuple[str, ...], ref: str, ref_columns: tuple[str, ...]
) -> str | None:
    if not _exists(conn, ref) or not columns:
        return None
    ref_columns = ref_columns or _primary_key(conn, ref)
    if len(ref_columns) != len(columns):
        return None
    present = " AND ".join(f"t.{quoted(c)} IS NOT NULL" for c in columns)
    match = " AND ".join(
        f"r.{quoted(r)} = t.{quoted(c)}" for c, r in zip(columns, ref_columns, strict=True)
    )
    bad = _count(
        conn,
        f"SELECT 1 FROM {table} t WHERE {present} AND NOT EXISTS "
        f"(SELECT 1 FROM {ref} r WHERE {match})",
    )
    if bad:
        return f"{_n(bad)} row(s) reference no row of {ref} (foreign key on {', '.join(columns)})"
    return None


def _validate(conn: Connection, table: str, name: str) -> str | None:
    row = conn.execute(
        text(
            "SELECT k.contype::text, pg_get_expr(k.conbin, k.conrelid),"
            " k.confrelid::regclass::text,"
            " ARRAY(SELECT attname FROM pg_attribute a JOIN unnest(k.conkey) WITH ORDINALITY"
            "  u(n, i) ON a.attnum = u.n WHERE a.attrelid = k.conrelid ORDER BY u.i),"
            " ARRAY(SELECT attname FROM pg_attribute a JOIN unnest(k.confkey) WITH ORDINALITY"
            "  u(n, i) ON a.attnum = u.n WHERE a.attrelid = k.confrelid ORDER BY u.i)"
            " FROM pg_constraint k WHERE k.conrelid = to_regclass(:t) AND k.conname = :n"
        ),
        {"t": table, "n": name},
    ).first()
    if row is None:
        return None
    kind, expression, ref, columns, ref_columns = row
    if kind == "c" and expression:
        bad = _count(conn, f"SELECT 1 FROM {table} WHERE NOT ({expression})")
        return f"VALIDATE {name}: {_n(bad)} row(s) break CHECK ({expression})" if bad else None
    if kind == "f":
        found = _orphans(conn, table, tuple(columns), ref, tuple(ref_columns))
        return f"VALIDATE {name}: {found}" if found else None
    return None


def _count(conn: Connection, query: str, params: dict[str, Any] | None = None) -> int:
    """Rows ``query`` returns, counted up to :data:`COUNT_LIMIT` + 1; 0 if it cannot run."""
    try:
        with conn.begin_nested():
            return int(
                conn.execute(
                    text(f"SELECT count(*) FROM ({query} LIMIT {COUNT_LIMIT + 1}) found"), params
                ).scalar()
                or 0
            )
    except sa_exc.DBAPIError:
        return 0  # the statement refers to something not there yet: cannot tell


_ENUM_LABELS = text(
    "SELECT array_agg(enumlabel::text ORDER BY enumsortorder) FROM pg_enum"
    " WHERE enumtypid = to_regtype(:t)"
)
_ENUM_COLUMNS = text(
    "SELECT a.attrelid::regclass::text, a.attname FROM pg_attribute a JOIN pg_class c"
    " ON c.oid = a.attrelid WHERE a.atttypid = to_regtype(:t) AND c.relkind IN ('r', 'p')"
    " AND NOT a.attisdropped ORDER BY 1, 2"
)


def _removed_enum_values(conn: Connection, revision: str, sql: str) -> Iterator[LiveRowFailure]:
    """Rows holding a value that an enum type recreated by ``sql`` no longer has."""
    mapped = st.cast_mapped_values(sql)
    for enum in st.enum_types(sql):
        live = conn.execute(_ENUM_LABELS, {"t": enum.name}).scalar() or []
        gone = [v for v in live if v not in enum.values and v not in mapped]
        if not gone:
            continue
        for table, column in conn.execute(_ENUM_COLUMNS, {"t": enum.name}).all():
            where = f"SELECT 1 FROM {table} WHERE {quoted(column)}::text = ANY(:gone)"
            held = _count(conn, where, {"gone": gone})
            if held:
                values = ", ".join(repr(v) for v in gone)
                yield LiveRowFailure(
                    revision,
                    table,
                    f"removes {values} from enum type {enum.name}, but {_n(held)} row(s) "
                    f"hold it in {column}",
                )


def _n(count: int) -> str:
    return f"{COUNT_LIMIT}+" if count > COUNT_LIMIT else str(count)


def _exists(conn: Connection, table: str) -> bool:
    try:
        with conn.begin_nested():
            found = conn.execute(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": table})
            return bool(found.scalar())
    except sa_exc.DBAPIError:
        return False


def _has_column(conn: Connection, table: str, column: str | None) -> bool:
    return bool(
        column
        and conn.execute(
            text(
                "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(:t) AND attname = :c"
                " AND NOT attisdropped"
            ),
            {"t": table, "c": column},
        ).scalar()
    )


def _primary_key(conn: Connection, table: str) -> tuple[str, ...]:
    rows = conn.execute(
        text(
            "SELECT a.attname FROM pg_constraint k JOIN unnest(k.conkey) WITH ORDINALITY u(n, i)"
            " ON true JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n"
            " WHERE k.conrelid = to_regclass(:t) AND k.contype = 'p' ORDER BY u.i"
        ),
        {"t": table},
    )
    return tuple(r[0] for r in rows)


@dataclass(frozen=True)
class Destroys:
    """A table or column (``column`` None: the table) a revision drops, and the rows or
    values it holds here now."""

    revision: str
    table: str
    column: str | None
    rows: int

    def describe(self) -> str:
        """``column property_operational.parcel_number (50,000 values)``."""
        if self.column:
            return f"column {self.table}.{self.column} ({self.rows:,} values)"
        return f"table {self.table} ({self.rows:,} rows)"


def destroyed(
    conn: Connection, pending: list[tuple[str, str]], spared: frozenset[str] = frozenset()
) -> list[Destroys]:
    """What ``pending`` (``[(revision, SQL)]``) drops that holds data here; reads only.

    Revisions in ``spared`` (contract revisions, whose drop is their purpose) are left out;
    so is a table the upgrade creates or fills first (its rows then are not the rows now).
    """
    found = []
    unknown: set[str] = set()
    for revision, sql in pending:
        for action in st.actions(sql):
            if action.kind in (st.CREATE_TABLE, st.RENAME_TABLE, *st.ROW_WRITES, st.TRUNCATE):
                unknown.add(action.table)
            elif action.kind in (st.DROP_TABLE, st.DROP_COLUMN) and revision not in spared:
                if action.table in unknown or not _exists(conn, action.table):
                    continue
                if action.column and not _has_column(conn, action.table, action.column):
                    continue
                where = f" WHERE {quoted(action.column)} IS NOT NULL" if action.column else ""
                rows = conn.execute(text(f"SELECT count(*) FROM {action.table}{where}")).scalar()
                if rows:
                    found.append(Destroys(revision, action.table, action.column, int(rows)))
        unknown.update(match[1] for match in _BACKFILL.finditer(sql))
    return found
