"""Fixtures: the package's pytest plugin, shared with every project that tests this schema.

Every test runs against real PostgreSQL: ``TEST_DATABASE_URL`` when set, else the
embedded cluster's ``terrafusion_sync_test``. See :mod:`terrafusion_sync.testing` for
``test_database_url``, ``engine``, ``db_session``, ``fresh_database``, ``scratch_url`` and
``migration_runner``.
"""

pytest_plugins = ["terrafusion_sync.testing"]
