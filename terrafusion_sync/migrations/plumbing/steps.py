"""Many upgrades and downgrades on one connection, with the revision files loaded once.

``alembic.command.upgrade`` reloads every revision file on each call; stepping through a
chain one revision at a time that way costs the square of its length. :class:`ConnectionMigrator`
runs the same ``env.py`` (through ``config.attributes["connection"]``, as the commands do)
with one :class:`~alembic.script.ScriptDirectory` kept for all steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext, RevisionStep
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from terrafusion_sync.compat import alembic_steps
from terrafusion_sync.migrations.plumbing.config import script_directory
from terrafusion_sync.migrations.plumbing.environment import (
    StepBackfills,
    StepCallback,
    steps_on,
)

StepFunction = Callable[[Any, MigrationContext], Iterable[RevisionStep]]
"""What Alembic's ``EnvironmentContext(fn=...)`` takes: the steps from the current heads."""


def planned_steps(
    scripts: ScriptDirectory, target: str, heads: Any, *, upgrading: bool
) -> list[RevisionStep]:
    """The steps Alembic itself would run from ``heads`` to ``target``, in order (through
    :func:`~terrafusion_sync.compat.alembic_steps`, which wraps Alembic's private API)."""
    return alembic_steps(scripts, target, heads, upgrading=upgrading)


class ConnectionMigrator:
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
        self._run(target, upgrading=True)

    def downgrade(self, target: str) -> None:
        """Undo revisions down to ``target`` (a revision id, ``-1`` or ``base``)."""
        self._run(target, upgrading=False)

    def _run(self, target: str, *, upgrading: bool) -> None:
        if self.connection.in_transaction():
            self.connection.commit()
        try:
            run_env(
                self.cfg,
                self.scripts,
                self.connection,
                lambda heads, _: planned_steps(self.scripts, target, heads, upgrading=upgrading),
                target,
            )
        finally:
            if self.connection.in_transaction():
                self.connection.rollback()


def run_env(
    cfg: Config,
    scripts: ScriptDirectory,
    connection: Connection,
    fn: StepFunction,
    target: str,
    on_step: Sequence[StepCallback] = (),
    *,
    backfills: StepBackfills | None = None,
) -> None:
    """Run ``env.py`` on ``connection`` with Alembic step function ``fn``.

    What ``alembic.command.upgrade`` / ``downgrade`` do, minus reloading the scripts: the
    one place that hands a connection to env.py for a run of steps (see
    :func:`~terrafusion_sync.migrations.plumbing.environment.steps_on`); ``on_step`` callbacks run
    after each step, inside its transaction; with ``backfills``, ``op.backfill`` leaves
    its batches to the caller and notes its revision there (see
    :class:`~terrafusion_sync.migrations.plumbing.environment.StepBackfills`).
    """
    with (
        steps_on(cfg, connection, on_step, backfills=backfills),
        EnvironmentContext(cfg, scripts, fn=fn, as_sql=False, destination_rev=target),
    ):
        scripts.run_env()
