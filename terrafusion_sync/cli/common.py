"""What every command group shares: the parser, output, and the options declared once."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from sqlalchemy.engine import URL

from terrafusion_sync import migrations
from terrafusion_sync.aio import run_blocking
from terrafusion_sync.errors import EXIT_ERROR
from terrafusion_sync.settings import Settings, mask_text, mask_url, url_label

if TYPE_CHECKING:
    from alembic.config import Config

PROG = "tfsync"
T = TypeVar("T")

Handler = Callable[[Settings, argparse.Namespace], int]
"""A command: the settings and the parsed arguments in, the exit code out."""


class Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        fail(f"{message} (see `{self.prog} --help`)")


def command(commands: Any, name: str, help_: str, handler: Handler) -> Parser:
    """Add the command ``name``, run by ``handler``; ``help_`` is its one-line description."""
    sub: Parser = commands.add_parser(name, help=help_, description=help_)
    sub.set_defaults(handler=handler)
    return sub


def group(commands: Any, name: str, help_: str) -> Any:
    """A command with commands of its own (``tfsync fleet status``); returns their adder."""
    parent: Parser = commands.add_parser(name, help=help_, description=help_)
    return parent.add_subparsers(
        dest=f"{name}_command", required=True, metavar="COMMAND", parser_class=Parser
    )


def fail(message: str) -> NoReturn:
    """Print ``tfsync: error: ...`` on stderr and exit 2."""
    print(f"{PROG}: error: {mask_text(message)}", file=sys.stderr)
    raise SystemExit(EXIT_ERROR)


def say(line: str) -> None:
    """Progress and results go to stdout, flushed so they show as they happen."""
    print(line, flush=True)


def say_all(lines: list[str]) -> None:
    """Each line, as :func:`say`."""
    for line in lines:
        say(line)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine of the core."""
    return run_blocking(coro)


def describe_target(settings: Settings, url: URL, test: bool) -> str:
    """``test database: postgresql+asyncpg://u:***@h/db`` (or the embedded cluster)."""
    which = "test database" if test else "database"
    configured = settings.test_database_url if test else settings.database_url
    where = "embedded PostgreSQL, " + url_label(url) if configured is None else mask_url(url)
    return f"{which}: {where}"


def alembic_config(settings: Settings) -> Config:
    """The Alembic config, on ``TFSYNC_VERSIONS_DIR`` when set (benchmarks, tests)."""
    return migrations.alembic_config(versions_dir=settings.versions_dir)


# The options several commands share, each declared once.


def revision_argument(sub: Parser, default: str = "head", help_: str | None = None) -> None:
    """The target revision ``REV`` (positional, optional)."""
    sub.add_argument(
        "revision",
        nargs="?",
        default=default,
        metavar="REV",
        help=help_ or f"target revision (default: {default})",
    )


def test_flag(sub: Parser) -> None:
    """``--test``: the test database instead of the application's."""
    sub.add_argument("--test", action="store_true", help="act on TEST_DATABASE_URL instead")


def format_option(sub: Parser, help_: str | None = None) -> None:
    """``--format text|json``."""
    sub.add_argument("--format", choices=("text", "json"), default="text", help=help_)


def plan_flag(sub: Parser, help_: str) -> None:
    """``--plan``: say what would run and do, change nothing."""
    sub.add_argument("--plan", action="store_true", help=help_)


def force_flag(sub: Parser, help_: str) -> None:
    """``--force``: run even where a pre-flight check refuses."""
    sub.add_argument("--force", action="store_true", help=help_)


def reason_option(sub: Parser, help_: str) -> None:
    """``--reason TEXT``: why a deliberate exception is made, kept in the record."""
    sub.add_argument("--reason", default="", help=help_)


def fleet_options(sub: Parser) -> None:
    """``--fleet FILE`` and ``--only TAG=VALUE``: which databases of which fleet file."""
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
