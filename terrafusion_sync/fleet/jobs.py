"""What a fleet's worker process is sent and sends back: beneath :mod:`.pool` and :mod:`.worker`.

The parent sends a :class:`Job`; the worker answers on its own pipe with progress lines
(plain strings), then one :class:`Finished`. A pipe per worker, not a queue shared by all:
a worker killed in the middle of a write (SIGKILL, the OOM killer) cannot leave a lock
held that the others would wait on, and its lines come before its result by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from terrafusion_sync.migrations.deploy.timeouts import Timeouts


@dataclass(frozen=True)
class Job:
    """One database to upgrade, and how: what a worker is sent."""

    name: str
    url: URL
    target: str
    versions_dir: Path | None
    limits: Timeouts
    force: bool = False
    """Run even when the pre-flight check says a revision would fail on the rows there."""
    contract: bool = False
    """Apply the contract revisions too (``fleet upgrade --contract``)."""


@dataclass(frozen=True)
class Finished:
    """What one database's upgrade did, as its worker saw it."""

    name: str
    applied: tuple[str, ...]
    heads: tuple[str, ...]
    seconds: float
    error: str | None = None


Message = str | Finished
"""What a worker sends: a progress line, then its :class:`Finished` (last)."""


@dataclass(frozen=True)
class Died:
    """A worker that ended without a result: killed, or crashed in the interpreter."""

    name: str
    seconds: float
    how: str
    """``killed by SIGKILL``, ``exited with code 3``."""
