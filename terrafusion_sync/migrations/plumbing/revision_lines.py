"""The revision line: the line of a revision file running now (on the stack), or the line
that raised an error (in its traceback).

Alembic hands an operation, a statement or an error no revision: the line is found by
walking out to the nearest frame in one of the revision files. The measured impact, the
review's SQL tracer and every error report that names a line ask here.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Container, Iterable
from types import CodeType
from typing import NamedTuple

from terrafusion_sync.compat import caller_frame


class OnStack(NamedTuple):
    """Where the stack enters a revision file, and what it called from there."""

    line: int | None
    """The revision line running, or None when no revision file is on the stack."""
    called: frozenset[CodeType]
    """The code of each function between that line and the asker (all of them if none)."""


def on_stack(paths: Container[str]) -> OnStack:
    """The innermost frame of the caller's stack in one of ``paths`` (code file names)."""
    frame = caller_frame(1)
    called: set[CodeType] = set()
    while frame is not None:
        if frame.f_code.co_filename in paths:
            return OnStack(frame.f_lineno, frozenset(called))
        called.add(frame.f_code)
        frame = frame.f_back
    return OnStack(None, frozenset(called))


def raised_in(
    paths: Iterable[str | os.PathLike[str]], exc: BaseException
) -> tuple[str, int] | None:
    """Which of the files ``paths`` (revision files) ``exc`` was raised in, and the line.

    The innermost frame in one of them wins; the file is returned as given in ``paths``.
    """
    wanted = {os.path.realpath(p): os.fspath(p) for p in paths if p}
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = wanted.get(os.path.realpath(frame.filename))
        if path is not None and frame.lineno:
            return path, frame.lineno
    return None


def raised_at(path: str | os.PathLike[str] | None, exc: BaseException) -> int | None:
    """The line of the file ``path`` (a revision file) where ``exc`` was raised, if there."""
    found = raised_in([path] if path else [], exc)
    return found[1] if found else None
