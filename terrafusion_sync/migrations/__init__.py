"""The migrations core: every entry point (CLI, nox, make, scripts, pre-commit, tests) calls it.

Its names load their module on first use (PEP 562), so a command imports only what it
needs: ``tfsync upgrade`` at head answers from :mod:`.deploy.uptodate` before Alembic is imported.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names' real types for type checkers (explicit re-exports)
    from terrafusion_sync.migrations.authoring.drift import Drift as Drift
    from terrafusion_sync.migrations.authoring.drift import compare_models as compare_models
    from terrafusion_sync.migrations.authoring.revision import (
        create_initial_revision as create_initial_revision,
    )
    from terrafusion_sync.migrations.authoring.revision import revision as revision
    from terrafusion_sync.migrations.deploy.contract import (
        count_old_statements as count_old_statements,
    )
    from terrafusion_sync.migrations.deploy.guard import DataLossError as DataLossError
    from terrafusion_sync.migrations.deploy.history import read as read_history
    from terrafusion_sync.migrations.deploy.timeouts import Timeouts as Timeouts
    from terrafusion_sync.migrations.deploy.upgrade import downgrade as downgrade
    from terrafusion_sync.migrations.deploy.upgrade import downgrade_target as downgrade_target
    from terrafusion_sync.migrations.deploy.upgrade import upgrade as upgrade
    from terrafusion_sync.migrations.deploy.validation import Validation as Validation
    from terrafusion_sync.migrations.deploy.validation import accept as accept
    from terrafusion_sync.migrations.deploy.validation import validate as validate
    from terrafusion_sync.migrations.outcome import Outcome as Outcome
    from terrafusion_sync.migrations.planning.plan import Plan as Plan
    from terrafusion_sync.migrations.planning.plan import plan as plan
    from terrafusion_sync.migrations.plumbing.commands import DatabaseStatus as DatabaseStatus
    from terrafusion_sync.migrations.plumbing.commands import current_revisions as current_revisions
    from terrafusion_sync.migrations.plumbing.commands import status as status
    from terrafusion_sync.migrations.plumbing.commands import upgrade_sql as upgrade_sql
    from terrafusion_sync.migrations.plumbing.config import alembic_config as alembic_config
    from terrafusion_sync.migrations.plumbing.config import script_directory as script_directory
    from terrafusion_sync.migrations.testdb import Prepared as Prepared
    from terrafusion_sync.migrations.testdb import prepare_test_database as prepare_test_database

_EXPORTS = {
    "DatabaseStatus": "plumbing.commands",
    "count_old_statements": "deploy.contract",
    "create_initial_revision": "authoring.revision",
    "current_revisions": "plumbing.commands",
    "downgrade": "deploy.upgrade",
    "downgrade_target": "deploy.upgrade",
    "revision": "authoring.revision",
    "status": "plumbing.commands",
    "Outcome": "outcome",
    "upgrade": "deploy.upgrade",
    "upgrade_sql": "plumbing.commands",
    "alembic_config": "plumbing.config",
    "script_directory": "plumbing.config",
    "Drift": "authoring.drift",
    "compare_models": "authoring.drift",
    "DataLossError": "deploy.guard",
    "read_history": "deploy.history",
    "Plan": "planning.plan",
    "plan": "planning.plan",
    "Prepared": "testdb",
    "prepare_test_database": "testdb",
    "Timeouts": "deploy.timeouts",
    "Validation": "deploy.validation",
    "accept": "deploy.validation",
    "validate": "deploy.validation",
}
_RENAMED = {"read_history": "read"}

# literal, so that type checkers see the re-exports; tests/test_code_shape.py checks it
__all__ = [
    "DataLossError",
    "DatabaseStatus",
    "Drift",
    "Outcome",
    "Plan",
    "Prepared",
    "Timeouts",
    "Validation",
    "accept",
    "alembic_config",
    "compare_models",
    "count_old_statements",
    "create_initial_revision",
    "current_revisions",
    "downgrade",
    "downgrade_target",
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


def __getattr__(name: str) -> Any:
    """Import the module that defines ``name`` on first use, then keep the name here."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), _RENAMED.get(name, name))
    globals()[name] = value
    return value
