"""The review gate: lint, structure, drift, stairway, unsafe operations, sealed history.

Its names load their module on first use (PEP 562, as :mod:`terrafusion_sync.migrations`
does), so importing one of its modules (the test fixtures read :mod:`.seal`) does not
load every check and the SQL parser with it.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Finding": "findings",
    "format_json": "findings",
    "format_text": "findings",
    "Review": "gate",
    "review": "gate",
    "seal_chain": "seal",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the module that defines ``name`` on first use, then keep the name here."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
