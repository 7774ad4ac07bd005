"""``tfsync`` / ``python -m terrafusion_sync``: the command line over the migrations core.

This module only parses arguments and prints; every decision lives in the core.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from sqlalchemy.engine import URL

from terrafusion_sync import migrations
from terrafusion_sync.aio import run_blocking
from terrafusion_sync.embedded import database_url
from terrafusion_sync.errors import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, TfsyncError, first_line
from terrafusion_sync.migrations.deploy.timeouts import Timeouts
from terrafusion_sync.settings import (
    Settings,
    debug_requested,
    load_settings,
    mask_text,
    mask_url,
    shown_path,
    url_label,
)

if TYPE_CHECKING:
    from terrafusion_sync.fleet.fleet_file import Fleet

PROG = "tfsync"


class Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        fail(f"{message} (see `{self.prog} --help`)")


def fail(message: str) -> NoReturn:
    """Print ``tfsync: error: ...`` on stderr and exit 2."""
    print(f"{PROG}: error: {mask_text(message)}", file=sys.stderr)
    raise SystemExit(EXIT_ERROR)


def quiet_progress(line: str) -> None:
    """Progress that is not shown (JSON output is for tools)."""


def say(line: str) -> None:
    """Progress and results go to stdout, flushed so they show as they happen."""
    print(line, flush=True)


def build_parser() -> Parser:
    """All commands and their options; ``--help`` reads as the documentation."""
    parser = Parser(prog=PROG, description="TerraFusion Sync database migrations.")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=Parser
    )

    def add(name: str, help_: str, handler: Callable[..., Any]) -> Parser:
        sub = commands.add_parser(name, help=help_, description=help_)
        sub.set_defaults(handler=handler)
        return sub

    sub = add(
        "upgrade",
        "Bring the database to head (or REV), showing each revision applied.",
        cmd_upgrade,
    )
    sub.add_argument(
        "revision", nargs="?", default="head", metavar="REV", help="target revision (default: head)"
    )
    sub.add_argument(
        "--plan",
        action="store_true",
        help="what would run, per table: lock, rewrite, scan, size here, estimated lock time, "
        "and what would fail on the rows there; change nothing",
    )
    sub.add_argument("--format", choices=("text", "json"), default="text", help="for --plan")
    sub.add_argument(
        "--force",
        action="store_true",
        help="run even when a revision would fail on the rows there (refused otherwise)",
    )
    _add_test_flag(sub)

    sub = add(
        "downgrade", "Step the database back to REV (required: -1, an id, or base).", cmd_downgrade
    )
    sub.add_argument("revision", nargs="?", default="", metavar="REV")
    sub.add_argument(
        "--allow-data-loss",
        action="store_true",
        help="drop tables and columns even when they hold rows (refused otherwise)",
    )
    _add_test_flag(sub)

    sub = add("history", "Every migration step run on the database: who, when, how.", cmd_history)
    sub.add_argument(
        "--limit", type=int, default=50, metavar="N", help="the newest N steps (default 50, 0: all)"
    )
    _add_test_flag(sub)

    sub = add(
        "backfill", "Backfills (op.backfill): `backfill status` lists each one.", cmd_backfill
    )
    sub.add_argument("action", choices=("status",), help="status: rows done, rate and state")
    _add_test_flag(sub)

    sub = add(
        "validate",
        "Check that applied revision files are unchanged since applied (exit 1 if not).",
        cmd_validate,
    )
    sub.add_argument(
        "--accept", metavar="REV", help="record REV's changed file as deliberate (needs --reason)"
    )
    sub.add_argument("--reason", default="", help="why the applied file was changed")
    _add_test_flag(sub)

    sub = add(
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

    add("init", "Autogenerate the initial revision when versions/ is empty.", cmd_init)

    sub = add(
        "status",
        "Show the database (masked), its revision, head and pending revisions.",
        cmd_status,
    )
    sub.add_argument(
        "--graph",
        action="store_true",
        help="also draw the revision graph, current and pending revisions marked",
    )
    _add_test_flag(sub)

    sub = add("sql", "Print the SQL an upgrade to [FROM:]TO would run; changes nothing.", cmd_sql)
    sub.add_argument(
        "spec",
        nargs="?",
        default="head",
        metavar="[FROM:]TO",
        help="FROM defaults to the database's current revision; TO to head",
    )

    sub = add(
        "review",
        "The gate before merge: lint, structure, drift, stairway, unsafe operations, sealed "
        "history (codes: README, Review codes).",
        cmd_review,
    )
    sub.add_argument(
        "files",
        nargs="*",
        help="changed files (from pre-commit): per-revision checks run on these revisions only",
    )
    sub.add_argument("--format", choices=("text", "json"), default="text")
    sub.add_argument(
        "--seal",
        nargs="?",
        const="",
        metavar="REV",
        help="record checksums in versions.sum instead of reviewing: every unsealed revision, "
        "or REV (a sealed, edited one needs --reason)",
    )
    sub.add_argument("--reason", default="", help="why a sealed revision is re-sealed")

    sub = add(
        "docs",
        "Write docs/schema.md: the models' ER diagram and the revision graph (Mermaid).",
        cmd_docs,
    )
    sub.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when the file is out of date"
    )
    sub.add_argument(
        "--output",
        metavar="PATH",
        help="another file (- prints it); needed when TFSYNC_VERSIONS_DIR names another folder",
    )

    sub = add("test", "Bring the test database to head, then run pytest with ARGS.", cmd_test)
    sub.add_argument("pytest_args", nargs=argparse.REMAINDER, metavar="ARGS")

    add("db-stop", "Stop the embedded PostgreSQL (the data stays in .tfsync/).", cmd_db_stop)

    about = "Every database of the fleet file (fleet.toml) at once: status, upgrade."
    fleet = commands.add_parser("fleet", help=about, description=about)
    fleet_commands = fleet.add_subparsers(
        dest="fleet_command", required=True, metavar="COMMAND", parser_class=Parser
    )
    about = "One row per database: reachable or why not, revision, pending, last upgrade."
    sub = fleet_commands.add_parser("status", help=about, description=about)
    sub.set_defaults(handler=cmd_fleet_status)
    _add_fleet_options(sub)
    about = "Upgrade every database: canaries first, then N at a time; a summary at the end."
    sub = fleet_commands.add_parser("upgrade", help=about, description=about)
    sub.set_defaults(handler=cmd_fleet_upgrade)
    sub.add_argument(
        "revision", nargs="?", default="head", metavar="REV", help="target revision (default: head)"
    )
    _add_fleet_options(sub)
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
    sub.add_argument(
        "--plan",
        action="store_true",
        help="per database, what would run and do there (as upgrade --plan); change nothing",
    )
    sub.add_argument(
        "--force",
        action="store_true",
        help="upgrade even where a revision would fail on the rows there (refused otherwise)",
    )
    return parser


def _add_fleet_options(sub: Parser) -> None:
    sub.add_argument(
        "--fleet",
        type=Path,
        metavar="FILE",
        help="the fleet file (default: TFSYNC_FLEET, fleet.toml)",
    )
    sub.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="TAG=VALUE",
        help="only the databases with this tag (repeatable: all must match)",
    )


def _add_test_flag(sub: Parser) -> None:
    sub.add_argument("--test", action="store_true", help="act on TEST_DATABASE_URL instead")


def entry_point(argv: Sequence[str] | None = None) -> NoReturn:
    """The ``tfsync`` command: :func:`main`, then exit without a last garbage collection.

    By then the work is done, every connection closed and the output flushed. Python's
    final collections would walk every object SQLAlchemy and Alembic made, 0.15-0.25 s on
    each command here; frozen (:func:`gc.freeze`), they are simply freed with the process.
    Exit handlers still run. Tests call :func:`main`, which leaves the collector alone.
    """
    code = main(argv)
    gc.freeze()
    raise SystemExit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, run one command, turn errors into one line; return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["test"] and argv[1:2] not in (["-h"], ["--help"]):
        argv = ["test", "--", *argv[1:]]  # pytest's options (-n 2, -k x) are not ours
    args = build_parser().parse_args(argv)
    debug = debug_requested()  # before the settings, which may fail
    try:
        settings = load_settings()
        return int(args.handler(settings, args) or EXIT_OK)
    except TfsyncError as exc:
        if debug:
            raise
        print(f"{PROG}: error: {mask_text(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{PROG}: error: interrupted (the current revision was rolled back)", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:
        if debug:
            raise
        first = first_line(exc)
        print(
            f"{PROG}: error: unexpected {type(exc).__name__}: {mask_text(first)} "
            "(run again with TFSYNC_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return EXIT_ERROR


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run one coroutine of the core."""
    return run_blocking(coro)


