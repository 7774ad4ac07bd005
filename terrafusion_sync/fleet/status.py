"""Where every database of the fleet stands: read in parallel, each with a short timeout.

One connection per database, two small reads: the core's one-query up-to-date check
(:mod:`terrafusion_sync.migrations.deploy.uptodate`, what ``make upgrade`` asks first),
which also reads the revision in ``alembic_version``, and the last successful upgrade in the
history table (a database the tooling has not run on takes a query or two more). A
database that does not answer, or whose revision the files do not know, is a row that
says so: reading the fleet never stops at one database.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from terrafusion_sync.database import connect
from terrafusion_sync.database_errors import translate_errors
from terrafusion_sync.errors import MigrationError, TfsyncError
from terrafusion_sync.fleet.fleet_file import Fleet, Member
from terrafusion_sync.migrations.deploy import history, uptodate
from terrafusion_sync.migrations.plumbing import phases
from terrafusion_sync.migrations.plumbing.alembic_errors import alembic_errors
from terrafusion_sync.migrations.plumbing.checksums import versions_fingerprint
from terrafusion_sync.migrations.plumbing.config import (
    alembic_config,
    script_directory,
    versions_dir,
)
from terrafusion_sync.migrations.plumbing.revisions import current_heads, pending

READS_AT_ONCE = 16
"""Databases read at the same time (each read is one short connection)."""

_LAST_UPGRADE = sa.select(sa.func.max(history.table.c.finished_at)).where(
    history.table.c.success, history.table.c.direction == "upgrade"
)


@dataclass(frozen=True)
class State:
    """What one database said, or why it could not say it."""

    member: Member
    current: tuple[str, ...] = ()
    """Its revision(s) (empty: base)."""
    pending: tuple[str, ...] = ()
    """The revisions an upgrade to the target would apply, oldest first."""
    last_upgrade: datetime | None = None
    """When its last successful upgrade step finished (None: never, by tfsync)."""
    up_to_date: bool = False
    """The core's own check says an upgrade has nothing to do (so it is not started)."""
    down: str | None = None
    """Why it could not be reached (None: it answered)."""
    broken: str | None = None
    """Why its revision cannot be placed among the files (None: it can)."""
    waiting: tuple[str, ...] = ()
    """Contract revisions not applied that the upgrade leaves for ``--contract``."""

    @property
    def problem(self) -> str | None:
        """Why this database cannot be upgraded as it is, if it cannot."""
        return self.down or self.broken


@dataclass(frozen=True)
class Revisions:
    """The revision files every database of a run is compared with, loaded once."""

    cfg: Config
    scripts: ScriptDirectory
    fingerprint: str
    """What the core's one-query up-to-date check compares (see ``uptodate``)."""
    target: str


def load_revisions(versions: Path | None, target: str = "head", *, check: bool = True) -> Revisions:
    """The revision files (``versions`` or the project's); with ``check``, refuse a
    ``target`` they do not have before any database is touched."""
    cfg = alembic_config(versions_dir=versions)
    scripts = script_directory(cfg)
    if check:
        check_target(scripts, target)
    return Revisions(cfg, scripts, versions_fingerprint(versions_dir(cfg)), target)


async def status_of(
    fleet: Fleet, members: Sequence[Member], versions: Path | None = None
) -> list[State]:
    """``tfsync fleet status``: every member's :class:`State` against the files' head."""
    files = load_revisions(versions, check=False)
    return await read_states(members, files, fleet.connect_timeout)


async def read_states(members: Sequence[Member], files: Revisions, wait: float) -> list[State]:
    """Every member's :class:`State`, in order; at most :data:`READS_AT_ONCE` at a time."""
    gate = asyncio.Semaphore(READS_AT_ONCE)

    async def one(member: Member) -> State:
        async with gate:
            return await read_state(member, files, wait)

    return list(await asyncio.gather(*(one(m) for m in members)))


async def read_state(member: Member, files: Revisions, wait: float) -> State:
    """One database's :class:`State`; connecting and reading take ``wait`` s at most."""
    async with reading(member, files, wait) as (state, _):
        return state


@asynccontextmanager
async def reading(
    member: Member, files: Revisions, wait: float
) -> AsyncIterator[tuple[State, AsyncConnection | None]]:
    """One database's :class:`State` and the connection it was read on, kept open for
    more reads while the block runs (a plan's: one connection per database, not two);
    None when it could not be reached. Connecting and reading take ``wait`` s at most."""
    async with AsyncExitStack() as stack:
        conn: AsyncConnection | None = None
        try:
            async with asyncio.timeout(wait):
                conn = await stack.enter_async_context(connect(member.url))
                with translate_errors(member.url, connecting=False):  # as inside connect()
                    known, current, last = await conn.run_sync(lambda c: _read(c, files))
        except TimeoutError:
            state = State(member, down=f"no answer from {member.where} within {wait:g} s")
            conn = None
        except TfsyncError as exc:
            state, conn = State(member, down=str(exc)), None
        else:
            state = _state(member, files, known, current, last)
        yield state, conn


def _state(
    member: Member,
    files: Revisions,
    known: tuple[str, ...] | None,
    current: tuple[str, ...],
    last: datetime | None,
) -> State:
    """The :class:`State` of what ``member`` answered."""
    if known is not None:
        return State(member, current, (), last, up_to_date=True)
    try:
        pending = pending_revisions(files.scripts, files.target, current)
        waits = tuple(s.revision for s in phases.waiting(files.scripts, current))
    except MigrationError as exc:
        at = ", ".join(current) or "base"
        why = exc.message
        return State(
            member,
            current,
            (),
            last,
            broken=f"at {at}, which the revision files cannot take to {files.target}: {why}",
        )
    waiting = tuple(w for w in waits if w not in pending)
    return State(member, current, pending, last, waiting=waiting)


def check_target(scripts: ScriptDirectory, target: str) -> None:
    """Refuse a target the revision files do not have, before any database is touched."""
    try:
        with alembic_errors():
            scripts.get_revisions(target)
    except MigrationError as exc:
        raise MigrationError(
            f"target {target!r}: {exc.message}",
            "give a revision of the files, or head; nothing was run",
        ) from exc


def pending_revisions(
    scripts: ScriptDirectory, target: str, current: tuple[str, ...]
) -> tuple[str, ...]:
    """The revisions from ``current`` to ``target``, oldest first (as ``make status``);
    ``head`` is the main head when contract revisions wait (see ``plumbing/phases.py``)."""
    target = phases.upgrade_target(scripts, target, contract=False)
    return tuple(s.revision for s in pending(scripts, target, current))


def _read(
    conn: Connection, files: Revisions
) -> tuple[tuple[str, ...] | None, tuple[str, ...], datetime | None]:
    row = uptodate.state_row(conn)
    known = uptodate.known_heads(row, files.fingerprint, files.target)
    if row is not None:  # alembic_version and the history table exist: read already
        current = tuple(row["current"])
        last = conn.execute(_LAST_UPGRADE).scalar()
    else:
        current = current_heads(conn)
        last = conn.execute(_LAST_UPGRADE).scalar() if history.exists(conn) else None
    conn.rollback()
    return known, current, last
