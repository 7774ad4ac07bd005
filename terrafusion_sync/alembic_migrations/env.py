"""Alembic environment for TerraFusion Sync: async (asyncpg), online and offline.

Settings come from :mod:`terrafusion_sync.settings`. A caller can hand in its own
connection or engine through ``config.attributes["connection"]`` (Alembic's cookbook
recipe, also what pytest-alembic uses); the migrations core does exactly that, so the
``tfsync`` commands and plain ``alembic`` run the same code below.
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

from alembic import context
from alembic.operations.ops import MigrationScript
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from terrafusion_sync.aio import run_blocking
from terrafusion_sync.database import connect, database_url
from terrafusion_sync.migrations.history import include_name
from terrafusion_sync.settings import load_settings

config = context.config
attributes = config.attributes

if config.config_file_name is not None and attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def target_metadata() -> MetaData | None:
    """What autogenerate compares with: the models, unless the caller handed in its own.

    The migrations core hands in None when it applies revisions, which never look at the
    models: importing them all would add to the start-up of every upgrade and downgrade.
    """
    if "target_metadata" in attributes:
        return attributes["target_metadata"]
    from terrafusion_sync.core_models import Base

    return Base.metadata


def drop_empty_autogenerate(ctx: Any, revision: Any, directives: list[MigrationScript]) -> None:
    """Write no file when autogenerate finds no change (unless an empty one was asked for)."""
    autogenerate = attributes.get("autogenerate") or getattr(config.cmd_opts, "autogenerate", False)
    if not autogenerate or attributes.get("allow_empty"):
        return
    script = directives[0]
    if all(ops.is_empty() for ops in script.upgrade_ops_list):
        directives[:] = []
        attributes["revision_skipped"] = True
        if attributes.get("configure_logging", True):  # plain `alembic`: say why nothing came
            print("No changes between the models and the database: no revision written.")


def configure_options() -> dict[str, Any]:
    """Options shared by online and offline runs."""
    return {
        "target_metadata": target_metadata(),
        "compare_type": True,
        "compare_server_default": True,
        "transaction_per_migration": True,
        "process_revision_directives": drop_empty_autogenerate,
        "include_name": include_name,  # the migration history table is not a model
        **(
            {"on_version_apply": attributes["on_version_apply"]}
            if "on_version_apply" in attributes
            else {}
        ),
    }


def run_migrations_offline() -> None:
    """Emit SQL to the output buffer instead of running it (``--sql``)."""
    context.configure(
        dialect_name="postgresql",
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **configure_options(),
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    """Run the migrations on a synchronous connection (inside ``run_sync``)."""
    context.configure(connection=connection, **configure_options())
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations(engine: AsyncEngine) -> None:
    """Open one connection on ``engine`` and run the migrations on it."""
    async with engine.connect() as connection:
        await connection.run_sync(do_run_migrations)


async def run_on_own_engine() -> None:
    """Build the engine from the settings (plain ``alembic``); ``-x test=1`` for the test db."""
    test = context.get_x_argument(as_dictionary=True).get("test", "") not in {"", "0", "false"}
    url = attributes.get("database_url") or database_url(load_settings(), test=test)
    async with connect(url) as connection:
        await connection.run_sync(do_run_migrations)


def run_migrations_online() -> None:
    """Run on the connection or engine handed in, or on one built from the settings."""
    connectable = attributes.get("connection")
    if connectable is None:
        run_blocking(run_on_own_engine())
    elif isinstance(connectable, AsyncEngine):
        run_blocking(run_async_migrations(connectable))
    elif isinstance(connectable, Engine):
        with connectable.connect() as connection:
            do_run_migrations(connection)
    elif isinstance(connectable, Connection):
        do_run_migrations(connectable)
    else:
        raise TypeError(
            "config.attributes['connection'] must be a Connection, Engine or AsyncEngine; "
            "for an AsyncConnection call Alembic inside `await conn.run_sync(...)`"
        )


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
