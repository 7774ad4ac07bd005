"""Run every review check and collect the findings."""

from __future__ import annotations

import inspect
from pathlib import Path

from alembic.config import Config
from sqlalchemy.engine import URL

from terrafusion_sync import core_models
from terrafusion_sync.database import scratch_database
from terrafusion_sync.migrations import alembic_config, compare_models, script_directory, upgrade
from terrafusion_sync.migrations.drift import Drift
from terrafusion_sync.review.findings import Finding
from terrafusion_sync.review.lint import ruff_findings
from terrafusion_sync.settings import PROJECT_DIR

MULTIPLE_HEADS = "TF101"
ONLY_IN_MODELS = "TF201"
ONLY_IN_MIGRATIONS = "TF202"
MODELS_DIFFER = "TF203"


async def run_review(
    server_url: URL, *, cfg: Config | None = None, lint: bool = True
) -> tuple[list[Finding], int]:
    """Review the project; return the findings and how many revisions were looked at.

    ``server_url`` names the server where a scratch database is migrated for the drift
    check; that database is dropped afterwards, and no other database is touched.
    """
    cfg = cfg or alembic_config()
    scripts = script_directory(cfg)
    revisions = list(scripts.walk_revisions())
    findings = ruff_findings() if lint else []
    heads = scripts.get_heads()
    if len(heads) > 1:
        findings.append(
            Finding(
                _relative(Path(scripts.versions)),
                1,
                MULTIPLE_HEADS,
                f"{len(heads)} heads: {', '.join(sorted(heads))}",
                "merge them with `alembic merge heads -m merge` so deploys have one path",
            )
        )
    else:
        async with scratch_database(server_url, "review") as scratch:
            await upgrade(scratch, "head", cfg=cfg)
            findings.extend(
                drift_finding(d)
                for d in await compare_models(scratch, cfg.attributes.get("target_metadata"))
            )
    return findings, len(revisions)


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
    models_path = _relative(Path(inspect.getfile(core_models)))
    for mapper in core_models.Base.registry.mappers:
        if getattr(mapper.class_, "__tablename__", None) != table:
            continue
        lines, start = inspect.getsourcelines(mapper.class_)
        for offset, text in enumerate(lines):
            if column and text.strip().startswith(f"{column}:"):
                return models_path, start + offset
        return models_path, start
    return models_path, 1


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(PROJECT_DIR))
    except ValueError:
        return str(path)
