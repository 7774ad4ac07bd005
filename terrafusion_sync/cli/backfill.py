"""``tfsync backfill``: the backfills (``op.backfill``) of a database."""

from __future__ import annotations

import argparse
from typing import Any

from terrafusion_sync.cli.common import command, describe_target, run, say, say_all, test_flag
from terrafusion_sync.embedded import database_url
from terrafusion_sync.errors import EXIT_OK
from terrafusion_sync.settings import Settings


def register(commands: Any) -> None:
    """``backfill status``."""
    sub = command(
        commands,
        "backfill",
        "Backfills (op.backfill): `backfill status` lists each one.",
        cmd_backfill,
    )
    sub.add_argument("action", choices=("status",), help="status: rows done, rate and state")
    test_flag(sub)


def cmd_backfill(settings: Settings, args: argparse.Namespace) -> int:
    from terrafusion_sync.migrations.backfill import batches as backfill

    url = database_url(settings, test=args.test)
    found = run(backfill.read(url))
    say(f"backfills of {describe_target(settings, url, args.test)}")
    if not found:
        say("no backfill has been recorded on this database")
    say_all([status.describe() for status in found])
    return EXIT_OK
