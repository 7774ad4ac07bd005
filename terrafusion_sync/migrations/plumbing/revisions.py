"""Which revisions: where a database is, those an upgrade would apply, those it has applied,
and a revision's file name for messages."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.script import Script, ScriptDirectory
from sqlalchemy.engine import Connection

from terrafusion_sync.migrations.plumbing.alembic_errors import alembic_errors
from terrafusion_sync.migrations.plumbing.steps import planned_steps

VERSION_TABLE = "alembic_version"
"""Alembic's version table, unqualified as Alembic's own statements name it (env.py keeps
its default name and schema)."""
_HAS_VERSIONS = sa.text(f"SELECT to_regclass('{VERSION_TABLE}') IS NOT NULL")
_VERSIONS = sa.text(f"SELECT version_num FROM {VERSION_TABLE}")


def current_heads(conn: Connection) -> tuple[str, ...]:
    """The revision(s) ``conn``'s database is at, from its ``alembic_version`` (empty: base).

    What ``MigrationContext.get_current_heads`` reads, in two plain queries: Alembic's way
    builds a migration context and an inspector first, twice the time, and the runner asks
    several times per upgrade.
    """
    if not conn.execute(_HAS_VERSIONS).scalar():
        return ()
    return tuple(row[0] for row in conn.execute(_VERSIONS))


def file_name(script: Script) -> str:
    """The name of a revision's file, for messages (its id when it has no file)."""
    return Path(script.path).name if script.path else script.revision


def pending(scripts: ScriptDirectory, target: Any, current: Sequence[str]) -> list[Script]:
    """The revisions an upgrade from ``current`` to ``target`` (an id, ``head``, or the
    heads) would apply, oldest first: the steps Alembic would run, which include a contract
    branch's revisions whose parent is older than ``current`` (:mod:`.phases`)."""
    with alembic_errors():
        found = list(reversed(list(scripts.iterate_revisions(target, tuple(current)))))
        if not any(
            getattr(s.module, "phase", None) == "contract" for s in scripts.walk_revisions()
        ):
            return found  # one line of history: the same revisions, Alembic's own walk
        steps = planned_steps(scripts, target, tuple(current), upgrading=True)
    return [step.revision for step in steps]


def applied(scripts: ScriptDirectory, current: Sequence[str]) -> list[Script]:
    """The revisions a database at ``current`` has applied, oldest first."""
    if not current:
        return []
    with alembic_errors():
        return list(reversed(list(scripts.iterate_revisions(tuple(current), "base"))))
