"""``tfsync upgrade`` (and ``--plan``), ``tfsync rehearse`` and ``tfsync downgrade``: the safe
deploy."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import Any

from terrafusion_sync import migrations
from terrafusion_sync.cli.common import (
    alembic_config,
    command,
    describe_target,
    fail,
    force_flag,
    format_option,
    plan_flag,
    revision_argument,
    run,
    say,
    say_all,
    test_flag,
)
from terrafusion_sync.embedded import database_url
from terrafusion_sync.errors import EXIT_FINDINGS, EXIT_OK
from terrafusion_sync.migrations.deploy.timeouts import Timeouts
from terrafusion_sync.migrations.outcome import quiet
from terrafusion_sync.settings import Settings, mask_url, normalize_url


def register(commands: Any) -> None:
    """``upgrade``, ``rehearse`` and ``downgrade``."""
    sub = command(
        commands,
        "upgrade",
        "Bring the database to head (or REV), showing each revision applied.",
        cmd_upgrade,
    )
    revision_argument(sub)
    plan_flag(
        sub,
        "what would run, per table: lock, rewrite, scan, size here, estimated lock time, "
        "and what would fail on the rows there; change nothing",
    )
    format_option(sub, "for --plan")
    force_flag(
        sub,
        "run even when a revision would fail on the rows there (refused otherwise); with "
        "--contract, even when old application code wrote within TFSYNC_CONTRACT_QUIET",
    )
    sub.add_argument(
        "--contract",
        action="store_true",
        help="also apply the contract revisions (drop what an expand kept for old code), "
        "once no write came through an old column for TFSYNC_CONTRACT_QUIET",
    )
    sub.add_argument(
        "--allow-data-loss",
        action="store_true",
        help="drop tables and columns holding data outside a contract revision (refused otherwise)",
    )
    test_flag(sub)

    _register_rehearse(commands)

    sub = command(
        commands,
        "downgrade",
        "Step the database back to REV (required: -1, an id, or base).",
        cmd_downgrade,
    )
    revision_argument(sub, default="", help_="where to step back to: -1, an id, or base")
    sub.add_argument(
        "--allow-data-loss",
        action="store_true",
        help="drop tables and columns even when they hold rows (refused otherwise)",
    )
    test_flag(sub)


def _register_rehearse(commands: Any) -> None:
    """``rehearse``: the pending upgrade on a copy of the rows."""
    sub = command(
        commands,
        "rehearse",
        "Run the pending upgrade on a copy of the database's own rows, measured per revision "
        "beside the plan; the database itself is only read.",
        cmd_rehearse,
    )
    revision_argument(sub)
    sub.add_argument("--keep", action="store_true", help="keep the copy afterwards")
    sub.add_argument(
        "--sample",
        type=float,
        metavar="PCT",
        help="copy PCT %% of each large table's rows (foreign keys kept whole)",
    )
    sub.add_argument(
        "--to", metavar="URL", help="put the copy on this server instead (a staging one)"
    )
    format_option(sub)


def cmd_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    if args.format == "json" and not args.plan:
        fail("--format json goes with --plan (see `tfsync upgrade --help`)")
    url = database_url(settings, test=args.test)
    limits = Timeouts.from_settings(settings)
    if args.plan:
        progress = say if args.format == "text" else quiet  # JSON output is for tools
        plan = run(
            migrations.plan(
                url, args.revision, cfg=alembic_config(settings), limits=limits, report=progress
            )
        )
        if args.format == "json":
            say(json.dumps(plan.as_json(mask_url(url), args.revision), indent=2))
            return EXIT_OK
        say_all(plan.describe_lines(describe_target(settings, url, args.test), args.revision))
        if plan.revisions:
            sys.stdout.write(plan.sql)
        return EXIT_OK
    also = ", contract revisions included" if args.contract else ""
    say(f"upgrading {describe_target(settings, url, args.test)} to {args.revision}{also}")
    outcome = run(
        migrations.upgrade(
            url,
            args.revision,
            versions_dir=settings.versions_dir,
            report=say,
            limits=limits,
            force=args.force,
            contract=args.contract,
            allow_data_loss=args.allow_data_loss,
        )
    )
    say(outcome.summary("applied"))
    return EXIT_OK


def cmd_rehearse(settings: Settings, args: argparse.Namespace) -> int:
    from terrafusion_sync.migrations.planning import rehearse

    options = rehearse.Options(
        keep=args.keep,
        sample=args.sample,
        to=normalize_url(args.to, "--to") if args.to else None,
    )
    # SIGTERM ends it as Ctrl-C does: the copy is dropped on the way out
    before = signal.signal(signal.SIGTERM, lambda *_: signal.raise_signal(signal.SIGINT))
    try:
        found = run(
            rehearse.rehearse(
                database_url(settings, test=False),
                args.revision,
                cfg=alembic_config(settings),
                options=options,
                limits=Timeouts.from_settings(settings),
                report=say if args.format == "text" else quiet,
            )
        )
    finally:
        signal.signal(signal.SIGTERM, before)
    if args.format == "json":
        say(json.dumps(found.as_json(), indent=2))
    else:
        say_all(found.describe_lines())
    return EXIT_OK if found.ok else EXIT_FINDINGS


def cmd_downgrade(settings: Settings, args: argparse.Namespace) -> int:
    target = migrations.downgrade_target(args.revision)
    url = database_url(settings, test=args.test)
    say(f"downgrading {describe_target(settings, url, args.test)} to {target}")
    outcome = run(
        migrations.downgrade(
            url,
            target,
            versions_dir=settings.versions_dir,
            report=say,
            limits=Timeouts.from_settings(settings),
            allow_data_loss=args.allow_data_loss,
        )
    )
    say(outcome.summary("undid"))
    return EXIT_OK
