"""The errors every command reports, the exit codes they map to (README.md, "Errors and exit
codes"), and an error's first line for a one-line report (where in a revision file it was
raised: :mod:`terrafusion_sync.migrations.plumbing.revision_lines`)."""

from __future__ import annotations

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


_ASYNCPG_PREFIX = "<class 'asyncpg.exceptions."


def first_line(error: BaseException | str, *, typed: bool = False) -> str:
    """The first line of an error's message, for a one-line report.

    A SQLAlchemy DBAPI error is looked through to the driver's own error, and asyncpg's
    ``<class '...'>:`` prefix is dropped. ``typed`` puts the error's type in front
    (``ValueError: ...``). An error with no message gives its type's name.
    """
    if isinstance(error, str):
        lines, name = error.strip().splitlines(), ""
    else:
        cause = getattr(error, "orig", None) or error
        lines, name = str(cause).strip().splitlines(), type(cause).__name__
    if not lines:
        return name
    line = lines[0]
    if line.startswith(_ASYNCPG_PREFIX):
        line = line.split(">: ", 1)[-1]
    return f"{name}: {line}" if typed and name else line


class RevisionCallError(MigrationError):
    """A call in a revision file (``op.backfill``) refused its input.

    Raised inside the revision's ``upgrade()``; the core, which knows the step it runs, puts
    the revision, its file and the line of the call in front of the message.
    """
