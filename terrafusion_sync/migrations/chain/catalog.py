"""A database's catalogs as comparable facts, to prove two databases hold the same schema.

The squash builds one scratch database through the old chain and one through the
baseline, then compares them here. A fact is ``(kind, name) -> detail``: tables, columns
(position, type, nullability, default, identity), constraints, indexes, sequences (and
where they stand), enums, domains, views, functions, triggers, extensions, comments, and
for every table its rows (count and a digest). Whatever created an object (plain SQL, alembic_utils,
alembic-postgresql-enum), the catalogs show it. The tooling's own tables are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from terrafusion_sync.migrations.plumbing.tool_tables import TOOL_TABLES

Catalog = Mapping[tuple[str, str], str]
"""``(kind, name) -> detail`` for every object of a database."""

IGNORED_TABLES = ("alembic_version", *sorted(TOOL_TABLES))

_USER = """n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'"""
_RELATION = f"""FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE {_USER} AND c.relname <> ALL(:ignored)"""
_NOT_EXTENSION = "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = {oid} AND d.deptype = 'e')"

CATALOG_SQL = text(
    f"""
SELECT 'table', c.oid::regclass::text, c.relkind::text || ' ' || c.relpersistence::text
  {_RELATION} AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
UNION ALL
SELECT 'column', c.oid::regclass::text || '.' || a.attname,
       '#' || row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum) || ' '
       || format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
       || COALESCE(' DEFAULT ' || pg_get_expr(ad.adbin, ad.adrelid), '')
       || CASE WHEN a.attidentity::text <> '' THEN ' IDENTITY ' || a.attidentity::text ELSE '' END
       || CASE WHEN a.attgenerated::text <> '' THEN ' GENERATED' ELSE '' END
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
  WHERE {_USER} AND c.relname <> ALL(:ignored) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
    AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'constraint', COALESCE(k.conrelid::regclass::text, k.contypid::regtype::text)
       || '.' || k.conname, pg_get_constraintdef(k.oid)
  FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace
  WHERE {_USER} AND (k.conrelid = 0 OR k.conrelid::regclass::text <> ALL(:ignored))
UNION ALL
SELECT 'index', c.oid::regclass::text, pg_get_indexdef(c.oid)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE {_USER} AND t.relname <> ALL(:ignored)
UNION ALL
SELECT 'sequence', s.schemaname || '.' || s.sequencename,
       format_type(s.data_type, NULL) || ' start ' || s.start_value || ' by '
       || s.increment_by || ' ' || s.min_value || '..' || s.max_value
       || CASE WHEN s.cycle THEN ' cycle' ELSE '' END
       || ' last ' || COALESCE(s.last_value::text, 'unused')
  FROM pg_sequences s WHERE s.schemaname NOT IN ('pg_catalog', 'information_schema')
    AND NOT EXISTS (SELECT 1 FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid
                    WHERE d.objid = (quote_ident(s.schemaname) || '.'
                                     || quote_ident(s.sequencename))::regclass
                      AND d.deptype IN ('a', 'i') AND t.relname = ANY(:ignored))
UNION ALL
SELECT 'enum', t.oid::regtype::text,
       string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder)
  FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
  JOIN pg_namespace n ON n.oid = t.typnamespace WHERE {_USER} GROUP BY t.oid
UNION ALL
SELECT 'domain', t.oid::regtype::text, format_type(t.typbasetype, t.typtypmod)
       || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END
       || COALESCE(' DEFAULT ' || t.typdefault, '')
  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
  WHERE {_USER} AND t.typtype = 'd'
UNION ALL
SELECT 'view', c.oid::regclass::text, pg_get_viewdef(c.oid)
  {_RELATION} AND c.relkind IN ('v', 'm')
UNION ALL
SELECT 'function', p.oid::regprocedure::text, pg_get_functiondef(p.oid)
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE {_USER} AND p.prokind IN ('f', 'p') AND {_NOT_EXTENSION.format(oid="p.oid")}
UNION ALL
SELECT 'trigger', c.oid::regclass::text || '.' || g.tgname, pg_get_triggerdef(g.oid)
  FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE {_USER} AND NOT g.tgisinternal AND c.relname <> ALL(:ignored)
UNION ALL
SELECT 'extension', x.extname, x.extversion FROM pg_extension x
UNION ALL
SELECT 'comment', pg_describe_object(d.classoid, d.objoid, d.objsubid), d.description
  FROM pg_description d WHERE d.objoid >= 16384
"""
).bindparams(bindparam("ignored", value=list(IGNORED_TABLES)))

SEQUENCES_SQL = text(
    f"""SELECT c.oid::regclass::text {_RELATION} AND c.relkind = 'S'
    AND NOT EXISTS (SELECT 1 FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid
                    WHERE d.objid = c.oid AND d.deptype IN ('a', 'i') AND t.relname = ANY(:ignored))
    ORDER BY 1"""
).bindparams(bindparam("ignored", value=list(IGNORED_TABLES)))

TABLES_SQL = text(
    f"SELECT c.oid::regclass::text {_RELATION} AND c.relkind IN ('r', 'p') ORDER BY 1"
).bindparams(bindparam("ignored", value=list(IGNORED_TABLES)))


def snapshot(conn: Connection) -> dict[tuple[str, str], str]:
    """Every object of the database ``conn`` is on, and every table's rows."""
    facts = {
        (str(kind), str(name)): str(detail or "")
        for kind, name, detail in conn.execute(CATALOG_SQL)
    }
    found: list[Any] = list(conn.execute(TABLES_SQL).scalars())
    for table in map(str, found):
        facts[("rows", table)] = _rows(conn, table)
    found = list(conn.execute(SEQUENCES_SQL).scalars())
    for sequence in map(str, found):
        value, called = conn.execute(text(f"SELECT last_value, is_called FROM {sequence}")).one()
        facts[("sequence state", sequence)] = f"at {value}" + ("" if called else ", not called")
    return facts


def _rows(conn: Connection, table: str) -> str:
    """``N rows, md5 …``: the rows of ``table``, in a stable order, as one digest."""
    count, digest = conn.execute(
        text(
            f"SELECT count(*), md5(string_agg(t::text, E'\\n' ORDER BY t::text)) FROM {table} AS t"
        )
    ).one()
    return f"{count} rows" + (f" (md5 {digest})" if count else "")


def first_difference(old: Catalog, new: Catalog, old_name: str, new_name: str) -> str | None:
    """The first fact (in a stable order) where ``old`` and ``new`` differ, in one line."""
    for key in sorted(set(old) | set(new)):
        kind, name = key
        if key not in new:
            return f"{kind} {name} is in the {old_name} but not in the {new_name}"
        if key not in old:
            return f"{kind} {name} is in the {new_name} but not in the {old_name}"
        if old[key] != new[key]:
            return (
                f"{kind} {name} differs: {_short(old[key])} in the {old_name}, "
                f"{_short(new[key])} in the {new_name}"
            )
    return None


def _short(detail: str, limit: int = 80) -> str:
    """``detail`` on one line, cut to ``limit`` characters."""
    flat = " ".join(detail.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 1] + "…")
