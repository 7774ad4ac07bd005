"""The SQL of a keyset walk: a table's primary key, the next range of it, and the rows
in one range (the backfill's change adds its own ``SET`` and ``WHERE``: ``calls.Call``).

A batch is a range of the primary key after the last key done: its end is the key ``n``
places further along the key's index (``WHERE key > last ORDER BY key OFFSET n - 1 LIMIT
1``, an index-only step of ``n`` entries; never an ``OFFSET`` from the table's start, whose
cost grows with every batch). A single integer key counts the same step instead
(``count(*)``, ``max(key)`` of its ``LIMIT n``), so the table's last batch, shorter than
``n``, needs no second scan to count it. Both ends of the range are then given to the change as
values, so the planner sees a narrow range of the key's index (a join on the batch's keys
would be hashed over the whole table).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class Key:
    """A table's primary key: its columns (quoted) and their types, in index order."""

    columns: tuple[str, ...]
    types: tuple[str, ...]


_PRIMARY_KEY = sa.text(
    "SELECT quote_ident(a.attname), format_type(a.atttypid, a.atttypmod)"
    " FROM pg_index i"
    " CROSS JOIN LATERAL unnest(CAST(i.indkey AS int2[])) WITH ORDINALITY AS k(attnum, ord)"
    " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
    " WHERE i.indrelid = to_regclass(:t) AND i.indisprimary ORDER BY k.ord"
)


def primary_key(conn: Connection, table: str) -> Key | None:
    """The primary key of ``table`` (quoted, ready for SQL); None when it has none."""
    found = conn.execute(_PRIMARY_KEY, {"t": table}).all()
    if not found:
        return None
    return Key(tuple(r[0] for r in found), tuple(r[1] for r in found))


def _bound(key: Key, name: str) -> str:
    """The key's values from the text[] parameter ``name``, cast to their types."""
    return ", ".join(
        f"CAST((CAST(:{name} AS text[]))[{i + 1}] AS {t})" for i, t in enumerate(key.types)
    )


def _after(key: Key, after: bool) -> str:
    cols = ", ".join(key.columns)
    return f" WHERE ({cols}) > ({_bound(key, 'last')})" if after else ""


def _as_text(key: Key) -> str:
    return "ARRAY[" + ", ".join(f"CAST({c} AS text)" for c in key.columns) + "]"


def end_sql(table: str, key: Key, *, after: bool) -> str:
    """The key ``:skip`` places after ``:last`` (a text[]): the end of a full batch, found
    by stepping along the key's index from ``last`` (none: the rest is the last batch)."""
    cols = ", ".join(key.columns)
    # the text[] of the one key found, not of every key stepped over: cast inside the
    # OFFSET's scan, it costs each of the ``skip`` entries (about a third of the step)
    return (
        f"SELECT {_as_text(key)} FROM (SELECT {cols} FROM {table}{_after(key, after)}"
        f" ORDER BY {cols} OFFSET CAST(:skip AS bigint) LIMIT 1) AS batch_end"
    )


COUNTED_TYPES = frozenset({"smallint", "integer", "bigint"})
"""Key types whose next batch is counted (:func:`counted_sql`): ``max`` orders them as
their index does."""


def is_counted(key: Key) -> bool:
    """One column of an integer type: its next batch is found by :func:`counted_sql`."""
    return len(key.types) == 1 and key.types[0] in COUNTED_TYPES


def counted_sql(table: str, key: Key, *, after: bool) -> str:
    """The next batch of a key that :func:`is_counted`: how many of the ``:size`` keys after
    ``:last`` there are, and the last of them, in one index-only step of at most ``:size``
    entries. A full batch and the table's last, shorter one alike: no second scan to count
    the rest (what :func:`end_sql` and :func:`tail_sql` take for other keys)."""
    column = key.columns[0]
    return (
        f"SELECT count(*) AS walked, ARRAY[CAST(max({column}) AS text)] AS last"
        f" FROM (SELECT {column} FROM {table}{_after(key, after)}"
        f" ORDER BY {column} LIMIT CAST(:size AS bigint)) AS batch"
    )


def tail_sql(table: str, key: Key, *, after: bool) -> str:
    """The rest of the table after ``:last``, the last batch: how many keys, and the last."""
    desc = ", ".join(f"{c} DESC" for c in key.columns)
    start = _after(key, after)
    return (
        f"SELECT (SELECT count(*) FROM {table}{start}),"
        f" (SELECT {_as_text(key)} FROM {table}{start} ORDER BY {desc} LIMIT 1)"
    )


def in_range_sql(table: str, key: Key, *, after: bool) -> str:
    """The condition that a row of ``table`` lies in one key range: after ``:last`` (not
    asked of the first range, ``after`` False) up to ``:end``."""
    keys = ", ".join(f"{table}.{c}" for c in key.columns)
    start = f"({keys}) > ({_bound(key, 'last')}) AND " if after else ""
    return f"{start}({keys}) <= ({_bound(key, 'end')})"