def describe_target(settings: Settings, url: URL, test: bool) -> str:
    """``test database: postgresql+asyncpg://u:***@h/db`` (or the embedded cluster)."""
    which = "test database" if test else "database"
    configured = settings.test_database_url if test else settings.database_url
    where = "embedded PostgreSQL, " + url_label(url) if configured is None else mask_url(url)
    return f"{which}: {where}"


def alembic_config(settings: Settings) -> Any:
    """The Alembic config, on ``TFSYNC_VERSIONS_DIR`` when set (benchmarks, tests)."""
    return migrations.alembic_config(versions_dir=settings.versions_dir)


def cmd_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    if args.format == "json" and not args.plan:
        fail("--format json goes with --plan (see `tfsync upgrade --help`)")
    url = database_url(settings, test=args.test)
    if args.plan:
        progress = say if args.format == "text" else quiet_progress
        plan = run(
            migrations.plan(
                url,
                args.revision,
                cfg=alembic_config(settings),
                limits=Timeouts.from_settings(settings),
                report=progress,
            )
        )
        return show_plan(settings, url, args, plan)
    say(f"upgrading {describe_target(settings, url, args.test)} to {args.revision}")
    outcome = run(
        migrations.upgrade(
            url,
            args.revision,
            versions_dir=settings.versions_dir,
            report=say,
            limits=Timeouts.from_settings(settings),
            force=args.force,
        )
    )
    say(outcome.summary("applied"))
    return EXIT_OK


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


