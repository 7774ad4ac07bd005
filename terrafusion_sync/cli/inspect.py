"""``tfsync status``, ``sql``, ``history`` and ``validate``: where a database stands."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from terrafusion_sync import migrations
from terrafusion_sync.cli.common import (
    alembic_config,
    command,
    describe_target,
    format_option,
    reason_option,
    run,
    say,
    say_all,
    test_flag,
)
from terrafusion_sync.embedded import database_url
from terrafusion_sync.errors import EXIT_FINDINGS, EXIT_OK
from terrafusion_sync.settings import Settings


def register(commands: Any) -> None:
    """``history``, ``validate``, ``status`` and ``sql``."""
    _register_history(commands)
    _register_validate(commands)
    _register_status(commands)
    _register_sql(commands)


def _register_history(commands: Any) -> None:
    sub = command(
        commands,
        "history",
        "Every migration step run on the database: who, when, how.",
        cmd_history,
    )
    sub.add_argument(
        "--limit", type=int, default=50, metavar="N", help="the newest N steps (default 50, 0: all)"
    )
    test_flag(sub)


def _register_validate(commands: Any) -> None:
    sub = command(
        commands,
        "validate",
        "Check that applied revision files are unchanged since applied (exit 1 if not).",
        cmd_validate,
    )
    sub.add_argument(
        "--accept", metavar="REV", help="record REV's changed file as deliberate (needs --reason)"
    )
    reason_option(sub, "why the applied file was changed")
    test_flag(sub)


def _register_status(commands: Any) -> None:
    sub = command(
        commands,
        "status",
        "Show the database (masked), its revision, head and pending revisions.",
        cmd_status,
    )
    sub.add_argument(
        "--graph",
        action="store_true",
        help="also draw the revision graph, current and pending revisions marked",
    )
    format_option(
        sub,
        "json: the current revision(s), the heads, and each pending revision "
        "with its phase (expand, contract or null)",
    )
    test_flag(sub)


def _register_sql(commands: Any) -> None:
    sub = command(
        commands,
        "sql",
        "Print the SQL an upgrade to [FROM:]TO would run; changes nothing.",
        cmd_sql,
    )
    sub.add_argument(
        "spec",
        nargs="?",
        default="head",
        metavar="[FROM:]TO",
        help="FROM defaults to the database's current revision; TO to head",
    )


def cmd_history(settings: Settings, args: argparse.Namespace) -> int:
    from terrafusion_sync.migrations.plumbing.checksums import squashed_files

    url = database_url(settings, test=args.test)
    entries = run(migrations.read_history(url, args.limit or None))
    say(f"history of {describe_target(settings, url, args.test)}")
    if not entries:
        say("no migration has been run by tfsync on this database yet")
    squashed = squashed_files(migrations.script_directory(alembic_config(settings)))
    say_all([entry.describe(squashed.get(entry.checksum or "")) for entry in entries])
    return EXIT_OK


def cmd_validate(settings: Settings, args: argparse.Namespace) -> int:
    url = database_url(settings, test=args.test)
    cfg = alembic_config(settings)
    if args.accept:
        accepted = run(migrations.accept(url, args.accept, args.reason, cfg))
        say(f"accepted {accepted.revision} ({accepted.path.name}) as {accepted.current[:19]}")
        return EXIT_OK
    result = run(migrations.validate(url, cfg))
    say_all(result.describe_lines())
    return EXIT_FINDINGS if result.mismatches else EXIT_OK


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    url = database_url(settings, test=args.test)
    cfg = alembic_config(settings)
    state = run(migrations.status(url, cfg))
    if state.waiting:  # the proof that old code is gone counts statements from here too
        run(migrations.count_old_statements(url, cfg))
    if args.format == "json":
        say(json.dumps(state.as_json(), indent=2))
        return EXIT_OK
    say(describe_target(settings, url, args.test))
    say_all(state.describe_lines())
    if args.graph:
        from terrafusion_sync import pictures

        history = pictures.read_history(cfg)
        pending = [script.revision for script in state.pending]
        say(f"revision graph ({pictures.LEGEND}):")
        say_all([f"  {line}" for line in pictures.text_graph(history, state.current, pending)])
    return EXIT_OK


def cmd_sql(settings: Settings, args: argparse.Namespace) -> int:
    url = None if ":" in args.spec else database_url(settings)
    sys.stdout.write(run(migrations.upgrade_sql(url, args.spec, cfg=alembic_config(settings))))
    return EXIT_OK
