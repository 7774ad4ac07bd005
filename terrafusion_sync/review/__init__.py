"""The review gate: lint, one head, and no drift between models and migrations."""

from terrafusion_sync.review.findings import Finding, format_json, format_text
from terrafusion_sync.review.runner import run_review

__all__ = ["Finding", "format_json", "format_text", "run_review"]
