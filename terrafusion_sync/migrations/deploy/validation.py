"""Applied revisions must not change: compare each file's checksum with the one recorded.

A baseline written by ``tfsync squash`` keeps the id of the last revision it replaced and
lists that file's checksum: a database that recorded it applied the same schema, so it
passes.

Upgrade and downgrade refuse to run on a mismatch. A deliberate fix to an applied file is
accepted explicitly (``tfsync validate --accept REV --reason "..."``), which records the
new checksum, the reason, who and when, in the history.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, Connection

from terrafusion_sync.database import connect
from terrafusion_sync.errors import MigrationError
from terrafusion_sync.migrations.deploy import history, lock
from terrafusion_sync.migrations.outcome import quiet
from terrafusion_sync.migrations.plumbing.alembic_errors import alembic_errors
from terrafusion_sync.migrations.plumbing.checksums import checksum_of, replaced_checksum
from terrafusion_sync.migrations.plumbing.config import alembic_config, script_directory
from terrafusion_sync.migrations.plumbing.revisions import applied, current_heads


@dataclass(frozen=True)
class Mismatch:
    """An applied revision whose file is no longer what was applied."""

    revision: str
    path: Path
    recorded: str
    current: str
    recorded_at: datetime

    def describe(self) -> str:
        """``rev (file): changed since it was applied on <date>``."""
        return (
            f"{self.revision} ({self.path.name}) changed since it was applied "
            f"{self.recorded_at:%Y-%m-%d %H:%M} UTC (recorded {self.recorded[:19]}, "
            f"now {self.current[:19]})"
        )


@dataclass(frozen=True)
class Validation:
    """Applied revisions checked, those that changed, and those with no recorded checksum."""

    checked: list[str] = field(default_factory=list)
    mismatches: list[Mismatch] = field(default_factory=list)
    unrecorded: list[str] = field(default_factory=list)

    def describe_lines(self) -> list[str]:
        """Each changed file, those applied before the history existed, then a count."""
        lines = [f"changed: {mismatch.describe()}" for mismatch in self.mismatches]
        if self.unrecorded:
            unrecorded = ", ".join(self.unrecorded)
            lines.append(f"not recorded (applied before the history existed): {unrecorded}")
        lines.append(
            f"{len(self.mismatches)} changed of {len(self.checked)} applied revision(s) "
            "with a recorded checksum"
        )
        return lines


def check(
    conn: Connection, scripts: ScriptDirectory, checksums: Mapping[Path, str] | None = None
) -> Validation:
    """Compare every applied revision's file with its recorded checksum.

    ``checksums`` are those a run read already (see :mod:`.checksums`); others are read here.
    """
    current = current_heads(conn)
    result = Validation()
    if not current:
        return result
    recorded = history.recorded_checksums(conn)
    for script in applied(scripts, current):
        entry = recorded.get(script.revision)
        if entry is None or entry.checksum is None:
            result.unrecorded.append(script.revision)
            continue
        result.checked.append(script.revision)
        now = checksum_of(script.path, checksums or {})
        if now != entry.checksum and entry.checksum != replaced_checksum(script):
            result.mismatches.append(
                Mismatch(script.revision, Path(script.path), entry.checksum, now, entry.started_at)
            )
    return result


def refuse_changed(
    conn: Connection, scripts: ScriptDirectory, checksums: Mapping[Path, str] | None = None
) -> None:
    """Raise when an applied revision's file changed since it was applied."""
    found = check(conn, scripts, checksums).mismatches
    if found:
        more = f" and {len(found) - 1} more" if len(found) > 1 else ""
        raise MigrationError(
            f"revision {found[0].describe()}{more}: refusing to migrate",
            "restore the file (see `tfsync validate`); if the change is deliberate, record it: "
            f'tfsync validate --accept {found[0].revision} --reason "..."',
        )


async def validate(url: URL, cfg: Config | None = None) -> Validation:
    """The checksum validation of the database at ``url``; changes nothing."""
    scripts = script_directory(cfg or alembic_config())
    async with connect(url) as conn:
        return await conn.run_sync(lambda c: check(c, scripts))


async def accept(url: URL, revision: str, reason: str, cfg: Config | None = None) -> Mismatch:
    """Record the current checksum of ``revision``'s changed file, with ``reason``."""
    if not reason.strip():
        raise MigrationError(
            "accepting a changed revision needs a reason",
            'say why the applied file was changed: --reason "fix typo in comment"',
        )
    scripts = script_directory(cfg or alembic_config())

    def run(conn: Connection) -> Mismatch:
        lock.acquire(conn, quiet)
        try:
            found = {m.revision: m for m in check(conn, scripts).mismatches}
            with alembic_errors():
                wanted = scripts.get_revision(revision)
            if wanted.revision not in found:
                raise MigrationError(
                    f"revision {revision} has no checksum mismatch: nothing to accept",
                    "see `tfsync validate` for the revisions that changed",
                )
            mismatch = found[wanted.revision]
            now = datetime.now(UTC)
            history.record(
                conn,
                revision=mismatch.revision,
                direction="accept",
                checksum=mismatch.current,
                started_at=now,
                finished_at=now,
                duration_s=0.0,
                note=reason.strip(),
            )
            conn.commit()
            return mismatch
        finally:
            lock.release(conn)

    async with connect(url) as conn:
        return await conn.run_sync(run)
