"""What the migrations core tells ``env.py``, beyond what Alembic itself defines.

Alembic's cookbook hands a connection to ``env.py`` through
``config.attributes["connection"]``, and tools such as pytest-alembic put
``target_metadata`` there too: ``env.py`` treats both as Alembic's template does
(:func:`run_on` is how it uses whatever was handed in). The core needs three more things
when it runs steps, under names of its own so that no other tool's value is ever mistaken
for them. This module is the one place that names them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from alembic.config import Config
from alembic.operations.ops import MigrationScript
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from terrafusion_sync.aio import run_blocking

SKIP_MODELS = "tfsync.skip_models"
"""True when the run only applies steps: ``env.py`` then need not import the models."""
ON_STEP = "tfsync.on_step"
"""Callables for Alembic's ``on_version_apply``: each runs after a step, in its transaction."""

BACKFILLS = "tfsync.backfills"
"""A :class:`StepBackfills`, when the core runs ``op.backfill`` in batches after each step
(:mod:`...backfill`): the revision being applied, and where each call notes its backfill."""

CAPTURED_BACKFILLS = "tfsync_captured_backfills"
"""In the ``opts`` of an offline ``MigrationContext``: a list where ``op.backfill`` puts its
call instead of rendering it, when the core reads what a revision file asks now
(:mod:`...backfill.mending`)."""

ENTITIES = "tfsync.entities"
"""The views, functions and triggers autogenerate compares, when a caller hands in others
than ``db_objects.ENTITIES`` (as ``target_metadata`` hands in other models)."""

StepCallback = Callable[..., None]


@dataclass
class StepBackfills:
    """What the core tells ``op.backfill`` while it applies steps.

    Alembic hands an operation no revision: the core, which yields each step to Alembic,
    names the step's revision here just before it runs, and each ``op.backfill`` of that
    step notes its revision in ``recorded`` once it has recorded its backfill.
    """

    revision: str | None = None
    """The revision whose ``upgrade()`` is running now."""
    recorded: list[str] = field(default_factory=list)


def skip_models(cfg: Config) -> bool:
    """Whether ``env.py`` may leave the models unimported (see :data:`SKIP_MODELS`)."""
    return bool(cfg.attributes.get(SKIP_MODELS))


def on_step(cfg: Config) -> Sequence[StepCallback]:
    """The core's callbacks for ``on_version_apply`` (none under plain ``alembic``)."""
    return tuple(cfg.attributes.get(ON_STEP, ()))


def step_backfills(cfg: Config | None) -> StepBackfills | None:
    """The step being applied and where ``op.backfill`` notes a backfill it recorded for the
    core to run once the step has committed; None elsewhere (plain ``alembic``, the review's
    stairway), where it runs it in the step, as one statement."""
    found = cfg.attributes.get(BACKFILLS) if cfg is not None else None
    return found if isinstance(found, StepBackfills) else None


def captured_backfills(context: MigrationContext) -> list[Any] | None:
    """Where ``op.backfill`` puts its call when the core only reads a revision's calls."""
    found = context.opts.get(CAPTURED_BACKFILLS)
    return found if isinstance(found, list) else None


@contextmanager
def steps_on(
    cfg: Config,
    connection: Connection,
    on_step: Sequence[StepCallback] = (),
    *,
    backfills: StepBackfills | None = None,
) -> Iterator[None]:
    """While the block runs, ``env.py`` applies steps on ``connection``, without the models,
    calling ``on_step`` after each; everything set here is removed afterwards."""
    given = {
        "connection": connection,
        SKIP_MODELS: True,
        ON_STEP: tuple(on_step),
        BACKFILLS: backfills,
    }
    cfg.attributes.update(given)
    try:
        yield
    finally:
        for key in given:
            cfg.attributes.pop(key, None)


def run_on(connectable: Any, run: Callable[[Connection], None]) -> None:
    """Call ``run`` (``env.py``'s ``do_run_migrations``) on what a caller handed in as
    ``config.attributes["connection"]``, as Alembic's cookbook and pytest-alembic use it.

    A ``Connection`` is used as it is (the core; the cookbook's connection sharing). An
    ``AsyncEngine`` runs ``run`` through ``run_sync`` on a connection of its own, then lets
    its pool go, since that pool's event loop ends here (pytest-alembic's asyncio recipe).
    Anything else is connected to with its ``connect()``: an ``Engine``, or pytest-alembic's
    wrapper around a connection it keeps in a transaction.
    """
    if isinstance(connectable, Connection):
        run(connectable)
    elif isinstance(connectable, AsyncEngine):
        run_blocking(_run_async(connectable, run))
    else:
        with connectable.connect() as connection:
            run(connection)


async def _run_async(engine: AsyncEngine, run: Callable[[Connection], None]) -> None:
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run)
    finally:
        await engine.dispose()


def compare_database_objects(cfg: Config) -> None:
    """Before autogenerate compares: let it see enum types, views, functions and triggers
    (``db_objects.py``, or those handed in as :data:`ENTITIES`) too. Imported here, not at
    the top, so that a run that only applies steps loads neither library."""
    from terrafusion_sync.migrations import entities

    entities.compare_with_models(cfg.attributes.get(ENTITIES))


def arrange(script: MigrationScript) -> None:
    """A new revision's operations, ordered so PostgreSQL accepts them (enum appends first,
    entities after what they stand on); see :mod:`terrafusion_sync.migrations.entities`."""
    from terrafusion_sync.migrations import entities

    entities.arrange(script)
