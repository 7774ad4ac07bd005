"""The errors every command reports, the exit codes they map to (see DESIGN.md), and where
in a revision file an error was raised."""

from __future__ import annotations

import os
import traceback

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2


class TfsyncError(Exception):
    """A problem the user can fix; printed as one line: ``what happened (what to do)``."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(TfsyncError):
    """Settings, URLs or the ``.env`` file are wrong."""


class DatabaseError(TfsyncError):
    """The database could not be reached or refused what was asked."""


class MissingDatabaseError(DatabaseError):
    """The database the URL names does not exist on its server."""


class MigrationError(TfsyncError):
    """Alembic could not do what was asked (unknown revision, not at head, ...)."""


def raised_at(path: str | os.PathLike[str] | None, exc: BaseException) -> int | None:
    """The line of the file ``path`` (a revision file) where ``exc`` was raised, if there."""
    if not path:
        return None
    wanted = os.path.realpath(path)
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.lineno and os.path.realpath(frame.filename) == wanted:
            return frame.lineno
    return None
