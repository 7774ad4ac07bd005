"""One database's upgrade, in a worker process (see :mod:`.pool` for why processes).

It goes through :func:`terrafusion_sync.migrations.upgrade`, exactly as ``make upgrade``
does (lock, timeouts, history, validation); its progress lines go to ``report``, which
:mod:`.pool` sends back to the parent.
Everything it needs is imported here, at the top, so that the fork server loads it once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from terrafusion_sync import migrations
from terrafusion_sync.errors import TfsyncError, first_line
from terrafusion_sync.fleet.jobs import Finished, Job
from terrafusion_sync.migrations.deploy import runner  # noqa: F401  (loaded by the fork server)


def upgrade_one(job: Job, report: Callable[[str], None]) -> Finished:
    """Upgrade one database as ``job`` says, its progress lines to ``report``; a failure of
    that database is in the result (its one-line error), never raised."""
    name, started = job.name, time.perf_counter()
    try:
        outcome = asyncio.run(
            migrations.upgrade(
                job.url,
                job.target,
                # the parent has just done the one-query check an upgrade without a config would
                # do first (the runner does it again under its lock)
                cfg=migrations.alembic_config(versions_dir=job.versions_dir),
                report=report,
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
