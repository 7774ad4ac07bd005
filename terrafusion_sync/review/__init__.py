"""The review gate: lint, structure, drift, stairway, unsafe operations, sealed history.

Its names load their module on first use (PEP 562, as :mod:`terrafusion_sync.migrations`
does), so importing one of its modules (the test fixtures read :mod:`.seal`) does not
load every check and the SQL parser with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names' real types for type checkers (explicit re-exports)
    from terrafusion_sync.review.findings import Finding as Finding
    from terrafusion_sync.review.findings import format_json as format_json
    from terrafusion_sync.review.findings import format_text as format_text
    from terrafusion_sync.review.gate import Review as Review
    from terrafusion_sync.review.gate import review as review
    from terrafusion_sync.review.seal import seal_chain as seal_chain

_EXPORTS = {
    "Finding": "findings",
    "format_json": "findings",
    "format_text": "findings",
    "Review": "gate",
    "review": "gate",
    "seal_chain": "seal",
}

# literal, so that type checkers see the re-exports; tests/test_code_shape.py checks it
__all__ = [
    "Finding",
    "Review",
    "format_json",
    "format_text",
    "review",
    "seal_chain",
]


def __getattr__(name: str) -> Any:
    """Import the module that defines ``name`` on first use, then keep the name here."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