def show_plan(settings: Settings, url: URL, args: argparse.Namespace, plan: migrations.Plan) -> int:
    """What an upgrade would run and do here, per revision and table, then the SQL."""
    if args.format == "json":
        say(json.dumps(plan.as_json(mask_url(url), args.revision), indent=2))
        return EXIT_OK
    where = ", ".join(plan.current) or "base"
    say(f"plan for {describe_target(settings, url, args.test)}: at {where}, target {args.revision}")
    if not plan.revisions:
        say("nothing to do: no revision would run")
        return EXIT_OK
    say(f"{len(plan.revisions)} revision(s) would run, each in its own transaction:")
    for planned in plan.revisions:
        say(f"  {planned.describe()}")
        for table in planned.tables:
            say(f"    {table.describe()}")
        for failing in planned.will_fail:
            say(f"    will fail: {failing.table}: {failing.reason}")
    say(f"({plan.measured})")
    say("-- their SQL (offline rendering); nothing was changed")
    sys.stdout.write(plan.sql)
    return EXIT_OK


def cmd_history(settings: Settings, args: argparse.Namespace) -> int:
    url = database_url(settings, test=args.test)
    entries = run(migrations.read_history(url, args.limit or None))
    say(f"history of {describe_target(settings, url, args.test)}")
    if not entries:
        say("no migration has been run by tfsync on this database yet")
        return EXIT_OK
    for e in entries:
        result = "ok" if e.success else f"FAILED: {e.error}"
        if e.note:
            result += f" ({e.note})"
        say(
            f"{e.started_at:%Y-%m-%d %H:%M:%S} UTC  {e.direction:<9} {e.revision}  "
            f"{e.duration_s:7.2f} s  {e.db_user}@{e.host}  {(e.checksum or '')[:19]}  {result}"
        )
    return EXIT_OK


def cmd_backfill(settings: Settings, args: argparse.Namespace) -> int:
    from terrafusion_sync.migrations.backfill import batches as backfill

    url = database_url(settings, test=args.test)
    found = run(backfill.read(url))
    say(f"backfills of {describe_target(settings, url, args.test)}")
    if not found:
        say("no backfill has been recorded on this database")
        return EXIT_OK
    for b in found:
        total = f" of ~{b.rows_estimate:,}" if b.rows_estimate is not None else ""
        result = f"  {b.error}" if b.error else ""
        say(
            f"{b.revision}  {b.table}  {b.state:<7} {b.rows_walked:,}{total} rows walked, "
            f"{b.rows_changed:,} changed, {b.batches:,} batches, {b.rate:,.0f} rows/s{result}"
        )
    return EXIT_OK


def cmd_validate(settings: Settings, args: argparse.Namespace) -> int:
    url = database_url(settings, test=args.test)
    cfg = alembic_config(settings)
    if args.accept:
        accepted = run(migrations.accept(url, args.accept, args.reason, cfg))
        say(f"accepted {accepted.revision} ({accepted.path.name}) as {accepted.current[:19]}")
        return EXIT_OK
    result = run(migrations.validate(url, cfg))
    for mismatch in result.mismatches:
        say(f"changed: {mismatch.describe()}")
    if result.unrecorded:
        say(f"not recorded (applied before the history existed): {', '.join(result.unrecorded)}")
    say(
        f"{len(result.mismatches)} changed of {len(result.checked)} applied revision(s) "
        "with a recorded checksum"
    )
    return EXIT_FINDINGS if result.mismatches else EXIT_OK


