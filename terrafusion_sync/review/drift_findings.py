"""Drift, both ways, as findings at the model that defines the table (or column)."""

from __future__ import annotations

import inspect
from pathlib import Path

from terrafusion_sync import core_models
from terrafusion_sync.migrations.authoring.drift import Drift
from terrafusion_sync.review.findings import Finding
from terrafusion_sync.settings import shown_path

ONLY_IN_MODELS = "TF201"
ONLY_IN_MIGRATIONS = "TF202"
MODELS_DIFFER = "TF203"


def drift_finding(drift: Drift) -> Finding:
    """A drift as a finding at the model that defines the table (or column)."""
    path, line = model_location(drift.table, drift.column)
    if drift.side == "models":
        return Finding(
            path,
            line,
            ONLY_IN_MODELS,
            f"{drift.description}: no revision creates it",
            'generate one: make revision M="..."',
        )
    if drift.side == "migrations":
        return Finding(
            path,
            line,
            ONLY_IN_MIGRATIONS,
            f"{drift.description}: the models do not reflect a revision",
            "update the model, or remove the revision if it is not yet deployed",
        )
    return Finding(
        path,
        line,
        MODELS_DIFFER,
        drift.description,
        'align the model, or generate a revision: make revision M="..."',
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
