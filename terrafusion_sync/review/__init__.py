"""The review gate: lint, structure, drift, stairway, unsafe operations, sealed history."""

from terrafusion_sync.review.findings import Finding, format_json, format_text
from terrafusion_sync.review.gate import Review, review
from terrafusion_sync.review.seal import seal_chain

__all__ = ["Finding", "Review", "format_json", "format_text", "review", "seal_chain"]
