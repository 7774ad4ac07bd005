"""What the database says about a column whose type changes: its indexes, and what the
expand + contract pair cannot carry over.

The pair builds each plain index of the column again, ``CONCURRENTLY``, on the column of
the new type. A primary key, a unique, foreign-key, check or exclusion constraint, a
view, a trigger naming the column, an expression or partial index, an identity or a
generated column: each would have to be moved by hand (or blocks dropping the old
column), so such a type change is refused in one line, nothing written, and is written by
hand with ``--empty`` (README: Zero-downtime changes).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection

from terrafusion_sync.errors import MigrationError

_COLUMN = """
WITH col AS (
  SELECT a.attrelid, a.attnum, a.attidentity, a.attgenerated FROM pg_attribute a
   WHERE a.attrelid = to_regclass(:table) AND a.attname = :column AND NOT a.attisdropped
)
"""

_IN_THE_WAY = text(
    _COLUMN
    + """
SELECT CASE k.contype WHEN 'p' THEN 'primary key' WHEN 'u' THEN 'unique constraint'
       WHEN 'f' THEN 'foreign key' WHEN 'c' THEN 'check constraint'
       ELSE 'exclusion constraint' END, k.conname::text
  FROM pg_constraint k, col
 WHERE k.contype <> 'n'  -- NOT NULL, as PostgreSQL 18 records it: the pair carries it
   AND ((k.conrelid = col.attrelid AND col.attnum = ANY (k.conkey))
    OR (k.confrelid = col.attrelid AND col.attnum = ANY (k.confkey)))
UNION ALL
SELECT DISTINCT 'view', r.ev_class::regclass::text
  FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid, col
 WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = col.attrelid
   AND d.refobjsubid = col.attnum AND r.ev_class <> col.attrelid
UNION ALL
SELECT 'trigger', t.tgname::text
  FROM pg_depend d JOIN pg_trigger t ON t.oid = d.objid, col
 WHERE d.classid = 'pg_trigger'::regclass AND d.refobjid = col.attrelid
   AND d.refobjsubid = col.attnum
UNION ALL
SELECT 'expression or partial index', i.indexrelid::regclass::text
  FROM pg_index i JOIN pg_depend d ON d.objid = i.indexrelid, col
 WHERE d.classid = 'pg_class'::regclass AND d.refobjid = col.attrelid
   AND d.refobjsubid = col.attnum AND (i.indexprs IS NOT NULL OR i.indpred IS NOT NULL)
UNION ALL
SELECT 'identity column', '' FROM col WHERE attidentity <> ''
UNION ALL
SELECT 'generated column', '' FROM col WHERE attgenerated <> ''
"""
)

_INDEXES = text(
    _COLUMN
    + """
SELECT c.relname::text, pg_get_indexdef(i.indexrelid)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid, col
 WHERE i.indrelid = col.attrelid AND col.attnum = ANY (i.indkey::int2[])
   AND i.indexprs IS NULL AND i.indpred IS NULL
   AND NOT EXISTS (SELECT FROM pg_constraint k WHERE k.conindid = i.indexrelid)
 ORDER BY c.relname
"""
)


@dataclass(frozen=True)
class ColumnIndex:
    """A plain index on the column: its name and ``CREATE INDEX`` as PostgreSQL prints it."""

    name: str
    definition: str


def column_indexes(
    conn: Connection, table: str, schema: str | None, column: str, change: str
) -> tuple[ColumnIndex, ...]:
    """The plain indexes on ``table.column``; refused in one line (nothing written) when
    something else depends on the column. ``change`` says the change, for the message."""
    params = {"table": f"{schema}.{table}" if schema else table, "column": column}
    in_the_way = conn.execute(_IN_THE_WAY, params).all()
    if in_the_way:
        kind, name = in_the_way[0]
        what = f"{kind} {name}".strip()
        raise MigrationError(
            f"{table}.{column} changes type ({change}) but is part of {what}: the expand + "
            "contract pair cannot carry that over; nothing was written",
            'write this change by hand: make revision M="..." ARGS=--empty '
            "(README: Zero-downtime changes)",
        )
    return tuple(ColumnIndex(name, sql) for name, sql in conn.execute(_INDEXES, params))
