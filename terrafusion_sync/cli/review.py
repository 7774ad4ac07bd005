"""``tfsync review`` (the gate before merge) and ``tfsync docs`` (the pictures it checks)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from terrafusion_sync.cli.common import (
    alembic_config,
    command,
    format_option,
    reason_option,
    run,
    say,
)
from terrafusion_sync.embedded import database_url
from terrafusion_sync.errors import EXIT_FINDINGS, EXIT_OK
from terrafusion_sync.settings import Settings, shown_path


def register(commands: Any) -> None:
    """``review`` and ``docs``."""
    sub = command(
        commands,
        "review",
        "The gate before merge: lint, structure, drift, stairway, unsafe operations, sealed "
        "history (its codes: tfsync review --codes).",
        cmd_review,
    )
    sub.add_argument(
        "files",
        nargs="*",
        help="changed files (from pre-commit): per-revision checks run on these revisions only",
    )
    format_option(sub)
    sub.add_argument(
        "--seal",
        nargs="?",
        const="",
        metavar="REV",
        help="record checksums in versions.sum instead of reviewing: every unsealed revision, "
        "or REV (a sealed, edited one needs --reason)",
    )
    reason_option(sub, "why a sealed revision is re-sealed")
    sub.add_argument(
        "--codes",
        action="store_true",
        help="list every review code instead of reviewing: title, severity, why, the safe way "
        "and the check that finds it (--format json for tools)",
    )
    sub.add_argument(
        "--readme",
        metavar="PATH",
        help="with --codes: rewrite the review-codes table of the README at PATH from the registry",
    )

    sub = command(
        commands,
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


def cmd_review(settings: Settings, args: argparse.Namespace) -> int:
    # imported when used: the commands an operator runs load only what they need
    from terrafusion_sync.review import format_json, format_text, review, seal_chain

    if args.codes or args.readme:
        return show_codes(args)
    cfg = alembic_config(settings)
    if args.seal is not None:
        sealed = seal_chain(cfg, [args.seal] if args.seal else [], args.reason)
        for seal in sealed:
            say(
                f"sealed {seal.revision}  {seal.file}"
                + (f"  ({seal.reason})" if seal.reason else "")
            )
        say(f"{len(sealed)} revision(s) sealed" if sealed else "nothing to seal")
        return EXIT_OK
    files = [Path(f) for f in args.files] or None
    done = run(review(database_url(settings, test=True), cfg=cfg, files=files))
    if args.format == "json":
        say(format_json(done.findings, done.revisions))
        return EXIT_FINDINGS if done.findings else EXIT_OK
    if done.unsealed:
        say(
            f"note: {len(done.unsealed)} revision(s) not sealed yet: {', '.join(done.unsealed)}"
            " (seal them when they merge to main: tfsync review --seal)"
        )
    say(format_text(done.findings, done.revisions))
    return EXIT_FINDINGS if done.findings else EXIT_OK


def show_codes(args: argparse.Namespace) -> int:
    """``review --codes``: the registry, listed or as the README's table; no database."""
    from terrafusion_sync.review import codes_table

    if args.readme:
        readme = Path(args.readme)
        changed = codes_table.rewrite_readme(readme)
        say(f"{'rewrote' if changed else 'unchanged:'} the review codes in {shown_path(readme)}")
    else:
        say(codes_table.as_json() if args.format == "json" else codes_table.listing())
    return EXIT_OK


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
