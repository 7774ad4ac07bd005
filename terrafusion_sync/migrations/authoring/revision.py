"""``tfsync revision``: autogenerate a revision from the models, a rename as expand + contract.

Alembic's ``command.revision`` on one connection (:func:`..plumbing.commands.run_on`), with
what the core adds: the database must be at head (a waiting contract revision aside), a
waiting contract's old columns are not changes, and a renamed column is written as an
expand and a contract revision (:mod:`.expand_contract`, :mod:`.renames`).
"""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import Script
from sqlalchemy.engine import URL

from terrafusion_sync.errors import MigrationError
from terrafusion_sync.migrations.authoring.expand_contract import Layout, write_pairs
from terrafusion_sync.migrations.authoring.renames import Ask, parse_renames
from terrafusion_sync.migrations.plumbing import environment, phases
from terrafusion_sync.migrations.plumbing.alembic_errors import alembic_errors
from terrafusion_sync.migrations.plumbing.commands import revs_text, run_on, status
from terrafusion_sync.migrations.plumbing.config import (
    alembic_config,
    script_directory,
    versions_dir,
)


async def revision(
    url: URL | None,
    message: str,
    *,
    empty: bool = False,
    cfg: Config | None = None,
    renames: Sequence[str] = (),
    ask: Ask | None = None,
) -> list[Path]:
    """Autogenerate a revision from the models against a database at head; the files written.

    With ``empty`` write a blank revision to fill in by hand (no database needed). A column
    renamed in the models becomes an expand and a contract revision (two files): it is
    recognised from ``renames`` (``TABLE.OLD=NEW``), else by asking ``ask`` (a person on a
    terminal); with neither, a possible rename is refused and nothing is written.
    """
    cfg = cfg or alembic_config()
    message = message.strip()
    if not message:
        raise MigrationError(
            "a revision needs a message", 'say what it changes: make revision M="add owner email"'
        )
    specs = parse_renames(renames)
    scripts = script_directory(cfg)
    layout = Layout(
        main_head=_one(phases.main_heads(scripts)), contract_head=phases.contract_head(scripts)
    )
    if empty:
        with alembic_errors():
            return _written(command.revision(cfg, message, head=layout.main_head or "head"))
    if url is None:
        raise MigrationError("autogenerate needs a database", "give a database URL, or --empty")
    state = await status(url, cfg)
    behind = [s for s in state.pending if not phases.is_contract(s)]
    if behind:
        raise MigrationError(
            f"the database is at {revs_text(state.current)}, not at head {revs_text(state.heads)}",
            "run `make upgrade` first, so the new revision starts from head",
        )
    retiring = [col for s in state.pending for col in phases.retired_columns(s)]
    given = cfg.cmd_opts
    # what `alembic revision --autogenerate` sets: env.py then writes no file when empty
    cfg.cmd_opts = Namespace(**{**vars(given or Namespace()), "autogenerate": True})
    cfg.attributes[environment.REWRITE] = lambda _ctx, _rev, directives: write_pairs(
        directives, specs, ask, layout
    )
    cfg.attributes[environment.RETIRING] = retiring
    try:
        written = await run_on(
            url, cfg, lambda _: command.revision(cfg, message, autogenerate=True)
        )
    finally:
        cfg.cmd_opts = given
        cfg.attributes.pop(environment.REWRITE, None)
        cfg.attributes.pop(environment.RETIRING, None)
    if not written:
        raise MigrationError(
            "the models and the database do not differ: nothing to write",
            "change a model first, or use --empty for a hand-written revision",
        )
    return _written(written)


async def create_initial_revision(url: URL, *, cfg: Config | None = None) -> Path | None:
    """Autogenerate the first revision into an empty ``versions/`` folder."""
    cfg = cfg or alembic_config()
    existing = sorted(p.name for p in versions_dir(cfg).glob("*.py") if p.name != "__init__.py")
    if existing:
        raise MigrationError(
            f"versions/ already holds {len(existing)} revision(s), starting with {existing[0]}",
            'the initial revision exists: use `make revision M="..."` for a new change',
        )
    written = await revision(url, "initial schema", cfg=cfg)
    return written[0] if written else None


def _written(result: Script | list[Script | None] | None) -> list[Path]:
    scripts = result if isinstance(result, list) else [result]
    return [Path(s.path) for s in scripts if isinstance(s, Script)]


def _one(heads: tuple[str, ...]) -> str | None:
    return heads[0] if len(heads) == 1 else None
