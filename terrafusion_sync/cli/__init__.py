"""``tfsync`` / ``python -m terrafusion_sync``: the command line over the migrations core.

One module per command group; each declares its commands with :func:`.common.command`
(name, help, handler) and its arguments with the shared options of :mod:`.common`, which
are declared once. A handler only parses, calls the core, and prints what the values it
gets back say about themselves (``describe()``, ``describe_lines()``, ``as_json()``).

To add a command: write ``register(commands)`` and the handler in the module of its group
(a new module for a new group), then add the module to :data:`GROUPS`. Help lists the
commands in that order.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Sequence
from typing import NoReturn

from terrafusion_sync.cli import (
    authoring,
    backfill,
    chain,
    deploy,
    fleet,
    inspect,
    review,
    testing,
)
from terrafusion_sync.cli.common import PROG, Parser
from terrafusion_sync.errors import EXIT_ERROR, EXIT_OK, TfsyncError, first_line
from terrafusion_sync.settings import debug_requested, load_settings, mask_text

GROUPS = (deploy, inspect, backfill, authoring, review, chain, testing, fleet)
"""The command groups, in the order ``tfsync --help`` lists them."""

__all__ = ["build_parser", "entry_point", "main"]


def build_parser() -> Parser:
    """All commands and their options; ``--help`` reads as the documentation."""
    parser = Parser(prog=PROG, description="TerraFusion Sync database migrations.")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=Parser
    )
    for group in GROUPS:
        group.register(commands)
    return parser


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
        print(
            f"{PROG}: error: unexpected {type(exc).__name__}: {mask_text(first_line(exc))} "
            "(run again with TFSYNC_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return EXIT_ERROR
