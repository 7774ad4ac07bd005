"""The pictures follow a new revision by themselves: Alembic's post-write hook.

``alembic.ini`` runs ``python -m terrafusion_sync.pictures.follow REVISION_FILE`` after
ruff, for every command that writes a revision (``tfsync revision``, ``tfsync init``,
plain ``alembic revision``), so ``docs/schema.md`` never needs a third command after a
model change. Only the project's own versions folder has a picture; a revision written
anywhere else (a test's copy, ``TFSYNC_VERSIONS_DIR``) changes nothing. A picture that
cannot be drawn is left for the review to report (TF601) rather than failing the revision,
which is already written.
"""

from __future__ import annotations

import sys
from pathlib import Path

from terrafusion_sync.errors import TfsyncError
from terrafusion_sync.migrations.plumbing.config import alembic_config
from terrafusion_sync.pictures.document import document_path, render, write
from terrafusion_sync.settings import shown_path


def follow(revision_file: Path) -> Path | None:
    """Rewrite the picture of the versions folder holding ``revision_file``; the file
    rewritten, or None when it was current or the folder has no picture."""
    cfg = alembic_config(versions_dir=revision_file.parent)
    path = document_path(cfg)
    if path is None:
        return None
    return path if write(render(cfg), path) else None


def main(argv: list[str]) -> int:
    """Follow each revision file named; a failure is a note, never an error."""
    for name in argv:
        try:
            written = follow(Path(name))
        except TfsyncError as exc:
            print(f"tfsync: note: pictures not rewritten: {exc}", file=sys.stderr)
            continue
        if written is not None:
            print(f"rewrote {shown_path(written)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