def cmd_revision(settings: Settings, args: argparse.Namespace) -> int:
    url = None if args.empty else database_url(settings)
    cfg = alembic_config(settings)
    path = run(migrations.revision(url, args.message, empty=args.empty, cfg=cfg))
    say(f"wrote {shown_path(path)}" if path else "no revision written")
    return EXIT_OK


def cmd_init(settings: Settings, args: argparse.Namespace) -> int:
    path = run(
        migrations.create_initial_revision(database_url(settings), cfg=alembic_config(settings))
    )
    say(f"wrote {shown_path(path)}" if path else "no revision written")
    return EXIT_OK


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    url = database_url(settings, test=args.test)
    state = run(migrations.status(url, alembic_config(settings)))
    say(describe_target(settings, url, args.test))
    say(f"current: {', '.join(state.current) or 'base (empty)'}")
    say(f"head:    {', '.join(state.heads) or '(no revisions)'}")
    if state.pending:
        say(f"pending: {len(state.pending)}")
        for script in state.pending:
            say(f"  {script.revision}  {script.doc}")
    else:
        say("pending: none, the database is at head")
    if args.graph:
        from terrafusion_sync import pictures

        history = pictures.read_history(alembic_config(settings))
        say(f"revision graph ({pictures.LEGEND}):")
        for line in pictures.text_graph(
            history, state.current, [s.revision for s in state.pending]
        ):
            say(f"  {line}")
    return EXIT_OK


def cmd_sql(settings: Settings, args: argparse.Namespace) -> int:
    url = None if ":" in args.spec else database_url(settings)
    sql = run(migrations.upgrade_sql(url, args.spec, cfg=alembic_config(settings)))
    sys.stdout.write(sql)
    return EXIT_OK


def cmd_review(settings: Settings, args: argparse.Namespace) -> int:
    # imported when used, as below: the commands an operator runs load only what they need
    from terrafusion_sync.review import format_json, format_text, review, seal_chain

    if args.seal is not None:
        sealed = seal_chain(alembic_config(settings), [args.seal] if args.seal else [], args.reason)
        for seal in sealed:
            say(
                f"sealed {seal.revision}  {seal.file}"
                + (f"  ({seal.reason})" if seal.reason else "")
            )
        say(f"{len(sealed)} revision(s) sealed" if sealed else "nothing to seal")
        return EXIT_OK
    files = [Path(f) for f in args.files] or None
    cfg = alembic_config(settings)
    done = run(review(database_url(settings, test=True), cfg=cfg, files=files))
    if args.format == "json":
        say(format_json(done.findings, done.revisions))
    else:
        if done.unsealed:
            say(
                f"note: {len(done.unsealed)} revision(s) not sealed yet: {', '.join(done.unsealed)}"
                " (seal them when they merge to main: tfsync review --seal)"
            )
        say(format_text(done.findings, done.revisions))
    return EXIT_FINDINGS if done.findings else EXIT_OK


def cmd_docs(settings: Settings, args: argparse.Namespace) -> int:
    from terrafusion_sync import pictures
    from terrafusion_sync.review.pictures import stale_finding

    cfg = alembic_config(settings)
    document = pictures.render(cfg)
    if args.output == "-":
        sys.stdout.write(document.text)
        return EXIT_OK
    path = pictures.output_path(cfg, args.output)
    if args.check:
        found = pictures.stale(document, path)
        say(stale_finding(found).render() if found else f"{shown_path(path)} is up to date")
        return EXIT_FINDINGS if found else EXIT_OK
    written = pictures.write(document, path)
    counts = f"{document.tables} table(s), {document.revisions} revision(s)"
    say(f"{'wrote' if written else 'unchanged:'} {shown_path(path)} ({counts})")
    return EXIT_OK


def cmd_test(settings: Settings, args: argparse.Namespace) -> int:
    import pytest  # only the test environment has it

    from terrafusion_sync.migrations.testdb import mark_ready

    url = database_url(settings, test=True)
    prepared = run(migrations.prepare_test_database(url, report=say))  # says what it rebuilt
    mark_ready(prepared)  # the fixtures of this pytest (and its xdist workers) skip the check
    pytest_args = list(args.pytest_args)
    return int(pytest.main(pytest_args[1:] if pytest_args[:1] == ["--"] else pytest_args))


def cmd_db_stop(settings: Settings, args: argparse.Namespace) -> int:
    from terrafusion_sync import embedded  # imported when used: pgserver is slow to import

    stopped = embedded.stop(settings.state_dir)
    say("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")
    return EXIT_OK


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
