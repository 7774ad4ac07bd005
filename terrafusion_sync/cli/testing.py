"""``tfsync test`` (pytest on a test database at head) and ``tfsync db-stop``."""

from __future__ import annotations

import argparse
from typing import Any

from terrafusion_sync import migrations
from terrafusion_sync.cli.common import command, run, say
from terrafusion_sync.embedded import database_url
from terrafusion_sync.errors import EXIT_OK
from terrafusion_sync.settings import Settings


def register(commands: Any) -> None:
    """``test`` and ``db-stop``."""
    sub = command(
        commands, "test", "Bring the test database to head, then run pytest with ARGS.", cmd_test
    )
    sub.add_argument("pytest_args", nargs=argparse.REMAINDER, metavar="ARGS")
    command(
        commands,
        "db-stop",
        "Stop the embedded PostgreSQL servers (the application's data stays in .tfsync/).",
        cmd_db_stop,
    )


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
