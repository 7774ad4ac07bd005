"""See before doing: the revisions an upgrade would run, their timeouts and their SQL.

The SQL is Alembic's offline rendering (``--sql``); the database is only read (its current
revision), never changed, and no lock is taken.
"""

from __future__ import annotations

from dataclasses import dataclass

from alembic.config import Config
from alembic.script import Script
from sqlalchemy.engine import URL

from terrafusion_sync.migrations.commands import current_revisions, upgrade_sql
from terrafusion_sync.migrations.config import (
    alembic_config,
    alembic_errors,
    file_name,
    script_directory,
)
from terrafusion_sync.migrations.timeouts import Timeouts


@dataclass(frozen=True)
class Planned:
    """One revision that would run."""

    script: Script
    lock_timeout: str
    statement_timeout: str

    def describe(self) -> str:
        """``rev  doc  (file; lock_timeout 5s, statement_timeout 1h)``."""
        return (
            f"{self.script.revision}  {self.script.doc}  ({file_name(self.script)}; lock_timeout "
            f"{self.lock_timeout}, statement_timeout {self.statement_timeout})"
        )


@dataclass(frozen=True)
class Plan:
    """Where the database is, the revisions to run in order, and their SQL."""

    current: tuple[str, ...]
    revisions: list[Planned]
    sql: str


async def plan(
    url: URL, target: str = "head", *, cfg: Config | None = None, limits: Timeouts | None = None
) -> Plan:
    """What ``upgrade`` to ``target`` would do; changes nothing."""
    cfg = cfg or alembic_config()
    limits = limits or Timeouts()
    scripts = script_directory(cfg)
    current = await current_revisions(url, cfg)
    with alembic_errors():
        pending = list(reversed(list(scripts.iterate_revisions(target, current))))
    planned = [Planned(s, *limits.for_revision(s)) for s in pending]
    spec = f"{current[0]}:{target}" if len(current) == 1 else target  # known: no reconnect
    sql = await upgrade_sql(url, spec, cfg=cfg) if planned else ""
    return Plan(current, planned, sql)
