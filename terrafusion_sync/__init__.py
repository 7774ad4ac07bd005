"""TerraFusion Sync: county property-assessment records kept in sync in PostgreSQL."""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
"""The package folder: home of ``alembic.ini`` and ``alembic_migrations/``."""

__all__ = ["PACKAGE_DIR"]
