"""Many upgrades and downgrades on one connection, with the revision files loaded once.

``alembic.command.upgrade`` reloads every revision file on each call; stepping through a
chain one revision at a time that way costs the square of its length. :class:`Stepper`
runs the same ``env.py`` (through ``config.attributes["connection"]``, as the commands do)
with one :class:`~alembic.script.ScriptDirectory` kept for all steps.
"""

from __future__ import annotations

from typing import Any

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from terrafusion_sync.migrations.config import script_directory


class Stepper:
    """Upgrade and downgrade a database one revision at a time, on one sync connection.

    Use it inside ``AsyncConnection.run_sync``. Each step starts outside any transaction
    (what Alembic's ``transaction_per_migration`` and ``autocommit_block`` need), so a
    failing revision is rolled back and the connection stays usable.
    """

    def __init__(self, cfg: Config, connection: Connection, scripts: ScriptDirectory | None = None):
        self.cfg = cfg
        self.connection = connection
        self.scripts = scripts or script_directory(cfg)

    def upgrade(self, target: str) -> None:
        """Apply revisions up to ``target``."""
        self._run(lambda rev, _: self.scripts._upgrade_revs(target, rev), target)

    def downgrade(self, target: str) -> None:
        """Undo revisions down to ``target`` (a revision id, ``-1`` or ``base``)."""
        self._run(lambda rev, _: self.scripts._downgrade_revs(target, rev), target)

    def _run(self, fn: Any, target: str) -> None:
        if self.connection.in_transaction():
            self.connection.commit()
        try:
            run_env(self.cfg, self.scripts, self.connection, fn, target)
        finally:
            if self.connection.in_transaction():
                self.connection.rollback()


def run_env(
    cfg: Config, scripts: ScriptDirectory, connection: Connection, fn: Any, target: str
) -> None:
    """Run ``env.py`` on ``connection`` with Alembic step function ``fn``.

    What ``alembic.command.upgrade`` / ``downgrade`` do, minus reloading the scripts: the
    one place that hands a connection to env.py for a run of steps. Steps never compare
    with the models, so env.py is told not to import them (unless the caller gave some).
    """
    cfg.attributes["connection"] = connection
    no_models = "target_metadata" not in cfg.attributes
    if no_models:
        cfg.attributes["target_metadata"] = None
    try:
        with EnvironmentContext(cfg, scripts, fn=fn, as_sql=False, destination_rev=target):
            scripts.run_env()
    finally:
        cfg.attributes.pop("connection", None)
        if no_models:
            cfg.attributes.pop("target_metadata", None)
