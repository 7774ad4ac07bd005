"""Drift, both ways, as findings at the model that defines the table (or column)."""

from __future__ import annotations

import inspect
from pathlib import Path

from terrafusion_sync import core_models
from terrafusion_sync.migrations.authoring.drift import Drift
from terrafusion_sync.review import codes
from terrafusion_sync.review.findings import Finding
from terrafusion_sync.settings import shown_path


def drift_finding(drift: Drift) -> Finding:
    """A drift as a finding at the model that defines the table (or column)."""
    path, line = model_location(drift.table, drift.column)
    if drift.side == "models":
        return Finding(
            path,
            line,
            codes.ONLY_IN_MODELS.code,
            f"{drift.description}: no revision creates it",
            codes.ONLY_IN_MODELS.hint(),
        )
    if drift.side == "migrations":
        return Finding(
            path,
            line,
            codes.ONLY_IN_MIGRATIONS.code,
            f"{drift.description}: the models do not reflect a revision",
            codes.ONLY_IN_MIGRATIONS.hint(),
        )
    return Finding(
        path,
        line,
        codes.MODELS_DIFFER.code,
        drift.description,
        codes.MODELS_DIFFER.hint(),
    )


def model_location(table: str, column: str | None) -> tuple[str, int]:
    """Where a table's model (and the column in it) is written; the models file if unknown."""
    models_path = shown_path(Path(inspect.getfile(core_models)))
    for mapper in core_models.Base.registry.mappers:
        if getattr(mapper.class_, "__tablename__", None) != table:
            continue
        lines, start = inspect.getsourcelines(mapper.class_)
        for offset, text in enumerate(lines):
            if column and text.strip().startswith(f"{column}:"):
                return models_path, start + offset
        return models_path, start
    return models_path, 1
