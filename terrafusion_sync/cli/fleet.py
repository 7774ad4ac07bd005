"""``tfsync fleet status``, ``fleet upgrade [--plan]``, ``fleet rehearse`` and ``fleet backfill``:
every database of a fleet file."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from terrafusion_sync.cli.backfill import backfill_arguments
from terrafusion_sync.cli.common import (
    command,
    fleet_options,
    force_flag,
    format_option,
    group,
    plan_flag,
    revision_argument,
    run,
    say,
    say_all,
)
from terrafusion_sync.errors import EXIT_FINDINGS, EXIT_OK
from terrafusion_sync.migrations.deploy.timeouts import Timeouts
from terrafusion_sync.settings import Settings, shown_path

if TYPE_CHECKING:
    from terrafusion_sync.fleet.fleet_file import Fleet


def register(commands: Any) -> None:  # long: the fleet commands and their options, top to bottom
    """``fleet status``, ``fleet upgrade``, ``fleet rehearse`` and ``fleet backfill``."""
    fleet = group(
        commands,
        "fleet",
        "Every database of the fleet file (fleet.toml): status, upgrade, rehearse, backfill.",
    )
    sub = command(
        fleet,
        "status",
        "One row per database: reachable or why not, revision, pending, last upgrade.",
        cmd_fleet_status,
    )
    fleet_options(sub)

    sub = command(
        fleet,
        "upgrade",
        "Upgrade every database: canaries first, then N at a time; a summary at the end.",
        cmd_fleet_upgrade,
    )
    revision_argument(sub)
    fleet_options(sub)
    sub.add_argument(
        "--jobs", "-j", type=int, metavar="N", help="databases at once (default: the file's jobs)"
    )
    sub.add_argument(
        "--canary",
        action="append",
        default=[],
        metavar="NAME",
        help="upgrade NAME first, alone; nothing else starts unless every canary succeeds "
        "(repeatable; default: the file's canaries)",
    )
    sub.add_argument(
        "--keep-going",
        action="store_true",
        help="after a failure, go on starting the other databases",
    )
    plan_flag(sub, "per database, what would run and do there (as upgrade --plan); change nothing")
    force_flag(
        sub,
        "upgrade even where a revision would fail on the rows there (refused otherwise); "
        "with --contract, even where old code wrote within TFSYNC_CONTRACT_QUIET",
    )
    _contract_flag(sub)

    sub = command(
        fleet,
        "backfill",
        "Every database's backfills (status), or retry, pause, resume, cancel REV on each.",
        cmd_fleet_backfill,
    )
    backfill_arguments(sub)
    fleet_options(sub)
    _register_rehearse(fleet)


def _contract_flag(sub: Any) -> None:
    sub.add_argument(
        "--contract",
        action="store_true",
        help="also apply the contract revisions on each database, as make contract does "
        "(each refused while its old column was written within TFSYNC_CONTRACT_QUIET)",
    )


def _register_rehearse(fleet: Any) -> None:
    """``fleet rehearse``: every database's pending upgrade on a copy of its rows."""
    sub = command(
        fleet,
        "rehearse",
        "Rehearse the pending upgrade of every database on a copy of its rows, N at a time.",
        cmd_fleet_rehearse,
    )
    revision_argument(sub)
    fleet_options(sub)
    sub.add_argument(
        "--jobs", "-j", type=int, metavar="N", help="databases at once (default: the file's jobs)"
    )
    sub.add_argument(
        "--sample", type=float, metavar="PCT", help="copy PCT %% of each large table's rows"
    )
    format_option(sub)


def load_fleet(settings: Settings, args: argparse.Namespace) -> Fleet:
    """The fleet file of ``--fleet``, else ``TFSYNC_FLEET``, with ``${VAR}`` expanded."""
    from terrafusion_sync.fleet.fleet_file import load_fleet as load
    from terrafusion_sync.settings import environment_values

    return load(args.fleet or settings.fleet_file, environment_values())


def cmd_fleet_status(settings: Settings, args: argparse.Namespace) -> int:
    from terrafusion_sync.fleet import display
    from terrafusion_sync.fleet.status import status_of

    fleet = load_fleet(settings, args)
    states = run(status_of(fleet, fleet.select(args.only), settings.versions_dir))
    display.print_status(display.console(), states, fleet.mask)
    return EXIT_FINDINGS if any(s.problem for s in states) else EXIT_OK


def cmd_fleet_rehearse(settings: Settings, args: argparse.Namespace) -> int:
    from terrafusion_sync.fleet.fleet_file import positive_jobs
    from terrafusion_sync.fleet.rehearse import rehearse_fleet

    fleet = load_fleet(settings, args)
    members = fleet.select(args.only)
    results = rehearse_fleet(
        members,
        target=args.revision,
        jobs=fleet.jobs if args.jobs is None else positive_jobs(args.jobs, "--jobs"),
        versions_dir=settings.versions_dir,
        limits=Timeouts.from_settings(settings),
        sample=args.sample,
    )
    if args.format == "json":
        shown = {r.member.name: r.found or {"problem": r.problem} for r in results}
        say(fleet.mask(json.dumps(shown, indent=2)))
    else:
        for result in results:
            say(fleet.mask(result.describe()))
        passed = sum(r.ok for r in results)
        say(f"{len(results)} database(s) rehearsed: {passed} passed; nothing live was changed")
    return EXIT_OK if all(r.ok for r in results) else EXIT_FINDINGS


def cmd_fleet_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    from terrafusion_sync.fleet import display, pool
    from terrafusion_sync.fleet.fleet_file import positive_jobs

    fleet = load_fleet(settings, args)
    members = fleet.select(args.only)
    canaries = fleet.canaries_among(members, args.canary)
    jobs = fleet.jobs if args.jobs is None else positive_jobs(args.jobs, "--jobs")
    if not args.plan:
        pool.start_early()  # the workers' imports, while this process reads the databases
    from terrafusion_sync.fleet.plan import plan_fleet
    from terrafusion_sync.fleet.upgrade import Options, upgrade_fleet

    options = Options(
        target=args.revision,
        jobs=jobs,
        keep_going=args.keep_going,
        versions_dir=settings.versions_dir,
        limits=Timeouts.from_settings(settings),
        force=args.force,
        contract=args.contract,
    )
    out = display.console()
    if args.plan:
        plans = run(plan_fleet(fleet, members, options))
        display.print_plans(out, plans, fleet.mask)
        return EXIT_FINDINGS if any(p.problem or p.will_fail for p in plans) else EXIT_OK
    title = (
        f"upgrading {len(members)} database(s) of {shown_path(fleet.path)} to {args.revision}, "
        f"{jobs} at a time"
        + (f", canaries first: {', '.join(c.name for c in canaries)}" if canaries else "")
    )
    live = display.Progress(out, fleet.mask, title)
    results = run(upgrade_fleet(fleet, members, canaries, options, live))
    display.print_summary(out, results, fleet.mask)
    return EXIT_OK if all(r.at_target for r in results) else EXIT_FINDINGS


def cmd_fleet_backfill(settings: Settings, args: argparse.Namespace) -> int:
    from terrafusion_sync.fleet.backfill import backfill_fleet

    fleet = load_fleet(settings, args)
    found = run(
        backfill_fleet(
            fleet,
            fleet.select(args.only),
            args.action,
            args.revision,
            reason=args.reason,
            versions_dir=settings.versions_dir,
            limits=Timeouts.from_settings(settings),
        )
    )
    say_all([line for member in found for line in member.describe_lines(fleet.mask)])
    return EXIT_FINDINGS if any(member.error for member in found) else EXIT_OK
