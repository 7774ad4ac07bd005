"""``tfsync backfill``: the backfills (``op.backfill``) of a database, and what an operator
may do to one (retry, pause, resume, cancel)."""

from __future__ import annotations

import argparse
from typing import Any

from terrafusion_sync.cli.common import (
    Parser,
    alembic_config,
    command,
    describe_target,
    reason_option,
    run,
    say,
    say_all,
    test_flag,
)
from terrafusion_sync.embedded import database_url
from terrafusion_sync.errors import EXIT_OK
from terrafusion_sync.migrations.deploy.timeouts import Timeouts
from terrafusion_sync.settings import Settings

ACTIONS = ("status", "retry", "pause", "resume", "cancel")


def register(commands: Any) -> None:
    """``backfill status``, ``backfill retry|pause|resume|cancel REV``."""
    sub = command(
        commands,
        "backfill",
        "Backfills (op.backfill): `backfill status` lists each one; retry, pause, resume, "
        "cancel REV act on one.",
        cmd_backfill,
    )
    backfill_arguments(sub)
    test_flag(sub)


def backfill_arguments(sub: Parser) -> None:
    """ACTION, REV and --reason, shared with ``tfsync fleet backfill``."""
    sub.add_argument(
        "action",
        choices=ACTIONS,
        help="status: rows done, rate and state; retry REV: run a failed one again; "
        "pause REV: stop it, later revisions wait; resume REV: run it on; "
        "cancel REV --reason: abandon it",
    )
    sub.add_argument("revision", nargs="?", default="", metavar="REV", help="its revision")
    reason_option(sub, "why the backfill is cancelled (required by cancel), kept in history")


def cmd_backfill(settings: Settings, args: argparse.Namespace) -> int:
    from terrafusion_sync.migrations.backfill import operator, states

    url = database_url(settings, test=args.test)
    if args.action != "status":
        found = run(
            operator.act(
                url,
                args.action,
                args.revision,
                cfg=alembic_config(settings),
                reason=args.reason,
                limits=Timeouts.from_settings(settings),
                report=say,
            )
        )
        say_all([status.describe() for status in found])
        return EXIT_OK
    found = run(states.read(url))
    say(f"backfills of {describe_target(settings, url, args.test)}")
    if not found:
        say("no backfill has been recorded on this database")
    say_all([status.describe() for status in found])
    return EXIT_OK
