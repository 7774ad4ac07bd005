"""The migrations core: every entry point (CLI, nox, make, scripts, pre-commit, tests) calls it."""

from terrafusion_sync.migrations.commands import (
    Status,
    create_initial_revision,
    downgrade,
    revision,
    status,
    upgrade,
    upgrade_sql,
)
from terrafusion_sync.migrations.config import alembic_config, script_directory
from terrafusion_sync.migrations.drift import Drift, compare_models
from terrafusion_sync.migrations.testdb import Prepared, prepare_test_database

__all__ = [
    "Drift",
    "Prepared",
    "Status",
    "alembic_config",
    "compare_models",
    "create_initial_revision",
    "downgrade",
    "prepare_test_database",
    "revision",
    "script_directory",
    "status",
    "upgrade",
    "upgrade_sql",
]
