"""Alembic configuration, built from the package's ``alembic.ini``."""

from __future__ import annotations

import sys
from argparse import Namespace
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData

from terrafusion_sync import ALEMBIC_INI, VERSIONS_DIR
from terrafusion_sync.migrations.plumbing import environment
from terrafusion_sync.migrations.plumbing.alembic_errors import alembic_errors
from terrafusion_sync.migrations.plumbing.write_hooks import run_own_hooks_in_process

__all__ = [
    "ALEMBIC_INI",
    "VERSIONS_DIR",
    "alembic_config",
    "script_directory",
    "versions_dir",
]


def alembic_config(
    *,
    versions_dir: Path | None = None,
    target_metadata: MetaData | None = None,
    objects: Sequence[Any] | None = None,
    stdout: TextIO | None = None,
) -> Config:
    """The project's Alembic config; ``versions_dir``, ``target_metadata`` and ``objects``
    (views, functions, triggers instead of ``db_objects.ENTITIES``) are for tests."""
    cfg = Config(ALEMBIC_INI, stdout=stdout or sys.stdout, cmd_opts=Namespace(quiet=True))
    cfg.attributes["configure_logger"] = False  # the cookbook's name: our caller logs
    run_own_hooks_in_process(cfg)
    if versions_dir is not None:
        cfg.set_main_option("version_locations", str(versions_dir))
    if target_metadata is not None:
        cfg.attributes["target_metadata"] = target_metadata
    if objects is not None:
        cfg.attributes[environment.ENTITIES] = list(objects)
    return cfg


def versions_dir(cfg: Config) -> Path:
    """The folder new revisions are written to."""
    location = cfg.get_main_option("version_locations")
    return Path(location) if location else VERSIONS_DIR


def script_directory(cfg: Config) -> ScriptDirectory:
    """The revision files, as Alembic sees them."""
    with alembic_errors():
        return ScriptDirectory.from_config(cfg)
