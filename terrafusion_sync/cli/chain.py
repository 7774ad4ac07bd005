"""``tfsync squash`` and ``tfsync rebase``: keeping the revision history short and straight."""

from __future__ import annotations

import argparse
from typing import Any

from terrafusion_sync.cli.common import alembic_config, command, force_flag, run, say, say_all
from terrafusion_sync.embedded import database_url
from terrafusion_sync.errors import EXIT_FINDINGS, EXIT_OK
from terrafusion_sync.settings import Settings


def register(commands: Any) -> None:
    """``squash`` and ``rebase``."""
    sub = command(
        commands,
        "squash",
        "Replace the revisions up to REV with one proven baseline that keeps REV's id.",
        cmd_squash,
    )
    sub.add_argument("--through", required=True, metavar="REV", help="the last revision to fold")
    force_flag(sub, "skip known databases that cannot be reached (never one that is behind)")
    sub = command(
        commands,
        "rebase",
        "Two heads after a merge: move this branch's revisions onto the other head, then review.",
        cmd_rebase,
    )
    sub.add_argument(
        "--onto", default="main", metavar="BRANCH", help="the git branch to compare with (main)"
    )


def cmd_squash(settings: Settings, args: argparse.Namespace) -> int:
    from terrafusion_sync.migrations.chain.squash import squash
    from terrafusion_sync.migrations.plumbing.config import versions_dir
    from terrafusion_sync.review.seal import record_squash

    cfg = alembic_config(settings)
    done = run(
        squash(
            args.through,
            cfg=cfg,
            scratch_server=database_url(settings, test=True),
            databases=known_databases(settings),
            force=args.force,
            report=say,
        )
    )
    say_all(done.describe_lines())
    sealed = record_squash(versions_dir(cfg), [r.revision for r in done.replaced], done.baseline)
    if sealed is not None:
        say(f"versions.sum: {sealed.revision} re-sealed ({sealed.reason})")
    say("next: make review, make docs, then commit the squash")
    return EXIT_OK


def known_databases(settings: Settings) -> list[Any]:
    """The databases a squash must not leave behind: the application's, the test
    database, and every database of the fleet file when there is one."""
    from terrafusion_sync.fleet.fleet_file import load_fleet
    from terrafusion_sync.migrations.chain.standing import Known
    from terrafusion_sync.settings import environment_values

    known = [
        Known("the application database", database_url(settings)),
        Known("the test database", database_url(settings, test=True)),
    ]
    if settings.fleet_file.is_file():
        fleet = load_fleet(settings.fleet_file, environment_values())
        known += [Known(f"fleet database {m.name}", m.url) for m in fleet.members]
    return known


def cmd_rebase(settings: Settings, args: argparse.Namespace) -> int:
    from terrafusion_sync.migrations.chain.rebase import rebase
    from terrafusion_sync.review import format_text, review

    done = run(rebase(args.onto, app_url=database_url(settings), cfg=alembic_config(settings)))
    say_all(done.describe_lines())
    if not done.moved:
        return EXIT_OK
    checked = run(review(database_url(settings, test=True), cfg=alembic_config(settings)))
    say(format_text(checked.findings, checked.revisions))
    return EXIT_FINDINGS if checked.findings else EXIT_OK
