"""Views, functions and triggers in autogenerate, through alembic_utils.

alembic_utils compares an entity by creating it on the database being compared and reading
back what PostgreSQL made of it. Its comparator runs here inside one savepoint that is
always rolled back, so a comparison leaves nothing behind whatever the library does
(it opens savepoints it never closes). Where the library falls short, this module is the
one place that works around it (``tests/test_entities.py`` names each upstream issue):

- alembic_utils issue 41: a view on a table or column added in the same revision cannot be
  created to compare it. Inside the savepoint, the tables and columns the models add are
  created first (then rolled back with the rest).
- alembic_utils issues 89 and 169: drops and creates of dependent entities come out in
  registration order, and before the tables of the same revision. :func:`in_dependency_order`
  puts drops first (triggers, views, then functions: before a table they stand on is
  dropped) and creates and replacements last, functions before the views and triggers that
  call them.
- Cost: the library works out what PostgreSQL makes of each entity twice in a row;
  :func:`~terrafusion_sync.compat.each_entity_definition_once` keeps the first answer for
  the comparison.
- A view PostgreSQL rejects surfaces as a database error from deep inside the library:
  it becomes one :class:`~terrafusion_sync.errors.MigrationError` naming the entity.
- The library leaves out the functions an extension owns, not its views: with
  ``pg_stat_statements`` installed in ``public`` (its default), every comparison would
  drop ``pg_stat_statements`` and ``pg_stat_statements_info``, which PostgreSQL then
  refuses (liquibase and sqlalchemy-declarative-extensions fixed the same in their own
  code). :func:`_leave_extension_views` takes those drops out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache, partial
from typing import Any

from alembic.autogenerate import comparators
from alembic.autogenerate.api import AutogenContext
from alembic.operations.ops import MigrateOperation, MigrationScript, UpgradeOps
from alembic_utils import replaceable_entity
from alembic_utils.pg_function import PGFunction
from alembic_utils.pg_materialized_view import PGMaterializedView
from alembic_utils.pg_trigger import PGTrigger
from alembic_utils.pg_view import PGView
from alembic_utils.replaceable_entity import ReplaceableEntity, register_entities
from alembic_utils.reversible_op import DropOp, ReversibleOp
from sqlalchemy import MetaData, inspect, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, NestedTransaction
from sqlalchemy.schema import CreateColumn, SchemaItem

from terrafusion_sync import compat
from terrafusion_sync.database import quoted
from terrafusion_sync.errors import MigrationError, first_line

Comparator = Callable[[AutogenContext, UpgradeOps, list[str | None]], Any]

KINDS = (PGFunction, PGTrigger, PGView, PGMaterializedView)
"""The kinds of entity compared: what ``db_objects.py`` may declare."""
_DROP_ORDER = (PGTrigger, PGView, PGMaterializedView, PGFunction)
_CREATE_ORDER = (PGFunction, PGView, PGMaterializedView, PGTrigger)


def register(entities: Iterable[ReplaceableEntity]) -> None:
    """Make autogenerate compare ``entities``, and only them, from now on."""
    replaceable_entity.registry.clear()  # type: ignore[no-untyped-call]  # unannotated there
    # only the kinds the project uses: the library otherwise reads every kind it knows
    # (grants, policies, extensions) from the catalog at every comparison
    register_entities(list(entities), entity_types=KINDS)
    _wrap_library_comparator()


def registered() -> list[ReplaceableEntity]:
    """The entities autogenerate compares now."""
    return replaceable_entity.registry.entities()


def in_dependency_order(script: MigrationScript) -> None:
    """Order the entity operations of ``script`` so that each finds what it depends on
    (alembic_utils issues 89 and 169); the caller derives the downgrade from that order."""
    for upgrade_ops in script.upgrade_ops_list:
        ops: list[MigrateOperation] = upgrade_ops.ops
        if not any(isinstance(op, ReversibleOp) for op in ops):
            continue
        drops = sorted((op for op in ops if isinstance(op, DropOp)), key=_rank(_DROP_ORDER))
        tables = [op for op in ops if not isinstance(op, ReversibleOp)]
        creates = [op for op in ops if isinstance(op, ReversibleOp) and op not in drops]
        upgrade_ops.ops = [*drops, *tables, *sorted(creates, key=_rank(_CREATE_ORDER))]


def _rank(order: tuple[type[ReplaceableEntity], ...]) -> Callable[[MigrateOperation], int]:
    def rank(op: MigrateOperation) -> int:
        target = getattr(op, "target", None)
        return next((i for i, kind in enumerate(order) if isinstance(target, kind)), len(order))

    return rank


@cache
def _wrap_library_comparator() -> None:
    """Replace alembic_utils' comparator among Alembic's by :func:`_in_savepoint` of it,
    once."""
    original = replaceable_entity.compare_registered_entities
    if not compat.replace_comparator(comparators, original, _in_savepoint(original)):
        raise MigrationError(
            "alembic_utils' comparator is not among Alembic's, where tfsync wraps it",
            "install the alembic and alembic-utils versions pyproject.toml allows",
        )


def _in_savepoint(compare: Comparator) -> Comparator:
    def compare_entities(
        autogen_context: AutogenContext, upgrade_ops: UpgradeOps, schemas: list[str | None]
    ) -> None:
        conn = autogen_context.connection
        assert conn is not None
        # the library reads this option, which Alembic leaves unset unless env.py sets it
        # (pytest-alembic's own comparisons do not)
        autogen_context.opts.setdefault("include_schemas", False)
        savepoint = conn.begin_nested()
        try:
            _add_what_the_models_add(conn, autogen_context.metadata)
            with compat.each_entity_definition_once():
                compare(autogen_context, upgrade_ops, schemas)
            _leave_extension_views(conn, upgrade_ops)
        except sa_exc.DBAPIError as exc:
            _roll_back(conn, savepoint)
            raise _rejected_entity(conn, exc, autogen_context.metadata) from exc
        finally:
            _roll_back(conn, savepoint)

    return compare_entities


_EXTENSION_VIEWS = text(
    "SELECT n.nspname, c.relname FROM pg_depend d"
    " JOIN pg_class c ON c.oid = d.objid JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e' AND c.relkind IN ('v', 'm')"
)


def _leave_extension_views(conn: Connection, upgrade_ops: UpgradeOps) -> None:
    """Take out the drops of views an extension owns: they are the extension's, not ours."""
    owned = {(schema, name) for schema, name in conn.execute(_EXTENSION_VIEWS)}
    if not owned:
        return
    upgrade_ops.ops = [
        op
        for op in upgrade_ops.ops
        if not (
            isinstance(op, DropOp)
            and isinstance(op.target, PGView | PGMaterializedView)
            and (op.target.schema, op.target.signature) in owned
        )
    ]


