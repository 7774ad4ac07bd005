"""One database's upgrade, in a worker process (see :mod:`.pool` for why processes).

Each goes through :func:`terrafusion_sync.migrations.upgrade`, exactly as ``make upgrade``
does (lock, timeouts, history, validation); its progress lines go back to the parent.
Everything it needs is imported here, at the top, so that the fork server loads it once.
"""

from __future__ import annotations

import asyncio
import functools
import time
from pathlib import Path

from alembic.config import Config

from terrafusion_sync import migrations
from terrafusion_sync.errors import TfsyncError, first_line
from terrafusion_sync.fleet.pool import Finished, Job, say
from terrafusion_sync.migrations.deploy import runner  # noqa: F401  (loaded by the fork server)


@functools.cache
def _config(versions_dir: Path | None) -> Config:
    """The Alembic config, once per worker: the parent has just done the one-query check
    an upgrade without a config would do first (the runner does it again under its lock)."""
    return migrations.alembic_config(versions_dir=versions_dir)


def upgrade_one(job: Job) -> Finished:
    """Upgrade one database as ``job`` says; a failure of that database is in the result
    (its one-line error), never raised."""
    name, started = job.name, time.perf_counter()
    try:
        outcome = asyncio.run(
            migrations.upgrade(
                job.url,
                job.target,
                cfg=_config(job.versions_dir),
                report=lambda line: say(name, line),
                limits=job.limits,
                force=job.force,
                contract=job.contract,
            )
        )
    except TfsyncError as exc:
        return Finished(name, (), (), time.perf_counter() - started, str(exc))
    except Exception as exc:  # one database's surprise must not end the others
        error = f"unexpected {type(exc).__name__}: {first_line(exc)}"
        return Finished(name, (), (), time.perf_counter() - started, error)
    return Finished(name, tuple(outcome.applied), outcome.heads, time.perf_counter() - started)
