"""The migrations core: every entry point (CLI, nox, make, scripts, pre-commit, tests) calls it.

Its names load their module on first use (PEP 562), so a command imports only what it
needs: ``tfsync upgrade`` at head answers from :mod:`.deploy.uptodate` before Alembic is imported.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Status": "plumbing.commands",
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

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the module that defines ``name`` on first use, then keep the name here."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), _RENAMED.get(name, name))
    globals()[name] = value
    return value
