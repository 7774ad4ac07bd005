"""``tfsync revision``: autogenerate a revision from the models; a rename, a type change that
rewrites, and a constraint on a live table as expand + contract.

Alembic's ``command.revision`` on one connection (:func:`..plumbing.commands.run_on`), with
what the core adds: the database must be at head (a waiting contract revision aside), a
waiting contract's old columns are not changes, and a renamed column is written as an
expand and a contract revision (:mod:`.expand_contract`, :mod:`.renames`).
"""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import RevisionContext
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy.engine import URL

from terrafusion_sync.errors import MigrationError
from terrafusion_sync.migrations.authoring.drift import reflecting
from terrafusion_sync.migrations.authoring.expand_contract import Layout, write_pairs
from terrafusion_sync.migrations.authoring.renames import Ask, RenameSpec, parse_renames
from terrafusion_sync.migrations.outcome import Report, quiet
from terrafusion_sync.migrations.plumbing import environment, phases
from terrafusion_sync.migrations.plumbing.alembic_errors import alembic_errors
from terrafusion_sync.migrations.plumbing.commands import (
    DatabaseStatus,
    revs_text,
    run_on,
    status,
)
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
    report: Report = quiet,
) -> list[Path]:
    """Autogenerate a revision from the models against a database at head; the files written.

    With ``empty`` write a blank revision to fill in by hand (no database needed). A column
    renamed in the models becomes an expand and a contract revision (two files): it is
    recognised from ``renames`` (``TABLE.OLD=NEW``), else by asking ``ask`` (a person on a
    terminal); with neither, a possible rename is refused and nothing is written. ``report``
    hears what a pair leaves to the author (NULLs with no server default to fill them).
    """
    cfg = cfg or alembic_config()
    message = message.strip()
    if not message:
        raise MigrationError(
            "a revision needs a message", 'say what it changes: make revision M="add owner email"'
        )
    specs = parse_renames(renames)
    scripts = script_directory(cfg)
    layout = _layout(scripts)
    if empty:
        with alembic_errors():
            return _written(
                command.revision(
                    cfg, message, head=layout.main_head or "head", splice=layout.splice
                )
            )
    if url is None:
        raise MigrationError("autogenerate needs a database", "give a database URL, or --empty")
    retiring = _at_head(await status(url, cfg))
    written = await _written_by_autogenerate(
        url, cfg, message, layout, retiring, specs, ask, report
    )
    if not written:
        raise MigrationError(
            "the models and the database do not differ: nothing to write",
            "change a model first, or use --empty for a hand-written revision",
        )
    return _written(written)


def _at_head(state: DatabaseStatus) -> list[tuple[str, str]]:
    """Refuse a database short of head (contract revisions aside); what they leave alone."""
    if any(not phases.is_contract(s) for s in state.pending):
        raise MigrationError(
            f"the database is at {revs_text(state.current)}, not at head {revs_text(state.heads)}",
            "run `make upgrade` first, so the new revision starts from head",
        )
    return [pair for s in state.pending for pair in phases.left_alone(s)]


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


async def _written_by_autogenerate(
    url: URL,
    cfg: Config,
    message: str,
    layout: Layout,
    retiring: list[tuple[str, str]],
    specs: list[RenameSpec],
    ask: Ask | None,
    report: Report,
) -> list[Script | None]:
    """Autogenerate on ``url``, env.py told what the core adds (see :mod:`..environment`);
    ``report`` hears the notes of a pair written."""
    notes: list[str] = []
    given = cfg.cmd_opts
    # what `alembic revision --autogenerate` sets: env.py then writes no file when empty
    cfg.cmd_opts = Namespace(**{**vars(given or Namespace()), "autogenerate": True})
    cfg.attributes[environment.REWRITE] = lambda ctx, _rev, directives: notes.extend(
        write_pairs(directives, specs, ask, layout, ctx.connection)
    )
    cfg.attributes[environment.RETIRING] = retiring
    try:
        written = await run_on(url, cfg, lambda _: _autogenerate(cfg, message, layout))
        for note in notes if written else ():
            report(note)
        return written
    finally:
        cfg.cmd_opts = given
        cfg.attributes.pop(environment.REWRITE, None)
        cfg.attributes.pop(environment.RETIRING, None)


def _autogenerate(cfg: Config, message: str, layout: Layout) -> list[Script | None]:
    """``alembic.command.revision(autogenerate=True)``, but with contract revisions waiting.

    Alembic autogenerates only against a database at every head; a contract revision that
    waits for old code to go leaves the database short of the contract head, yet its schema
    is exactly what the models are compared with (the retiring columns left out). So the
    comparison is told the database is at every head; :func:`revision` has checked that only
    contract revisions are missing.
    """
    scripts = script_directory(cfg)
    context = RevisionContext(
        cfg,
        scripts,
        {
            "message": message,
            "autogenerate": True,
            "sql": False,
            "head": layout.main_head or "head",
            "splice": layout.splice,
            "branch_label": None,
            "version_path": None,
            "rev_id": None,
            "depends_on": None,
        },
    )

    def retrieve(_: Any, migration_context: MigrationContext) -> list[Any]:
        context.run_autogenerate(tuple(scripts.get_heads()), migration_context)
        return []

    with (
        reflecting(),
        alembic_errors(),
        EnvironmentContext(
            cfg,
            scripts,
            fn=retrieve,
            as_sql=False,
            template_args=context.template_args,
            revision_context=context,
        ),
    ):
        scripts.run_env()
    return list(context.generate_scripts())


def _written(result: Script | list[Script | None] | None) -> list[Path]:
    scripts = result if isinstance(result, list) else [result]
    return [Path(s.path) for s in scripts if isinstance(s, Script)]


def _layout(scripts: ScriptDirectory) -> Layout:
    """Where new revisions go: after the main head; a contract after the contract head."""
    main = phases.main_heads(scripts)
    main_head = main[0] if len(main) == 1 else None
    with alembic_errors():
        splice = main_head is not None and main_head not in scripts.get_heads()
    return Layout(main_head, phases.contract_head(scripts), splice)
