"""Alembic's errors as the project's one-line errors: unknown revisions, several heads, a
revision file Alembic cannot load."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic.script.revision import RevisionError
from alembic.util import CommandError

from terrafusion_sync.compat import alembic_message_kind, loading_frames
from terrafusion_sync.errors import MigrationError, first_line


@contextmanager
def alembic_errors() -> Iterator[None]:
    """Alembic's ``CommandError`` and ``RevisionError`` (unknown revision, several heads, a
    database at a revision the files do not have, ...) and a revision file
    it cannot load (a syntax error, a failing import) as a one-line error."""
    try:
        yield
    except (CommandError, RevisionError) as exc:
        raise MigrationError(first_line(exc).rstrip("."), _hint_for(str(exc))) from exc
    except Exception as exc:
        unloadable = _unloadable_revision(exc)
        if unloadable is None:
            raise
        raise unloadable from exc


def _unloadable_revision(exc: Exception) -> MigrationError | None:
    """The error for a revision file that failed while Alembic loaded it, else None.

    Alembic loads two kinds of file: env.py, which runs the steps as it loads, and the
    revision files. The file is the module Alembic was loading last when ``exc`` was raised.
    """
    frames = traceback.extract_tb(exc.__traceback__)
    loads = loading_frames(frames)
    if not loads:
        return None
    inner = next((f for f in frames[loads[-1] + 1 :] if f.name == "<module>"), None)
    file: str | None
    line: int | None
    if inner is not None:
        file, line, what = inner.filename, inner.lineno, f"{type(exc).__name__}: {exc}"
    elif isinstance(exc, SyntaxError):
        file, line, what = exc.filename, exc.lineno, exc.msg
    else:  # e.g. the file vanished between listing and loading
        file, line, what = None, None, f"{type(exc).__name__}: {exc}"
    if file is not None and Path(file).name == "env.py":
        return None  # a step failed while env.py ran them: the runner reports those
    name = f"revision file {Path(file).name}" if file else "a revision file"
    at = f" (line {line})" if line else ""
    return MigrationError(
        f"cannot load {name}{at}: {what}", "fix the file or what it imports; nothing was changed"
    )


_HINTS = {
    "unknown revision": "see `make status` for the known revisions",
    "several heads": "merge the heads: alembic merge heads -m 'merge'",
    "too far": "there are not that many revisions to step through; see `make status`",
    "not at head": "run `make upgrade` first",
}


def _hint_for(message: str) -> str:
    kind = alembic_message_kind(message)
    return _HINTS[kind] if kind else "see `make status`; nothing was changed"
