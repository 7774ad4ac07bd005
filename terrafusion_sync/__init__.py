"""TerraFusion Sync: county property-assessment records kept in sync in PostgreSQL."""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
"""The package folder: home of ``alembic.ini`` and ``alembic_migrations/``."""
ALEMBIC_INI = PACKAGE_DIR / "alembic.ini"
VERSIONS_DIR = PACKAGE_DIR / "alembic_migrations" / "versions"
"""Where revision files are written and read (``TFSYNC_VERSIONS_DIR`` points elsewhere)."""

__all__ = ["ALEMBIC_INI", "PACKAGE_DIR", "VERSIONS_DIR"]
