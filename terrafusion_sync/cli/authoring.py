"""``tfsync revision`` and ``tfsync init``: writing revisions from the models."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from terrafusion_sync import migrations
from terrafusion_sync.cli.common import alembic_config, command, run, say, say_all
from terrafusion_sync.embedded import database_url
from terrafusion_sync.errors import EXIT_OK
from terrafusion_sync.settings import Settings, shown_path


def register(commands: Any) -> None:
    """``revision`` and ``init``."""
    sub = command(
        commands,
        "revision",
        "Autogenerate a revision from the models (database must be at head).",
        cmd_revision,
    )
    sub.add_argument("message", nargs="?", default="", help="what the revision changes")
    sub.add_argument(
        "--empty",
        action="store_true",
        help="write a blank revision to fill in by hand (no autogenerate)",
    )
    sub.add_argument(
        "--rename",
        action="append",
        default=[],
        metavar="TABLE.OLD=NEW",
        help="column OLD of TABLE was renamed to NEW in the models: write expand + contract "
        "revisions instead of drop + add (repeatable; asked on a terminal otherwise)",
    )
    command(
        commands, "init", "Autogenerate the initial revision when versions/ is empty.", cmd_init
    )


def cmd_revision(settings: Settings, args: argparse.Namespace) -> int:
    url = None if args.empty else database_url(settings)
    cfg = alembic_config(settings)
    ask = ask_on_terminal if sys.stdin.isatty() else None
    paths = run(
        migrations.revision(
            url, args.message, empty=args.empty, cfg=cfg, renames=args.rename, ask=ask, report=say
        )
    )
    say_all([f"wrote {shown_path(path)}" for path in paths] or ["no revision written"])
    return EXIT_OK


def ask_on_terminal(question: str) -> bool:
    """Django's "Did you rename X to Y? [y/N]", answered on the terminal."""
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def cmd_init(settings: Settings, args: argparse.Namespace) -> int:
    cfg = alembic_config(settings)
    path = run(migrations.create_initial_revision(database_url(settings), cfg=cfg))
    say(f"wrote {shown_path(path)}" if path else "no revision written")
    return EXIT_OK
