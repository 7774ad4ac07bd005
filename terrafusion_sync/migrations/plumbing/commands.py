"""Status and SQL preview: Alembic driven on one connection.

Each function opens a single connection with :func:`terrafusion_sync.database.connect`
and hands it to Alembic through ``config.attributes["connection"]``, so ``env.py`` runs
exactly as it does under plain ``alembic``.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy.engine import URL, Connection

from terrafusion_sync.database import connect
from terrafusion_sync.errors import MigrationError
from terrafusion_sync.migrations.plumbing import phases
from terrafusion_sync.migrations.plumbing.alembic_errors import alembic_errors
from terrafusion_sync.migrations.plumbing.config import (
    alembic_config,
    script_directory,
)
from terrafusion_sync.migrations.plumbing.revisions import current_heads, pending
from terrafusion_sync.migrations.plumbing.steps import planned_steps

T = TypeVar("T")


@dataclass(frozen=True)
class DatabaseStatus:
    """Where a database stands against the revision files."""

    current: tuple[str, ...]
    heads: tuple[str, ...]
    pending: list[Script] = field(default_factory=list)

    @property
    def at_head(self) -> bool:
        """True when every head is applied and nothing else is."""
        return set(self.current) == set(self.heads)

    def describe_lines(self) -> list[str]:
        """``current:``, ``head:`` and ``pending:`` lines, as ``tfsync status`` prints them."""
        lines = [
            f"current: {', '.join(self.current) or 'base (empty)'}",
            f"head:    {', '.join(self.heads) or '(no revisions)'}",
        ]
        if not self.pending:
            return [*lines, "pending: none, the database is at head"]
        lines.append(f"pending: {len(self.pending)}")
        for script in self.pending:
            phase = self.phase(script)
            lines.append(f"  {script.revision}  {script.doc}" + (f"  [{phase}]" if phase else ""))
        if self.waiting:
            lines.append(
                f"{len(self.waiting)} contract revision(s) wait for `make contract` "
                "(once no instance of the old application runs)"
            )
        return lines

    def phase(self, script: Script) -> str | None:
        """``expand``, ``contract`` or None (see :mod:`.phases`)."""
        return phases.phase_of(script)

    @property
    def waiting(self) -> list[Script]:
        """Pending contract revisions: ``make upgrade`` leaves them for ``make contract``."""
        return [s for s in self.pending if phases.is_contract(s)]

    def as_json(self) -> dict[str, Any]:
        """For ``tfsync status --format json``: each pending revision with its phase."""
        return {
            "current": list(self.current),
            "heads": list(self.heads),
            "pending": [
                {"revision": s.revision, "message": s.doc, "phase": self.phase(s)}
                for s in self.pending
            ],
        }


async def run_on(url: URL, cfg: Config, fn: Callable[[Connection], T]) -> T:
    """Run ``fn`` with a synchronous connection to ``url`` that Alembic will use."""

    def call(sync_conn: Connection) -> T:
        cfg.attributes["connection"] = sync_conn
        try:
            with alembic_errors():
                return fn(sync_conn)
        finally:
            cfg.attributes.pop("connection", None)

    async with connect(url) as conn:
        result = await conn.run_sync(call)
        await conn.commit()
        return result


async def current_revisions(url: URL, cfg: Config | None = None) -> tuple[str, ...]:
    """The revision(s) the database is at (empty at base); loads no revision file."""
    return await run_on(url, cfg or alembic_config(), current_heads)


async def status(url: URL, cfg: Config | None = None) -> DatabaseStatus:
    """The database's current revision(s), the heads, and what an upgrade would apply."""
    cfg = cfg or alembic_config()
    scripts = script_directory(cfg)
    with alembic_errors():
        heads = tuple(scripts.get_heads())
    current = await current_revisions(url, cfg)
    return DatabaseStatus(current=current, heads=heads, pending=pending(scripts, heads, current))


async def upgrade_sql(
    url: URL | None,
    spec: str,
    *,
    cfg: Config | None = None,
    buffer: io.StringIO | None = None,
    scripts: ScriptDirectory | None = None,
) -> str:
    """The SQL an upgrade to ``[FROM:]TO`` would run; FROM defaults to the database's revision.

    ``buffer`` receives the SQL as Alembic writes it (the review uses its own, to see which
    line of which revision file emits each statement).
    """
    cfg = cfg or alembic_config()
    spec = spec.strip() or "head"
    if ":" not in spec:
        if url is None:
            raise MigrationError("no database to start from", "give FROM:TO, or a database URL")
        current = await current_revisions(url, cfg)
        if len(current) > 1:
            raise MigrationError(
                f"the database has several heads ({revs_text(current)})",
                "give the starting revision explicitly: FROM:TO",
            )
        spec = f"{current[0]}:{spec}" if current else spec
    return offline_sql(cfg, spec, buffer, scripts)


def offline_sql(
    cfg: Config,
    spec: str,
    buffer: io.StringIO | None = None,
    scripts: ScriptDirectory | None = None,
) -> str:
    """Alembic's offline rendering of ``[FROM:]TO`` (``alembic upgrade FROM:TO --sql``).

    What ``alembic.command.upgrade(sql=True)`` does, on ``scripts`` when the caller has
    them loaded already (the runner's pre-flight, the plan, the review), instead of
    loading every revision file again.
    """
    buffer = buffer if buffer is not None else io.StringIO()
    cfg.output_buffer = buffer
    start, _, target = spec.rpartition(":")
    with alembic_errors():
        scripts = scripts or script_directory(cfg)
        with EnvironmentContext(
            cfg,
            scripts,
            fn=lambda heads, _: planned_steps(scripts, target, heads, upgrading=True),
            as_sql=True,
            starting_rev=start or None,
            destination_rev=target,
        ):
            scripts.run_env()
    return buffer.getvalue()


def revs_text(revs: tuple[str, ...]) -> str:
    return ", ".join(revs) if revs else "base (empty)"
