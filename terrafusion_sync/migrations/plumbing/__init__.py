"""Alembic plumbing: the configuration, what the core tells ``env.py``, revision files and
their checksums, and driving Alembic on one connection."""
