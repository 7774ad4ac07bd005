"""The migrations core: every entry point (CLI, nox, make, scripts, pre-commit, tests) calls it.

Its names load their module on first use (PEP 562), so a command imports only what it
needs: ``tfsync upgrade`` at head answers from :mod:`.uptodate` before Alembic is imported.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Status": "commands",
    "create_initial_revision": "commands",
    "current_revisions": "commands",
    "downgrade": "deploy",
    "downgrade_target": "deploy",
    "revision": "commands",
    "status": "commands",
    "Outcome": "deploy",
    "upgrade": "deploy",
    "upgrade_sql": "commands",
    "alembic_config": "config",
    "script_directory": "config",
    "Drift": "drift",
    "compare_models": "drift",
    "DataLossError": "guard",
    "read_history": "history",
    "Plan": "planning",
    "plan": "planning",
    "Prepared": "testdb",
    "prepare_test_database": "testdb",
    "Timeouts": "timeouts",
    "Validation": "validation",
    "accept": "validation",
    "validate": "validation",
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
