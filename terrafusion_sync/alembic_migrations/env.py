"""Alembic environment for TerraFusion Sync: async (asyncpg), online and offline.

Shaped like Alembic's ``async`` template. Settings come from
:mod:`terrafusion_sync.settings`. A caller may hand in its own connection through
``config.attributes["connection"]`` (the cookbook's connection-sharing recipe, which
pytest-alembic and the migrations core use); plain ``alembic`` connects with the settings.
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

from alembic import context
from alembic.operations.ops import MigrationScript
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from terrafusion_sync.aio import run_blocking
from terrafusion_sync.database import connect
from terrafusion_sync.embedded import database_url
from terrafusion_sync.migrations.backfill import ops as _ops  # noqa: F401 - registers op.backfill
from terrafusion_sync.migrations.plumbing import environment
from terrafusion_sync.migrations.plumbing.tool_tables import include_name
from terrafusion_sync.settings import load_settings

config = context.config

if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def target_metadata() -> MetaData | None:
    """What autogenerate compares with: metadata handed in, else the models.

    A run of the migrations core that only applies steps never compares, and skips
    importing the models (see :mod:`terrafusion_sync.migrations.plumbing.environment`).
    """
    if environment.skip_models(config):
        return None
    environment.compare_database_objects(config)  # enum types, views, functions, triggers
    handed_in: MetaData | None = config.attributes.get("target_metadata")
    if handed_in is not None:
        return handed_in
    from terrafusion_sync.core_models import Base

    return Base.metadata


def drop_empty_autogenerate(ctx: Any, revision: Any, directives: list[MigrationScript]) -> None:
    """Write no file when autogenerate finds no change (Netflix dispatch's recipe)."""
    if not getattr(config.cmd_opts, "autogenerate", False):
        return
    environment.arrange(directives[0])
    if all(ops.is_empty() for ops in directives[0].upgrade_ops_list):
        directives[:] = []
        config.print_stdout("No changes between the models and the database: no revision written.")
        return
    rewrite = environment.rewrite(config)
    if rewrite is not None:  # tfsync revision: a rename becomes expand + contract
        rewrite(ctx, revision, directives)


def configure(**options: Any) -> None:
    """``context.configure`` with the options online and offline runs share."""
    context.configure(
        target_metadata=target_metadata(),
        compare_type=True,
        compare_server_default=True,
        transaction_per_migration=True,
        process_revision_directives=drop_empty_autogenerate,
        include_name=include_name,  # the tooling's own tables are not models
        include_object=environment.include_object(config),
        # Alembic documents "a callable or collection of callables"; its stub names one
        on_version_apply=environment.on_step(config),  # type: ignore[arg-type]
        **options,
    )


def run_migrations_offline() -> None:
    """Emit SQL to the output buffer instead of running it (``--sql``)."""
    configure(dialect_name="postgresql", literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    """Run the migrations on a synchronous connection."""
    configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    """Connect with the settings (``-x test=1``: the test database) and run the migrations."""
    test = context.get_x_argument(as_dictionary=True).get("test", "") not in {"", "0", "false"}
    async with connect(database_url(load_settings(), test=test)) as connection:
        await connection.run_sync(do_run_migrations)


def run_migrations_online() -> None:
    """Run on what a caller handed in (a connection, or an engine: see
    :func:`~terrafusion_sync.migrations.plumbing.environment.run_on`), else on a connection
    made from the settings."""
    connectable = config.attributes.get("connection")
    if connectable is None:
        run_blocking(run_async_migrations())
    else:
        environment.run_on(connectable, do_run_migrations)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
