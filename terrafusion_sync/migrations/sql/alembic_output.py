"""Alembic's offline SQL (``upgrade --sql``), read revision by revision.

Alembic opens each revision's part of the script with a comment line, ``-- Running upgrade
A -> B``. This is the one reader of that mark: the pre-flight and the plan split a whole
script with :func:`split`; the review's tracer, which sees the output as it is written,
asks :func:`running_revision` of each write.
"""

from __future__ import annotations

import re

_RUNNING = re.compile(r"^-- Running upgrade .*-> (\w+)\s*$", re.MULTILINE)


def running_revision(text: str) -> str | None:
    """The revision whose SQL follows, when ``text`` (one write of the output) is the mark."""
    mark = _RUNNING.match(text.strip())
    return mark[1] if mark else None


def split(sql: str) -> list[tuple[str, str]]:
    """Alembic's offline SQL as ``[(revision, its SQL)]``, in order."""
    marks = list(_RUNNING.finditer(sql))
    return [
        (mark[1], sql[mark.end() : marks[i + 1].start() if i + 1 < len(marks) else len(sql)])
        for i, mark in enumerate(marks)
    ]