def _roll_back(conn: Connection, savepoint: NestedTransaction) -> None:
    """Roll back ``savepoint`` and the savepoints the library opened inside it and left open."""
    while (inner := conn.get_nested_transaction()) is not None and inner is not savepoint:
        inner.rollback()
    if savepoint.is_active:
        savepoint.rollback()


def _add_what_the_models_add(conn: Connection, metadata: Any) -> None:
    """Create the tables and columns of ``metadata`` the database lacks (alembic_utils
    issue 41), so that entities standing on them can be created to compare them. Each in a
    savepoint of its own: one PostgreSQL refuses (a table renamed in the database, whose
    index keeps the name) is left out, and the comparison of tables reports it."""
    inspector = inspect(conn)
    for meta in metadata if isinstance(metadata, list | tuple) else [metadata]:
        if not isinstance(meta, MetaData):
            continue
        existing = set(inspector.get_table_names())
        missing = [t for t in meta.sorted_tables if t.name not in existing and t.schema is None]
        for table in missing:
            _if_accepted(conn, partial(meta.create_all, conn, tables=[table], checkfirst=True))
        for table in meta.sorted_tables:
            if table.name not in existing or table.schema is not None:
                continue
            have = {column["name"] for column in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name not in have:
                    _if_accepted(conn, partial(_add_column, conn, table.name, column))


def _if_accepted(conn: Connection, change: Callable[[], None]) -> None:
    savepoint = conn.begin_nested()
    try:
        change()
    except sa_exc.DBAPIError:
        savepoint.rollback()
    else:
        savepoint.commit()


def _add_column(conn: Connection, table: str, column: Any) -> None:
    kind = column.type
    if isinstance(kind, SchemaItem) and hasattr(kind, "create"):
        kind.create(conn, checkfirst=True)  # a new enum type
    ddl = CreateColumn(column).compile(dialect=conn.dialect)
    conn.execute(text(f"ALTER TABLE {quoted(table)} ADD {ddl}"))


def _rejected_entity(conn: Connection, error: sa_exc.DBAPIError, metadata: Any) -> Exception:
    """Which registered entity PostgreSQL rejects: created one by one, in a savepoint, each
    after those it may depend on. The original error when every one is accepted."""
    pending = registered()
    last: tuple[ReplaceableEntity, BaseException] | None = None
    savepoint = conn.begin_nested()
    try:
        _add_what_the_models_add(conn, metadata)
        while pending:
            accepted, last = _create_those_accepted(conn, pending)
            pending = [entity for entity in pending if entity not in accepted]
            if not accepted:
                break
    finally:
        _roll_back(conn, savepoint)
    if not pending or last is None:
        return error
    entity, reason = last
    return MigrationError(
        f"{entity.type_} {entity.schema}.{entity.signature} (db_objects.py): PostgreSQL "
        f"rejects it: {first_line(reason)}",
        "fix its SQL in terrafusion_sync/db_objects.py; nothing was written",
    )


def _create_those_accepted(
    conn: Connection, entities: list[ReplaceableEntity]
) -> tuple[list[ReplaceableEntity], tuple[ReplaceableEntity, BaseException] | None]:
    accepted: list[ReplaceableEntity] = []
    rejected = None
    for entity in entities:
        savepoint = conn.begin_nested()
        try:
            _drop_if_there(conn, entity)
            conn.execute(entity.to_sql_statement_create())
        except sa_exc.DBAPIError as exc:
            savepoint.rollback()
            rejected = rejected or (entity, exc.orig or exc)
        else:
            savepoint.commit()
            accepted.append(entity)
    return accepted, rejected


def _drop_if_there(conn: Connection, entity: ReplaceableEntity) -> None:
    """Drop ``entity`` when the database has it (as the library does before creating it)."""
    savepoint = conn.begin_nested()
    try:
        conn.execute(entity.to_sql_statement_drop(cascade=True))
    except sa_exc.DBAPIError:
        savepoint.rollback()
    else:
        savepoint.commit()
