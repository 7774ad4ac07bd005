"""What a SQL statement does to which table, read with PostgreSQL's own parser (pglast).

Every part of the project that needs to know what a statement does asks here: the
data-loss guard (what a downgrade drops), the lock-timeout message (which tables a
statement names), the review's unsafe-operation check (what is created, altered,
rewritten) and the plan's pre-flight checks (what would fail on the rows there).

:func:`actions` turns SQL into :class:`Action` values, one per thing a statement does to a
table (an ``ALTER TABLE`` with three subcommands gives three). Text that does not parse
gives no action: callers treat it as "nothing known", never as an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pglast import ast, parse_plpgsql, parse_sql
from pglast.enums import AlterTableType, ConstrType, ObjectType
from pglast.parser import ParseError
from pglast.stream import RawStream

from terrafusion_sync.compat import pglast_message
from terrafusion_sync.database import quoted

# Action kinds
CREATE_TABLE = "create_table"
DROP_TABLE = "drop_table"
RENAME_TABLE = "rename_table"
ADD_COLUMN = "add_column"
DROP_COLUMN = "drop_column"
RENAME_COLUMN = "rename_column"
ALTER_TYPE = "alter_type"
SET_NOT_NULL = "set_not_null"
SET_DEFAULT = "set_default"
ADD_CONSTRAINT = "add_constraint"
VALIDATE_CONSTRAINT = "validate_constraint"
CREATE_INDEX = "create_index"
OTHER_ALTER = "other_alter"
UPDATE = "update"
DELETE = "delete"
INSERT = "insert"
TRUNCATE = "truncate"
CREATE_TRIGGER = "create_trigger"
DROP_TRIGGER = "drop_trigger"
CREATE_VIEW = "create_view"
"""``CREATE [OR REPLACE] VIEW``: ``table`` is the view (a replacement locks it, its readers
wait); the tables it reads are only read."""
ROW_WRITES = (UPDATE, DELETE, INSERT)
ALTER_TABLE_KINDS = frozenset(
    {
        ADD_COLUMN,
        DROP_COLUMN,
        RENAME_COLUMN,
        ALTER_TYPE,
        SET_NOT_NULL,
        SET_DEFAULT,
        ADD_CONSTRAINT,
        VALIDATE_CONSTRAINT,
        OTHER_ALTER,
    }
)
"""What an ``ALTER TABLE`` subcommand gives (a rename is its own statement)."""

# Constraint kinds (Action.constraint_type)
FOREIGN_KEY = "foreign_key"
CHECK = "check"
UNIQUE = "unique"
PRIMARY_KEY = "primary_key"
OTHER_CONSTRAINT = "other"

_CONSTRAINT_TYPES = {
    ConstrType.CONSTR_FOREIGN: FOREIGN_KEY,
    ConstrType.CONSTR_CHECK: CHECK,
    ConstrType.CONSTR_UNIQUE: UNIQUE,
    ConstrType.CONSTR_PRIMARY: PRIMARY_KEY,
}


@dataclass(frozen=True)
class Action:
    """One thing a statement does to ``table``.

    Table names are as SQL writes them (``schema.table`` when the SQL says so, quoted when
    they must be), so ``to_regclass(table)`` finds them; column names are the names.
    """

    kind: str
    table: str
    column: str | None = None
    columns: tuple[str, ...] = ()
    """Key columns of an index or constraint."""
    constraint: str | None = None
    constraint_type: str | None = None
    not_valid: bool = False
    concurrently: bool = False
    unique: bool = False
    not_null: bool = False
    has_default: bool = False
    """A column added with a value for existing rows (default, identity, serial, generated)."""
    references: str | None = None
    ref_columns: tuple[str, ...] = ()
    expression: str | None = None
    """A CHECK constraint's condition, an index's predicate, or a type change's ``USING``,
    as SQL."""
    type_name: str | None = None
    """The new type of a type change, as SQL."""

    @property
    def changes_schema(self) -> bool:
        """True for DDL on the table (not a row write)."""
        return self.kind not in ROW_WRITES


def actions(sql: str) -> list[Action]:
    """What every statement in ``sql`` does, in order; ``[]`` when it does not parse."""
    return list(_actions(sql))


def drops(sql: str) -> list[tuple[str, str | None]]:
    """Tables and columns ``sql`` drops: ``[(table, None), (table, column)]``."""
    return [(a.table, a.column) for a in actions(sql) if a.kind in {DROP_TABLE, DROP_COLUMN}]


def created_tables(sql: str) -> list[str]:
    """Tables ``sql`` creates."""
    return [a.table for a in actions(sql) if a.kind == CREATE_TABLE]


def row_writes(sql: str, kinds: tuple[str, ...] = (UPDATE, DELETE)) -> list[Action]:
    """The plain data changes in ``sql`` (by default ``UPDATE`` and ``DELETE``), by table,
    those inside another statement (a CTE) included; none inside a string or a comment."""
    return [a for a in actions(sql) if a.kind in kinds]


def tables(sql: str) -> list[str]:
    """Every table ``sql`` names (acts on, reads, references), in order, once each."""
    found: dict[str, None] = {}
    for statement in _parsed(sql):
        for node in _walk(statement):
            if isinstance(node, ast.RangeVar):
                found.setdefault(_name(node), None)
            elif isinstance(node, ast.DropStmt) and node.removeType == ObjectType.OBJECT_TABLE:
                for parts in node.objects or ():
                    found.setdefault(".".join(quoted(p.sval) for p in parts), None)
    return list(found)


_DATA_STATEMENTS = (ast.SelectStmt, ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt)


def data_statement_names(sql: str) -> list[tuple[frozenset[str], frozenset[str]]]:
    """Per SELECT, INSERT, UPDATE, DELETE or MERGE in ``sql``: the tables it names (bare
    names) and the columns (a reference's last part, an INSERT's or SET's target). Other
    statements, and ``sql`` that does not parse, give nothing."""
    found = []
    for statement in _parsed(sql):
        if not isinstance(statement, _DATA_STATEMENTS):
            continue
        relations: set[str] = set()
        columns: set[str] = set()
        for node in _walk(statement):
            if isinstance(node, ast.RangeVar) and node.relname:
                relations.add(node.relname)
            elif isinstance(node, ast.ColumnRef) and node.fields:
                last = node.fields[-1]
                if isinstance(last, ast.String) and last.sval:
                    columns.add(last.sval)
            elif isinstance(node, ast.ResTarget) and node.name:
                columns.add(node.name)
        found.append((frozenset(relations), frozenset(columns)))
    return found


@dataclass(frozen=True)
class EnumType:
    """A ``CREATE TYPE ... AS ENUM`` in ``sql``: its name (quoted, as written) and values."""

    name: str
    values: tuple[str, ...]


def enum_types(sql: str) -> list[EnumType]:
    """The enum types ``sql`` creates (alembic-postgresql-enum recreates a type whose values
    it removes or renames), in order."""
    return [
        EnumType(
            ".".join(quoted(n.sval) for n in node.typeName or ()),
            tuple(v.sval for v in node.vals or ()),
        )
        for node in _parsed(sql)
        if isinstance(node, ast.CreateEnumStmt)
    ]


def cast_mapped_values(sql: str) -> set[str]:
    """The strings an ``ALTER COLUMN ... TYPE ... USING CASE WHEN col = 'x' THEN ...`` maps
    to another value (an enum value renamed): rows holding them are not lost."""
    found: set[str] = set()
    for statement in _parsed(sql):
        if not isinstance(statement, ast.AlterTableStmt):
            continue
        for cmd in statement.cmds or ():
            if cmd.subtype != AlterTableType.AT_AlterColumnType or cmd.def_ is None:
                continue
            for node in _walk(cmd.def_.raw_default):
                if isinstance(node, ast.CaseWhen) and isinstance(node.expr, ast.A_Expr):
                    constant = node.expr.rexpr
                    value = getattr(getattr(constant, "val", None), "sval", None)
                    if isinstance(constant, ast.A_Const) and isinstance(value, str):
                        found.add(value)
    return found


def clauses_problem(set_sql: str, where_sql: str) -> str | None:
    """Why ``set`` / ``where`` (an ``op.backfill``'s) would not stay inside their own
    clauses of ``UPDATE t SET <set> WHERE <where>``, if so.

    ``set`` must be assignments only and ``where`` one condition, so that no batch can
    reach beyond its key range.
    """
    try:
        update = parse_sql(f"UPDATE t SET {set_sql}\n")
        condition = parse_sql(f"SELECT WHERE {where_sql}\n")
    except ParseError as exc:
        return f"PostgreSQL cannot parse set/where: {pglast_message(exc)}"
    alone = (
        len(update) == 1
        and isinstance(update[0].stmt, ast.UpdateStmt)
        and not (update[0].stmt.whereClause or update[0].stmt.fromClause)
    )
    if not alone:
        return "set must be assignments only (col = expr, ...), with no WHERE, FROM or ;"
    if len(condition) != 1:
        return "where must be one condition, with no ;"
    return None


@lru_cache(maxsize=2048)  # a fleet's plans and a review read the same SQL many times
def _parsed(sql: str) -> tuple[Any, ...]:
    try:
        return tuple(raw.stmt for raw in parse_sql(sql))
    except ParseError:
        return ()


def _actions(sql: str) -> Iterator[Action]:
    for statement in _parsed(sql):
        yield from _of_statement(statement)
        for node in _walk(statement):  # row writes inside it: WITH gone AS (DELETE ...) ...
            if node is not statement and isinstance(
                node, ast.UpdateStmt | ast.DeleteStmt | ast.InsertStmt
            ):
                yield from _of_statement(node)


def _of_statement(node: Any) -> Iterator[Action]:
    if isinstance(node, ast.CreateStmt):
        yield Action(CREATE_TABLE, _name(node.relation))
    elif isinstance(node, ast.CreateTableAsStmt) and node.into is not None:
        yield Action(CREATE_TABLE, _name(node.into.rel))
    elif isinstance(node, ast.DropStmt) and node.removeType == ObjectType.OBJECT_TABLE:
        for parts in node.objects or ():
            yield Action(DROP_TABLE, ".".join(quoted(p.sval) for p in parts))
    elif isinstance(node, ast.RenameStmt) and node.relation is not None:
        table = _name(node.relation)
        if node.renameType == ObjectType.OBJECT_COLUMN:
            yield Action(RENAME_COLUMN, table, column=node.subname)
        elif node.renameType == ObjectType.OBJECT_TABLE:
            yield Action(RENAME_TABLE, table)
    elif isinstance(node, ast.IndexStmt):
        yield Action(
            CREATE_INDEX,
            _name(node.relation),
            columns=tuple(e.name for e in node.indexParams or () if e.name),
            constraint=node.idxname,
            concurrently=bool(node.concurrent),
            unique=bool(node.unique or node.primary),
            expression=_sql(node.whereClause),
        )
    elif isinstance(node, ast.AlterTableStmt) and node.objtype == ObjectType.OBJECT_TABLE:
        table = _name(node.relation)
        for cmd in node.cmds or ():
            yield _of_alter(table, cmd)
    elif isinstance(node, ast.UpdateStmt):
        yield Action(UPDATE, _name(node.relation))
    elif isinstance(node, ast.DeleteStmt):
        yield Action(DELETE, _name(node.relation))
    elif isinstance(node, ast.InsertStmt):
        yield Action(INSERT, _name(node.relation))
    elif isinstance(node, ast.CreateTrigStmt):
        yield Action(CREATE_TRIGGER, _name(node.relation), constraint=node.trigname)
    elif isinstance(node, ast.DropStmt) and node.removeType == ObjectType.OBJECT_TRIGGER:
        for *table, trigger in node.objects or ():
            name = ".".join(quoted(p.sval) for p in table)
            yield Action(DROP_TRIGGER, name, constraint=trigger.sval)
    elif isinstance(node, ast.ViewStmt):
        yield Action(CREATE_VIEW, _name(node.view))
    elif isinstance(node, ast.DoStmt):  # its schema changes; its row writes are its own
        for statement in _do_block_statements(node):
            yield from (a for a in _actions(statement) if a.kind not in ROW_WRITES)
    elif isinstance(node, ast.TruncateStmt):
        for relation in node.relations or ():
            yield Action(TRUNCATE, _name(relation))


def _do_block_statements(node: Any) -> list[str]:
    """The SQL statements a PL/pgSQL ``DO`` block runs when nothing fails (its exception
    handlers left out): alembic_utils replaces a view inside one. Its row writes are left to
    the block (a loop that commits in batches is the safe way, not a plain rewrite)."""
    options = {o.defname: o.arg.sval for o in node.args or () if isinstance(o.arg, ast.String)}
    if options.get("language", "plpgsql") != "plpgsql" or "as" not in options:
        return []
    wrapped = (
        f"CREATE FUNCTION f() RETURNS void AS $tfsync${options['as']}$tfsync$ LANGUAGE plpgsql"
    )
    try:
        parsed = parse_plpgsql(wrapped)
    except ParseError:
        return []
    return list(_execsql(parsed))


def _execsql(tree: Any) -> Iterator[str]:
    if isinstance(tree, list):
        for item in tree:
            yield from _execsql(item)
    elif isinstance(tree, dict):
        for key, value in tree.items():
            if key == "PLpgSQL_stmt_execsql":
                yield value["sqlstmt"]["PLpgSQL_expr"]["query"]
            elif key != "exceptions":
                yield from _execsql(value)


def _of_alter(table: str, cmd: Any) -> Action:
    kind = cmd.subtype
    if kind == AlterTableType.AT_AddColumn:
        return _added_column(table, cmd.def_)
    if kind == AlterTableType.AT_DropColumn:
        return Action(DROP_COLUMN, table, column=cmd.name)
    if kind == AlterTableType.AT_AlterColumnType:
        column = cmd.def_
        return Action(
            ALTER_TYPE,
            table,
            column=cmd.name,
            expression=_sql(column.raw_default) if column is not None else None,
            type_name=_sql(column.typeName) if column is not None else None,
        )
    if kind == AlterTableType.AT_SetNotNull:
        return Action(SET_NOT_NULL, table, column=cmd.name)
    if kind == AlterTableType.AT_ColumnDefault:
        return Action(SET_DEFAULT, table, column=cmd.name, has_default=cmd.def_ is not None)
    if kind == AlterTableType.AT_ValidateConstraint:
        return Action(VALIDATE_CONSTRAINT, table, constraint=cmd.name)
    if kind == AlterTableType.AT_AddConstraint:
        c = cmd.def_
        return Action(
            ADD_CONSTRAINT,
            table,
            columns=tuple(k.sval for k in c.fk_attrs or c.keys or ()),
            constraint=c.conname,
            constraint_type=_CONSTRAINT_TYPES.get(c.contype, OTHER_CONSTRAINT),
            not_valid=bool(c.skip_validation),
            unique=c.contype in (ConstrType.CONSTR_UNIQUE, ConstrType.CONSTR_PRIMARY),
            references=_name(c.pktable) if c.pktable is not None else None,
            ref_columns=tuple(k.sval for k in c.pk_attrs or ()),
            expression=_sql(c.raw_expr),
        )
    return Action(OTHER_ALTER, table, column=cmd.name)


def _added_column(table: str, column: Any) -> Action:
    kinds = {c.contype for c in column.constraints or ()}
    serial = column.typeName is not None and column.typeName.names[-1].sval.lower() in {
        "serial",
        "bigserial",
        "smallserial",
        "serial4",
        "serial8",
        "serial2",
    }
    filled = serial or bool(
        kinds & {ConstrType.CONSTR_DEFAULT, ConstrType.CONSTR_IDENTITY, ConstrType.CONSTR_GENERATED}
    )
    return Action(
        ADD_COLUMN,
        table,
        column=column.colname,
        not_null=bool(
            column.is_not_null or kinds & {ConstrType.CONSTR_NOTNULL, ConstrType.CONSTR_PRIMARY}
        ),
        has_default=filled,
        unique=bool(kinds & {ConstrType.CONSTR_UNIQUE, ConstrType.CONSTR_PRIMARY}),
    )


def _name(relation: Any) -> str:
    if relation.schemaname:
        return f"{quoted(relation.schemaname)}.{quoted(relation.relname)}"
    return quoted(relation.relname)


def _sql(node: Any) -> str | None:
    return RawStream()(node) if node is not None else None


def _walk(node: Any) -> Iterator[Any]:
    """Every AST node under ``node``, depth first."""
    if isinstance(node, tuple | list):
        for item in node:
            yield from _walk(item)
        return
    if not isinstance(node, ast.Node):
        return
    yield node
    for attr in node:
        yield from _walk(getattr(node, attr))
