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
from terrafusion_sync.migrations.guard import DataLossError
from terrafusion_sync.migrations.history import read as read_history
from terrafusion_sync.migrations.plan import Plan, plan
from terrafusion_sync.migrations.testdb import Prepared, prepare_test_database
from terrafusion_sync.migrations.timeouts import Timeouts
from terrafusion_sync.migrations.validate import Validation, accept, validate

__all__ = [
    "DataLossError",
    "Drift",
    "Plan",
    "Prepared",
    "Status",
    "Timeouts",
    "Validation",
    "accept",
    "alembic_config",
    "compare_models",
    "create_initial_revision",
    "downgrade",
    "plan",
    "prepare_test_database",
    "read_history",
    "revision",
    "script_directory",
    "status",
    "upgrade",
    "upgrade_sql",
    "validate",
]
