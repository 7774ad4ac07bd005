"""Upgrade and downgrade: what ``make upgrade`` and ``make downgrade`` call.

An upgrade to head of a database already there is answered by one query
(:mod:`.uptodate`), before Alembic is even imported; anything else is the safe run of
:mod:`.runner`. Both return an :class:`Outcome`: what was applied, and where the database
is now.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import URL

from terrafusion_sync import VERSIONS_DIR
from terrafusion_sync.errors import MigrationError
from terrafusion_sync.migrations.deploy import uptodate
from terrafusion_sync.migrations.deploy.timeouts import Timeouts
from terrafusion_sync.migrations.outcome import Outcome, Report, quiet

if TYPE_CHECKING:
    from alembic.config import Config


async def upgrade(
    url: URL,
    target: str = "head",
    *,
    cfg: Config | None = None,
    versions_dir: Path | None = None,
    report: Report = quiet,
    limits: Timeouts | None = None,
    force: bool = False,
    contract: bool = False,
    allow_data_loss: bool = False,
) -> Outcome:
    """Bring the database to ``target`` safely (see :mod:`.runner`); report each revision.

    A step that is not a contract revision and would drop a table or column holding data is
    refused unless ``allow_data_loss`` (see :mod:`.guard`).

    ``head`` leaves contract revisions waiting (:mod:`..plumbing.phases`); with ``contract``
    they run too, once no old-path write came within the quiet period (:mod:`.contract`),
    or regardless with ``force``.

    The revision files are ``cfg``'s, else those in ``versions_dir`` (default: the
    project's). Without ``cfg``, a database already at head costs one query. When there is
    something to run, a revision that would fail on the rows there (:mod:`.preflight`)
    stops it before any change, unless ``force``.
    """
    if cfg is None:
        heads = await uptodate.current_heads(url, versions_dir or VERSIONS_DIR, target)
        if heads is not None:
            return Outcome([], heads)
    return await _run(
        url,
        target,
        cfg,
        versions_dir,
        upgrading=True,
        report=report,
        limits=limits,
        force=force,
        contract=contract,
        allow_data_loss=allow_data_loss,
    )


async def downgrade(
    url: URL,
    target: str,
    *,
    cfg: Config | None = None,
    versions_dir: Path | None = None,
    report: Report = quiet,
    limits: Timeouts | None = None,
    allow_data_loss: bool = False,
) -> Outcome:
    """Step the database back to ``target`` (required: there is no default).

    A step that would drop a table or column holding rows is refused unless
    ``allow_data_loss`` (see :mod:`.guard`).
    """
    return await _run(
        url,
        downgrade_target(target),
        cfg,
        versions_dir,
        upgrading=False,
        report=report,
        limits=limits,
        allow_data_loss=allow_data_loss,
    )


def downgrade_target(target: str) -> str:
    """``target`` stripped; refused when empty: a downgrade never defaults to base."""
    if not target or not target.strip():
        raise MigrationError(
            "downgrade needs a target revision",
            "say how far back: make downgrade REV=-1, or a revision id, or base",
        )
    return target.strip()


async def _run(
    url: URL,
    target: str,
    cfg: Config | None,
    versions_dir: Path | None,
    *,
    upgrading: bool,
    report: Report,
    limits: Timeouts | None,
    allow_data_loss: bool = False,
    force: bool = False,
    contract: bool = False,
) -> Outcome:
    # Alembic is imported only now, when there is work to do
    from terrafusion_sync.migrations.deploy import runner
    from terrafusion_sync.migrations.plumbing.config import alembic_config

    return await runner.run(
        url,
        cfg or alembic_config(versions_dir=versions_dir),
        target,
        upgrading=upgrading,
        limits=limits or Timeouts(),
        allow_data_loss=allow_data_loss,
        force=force,
        contract=contract,
        report=report,
    )
