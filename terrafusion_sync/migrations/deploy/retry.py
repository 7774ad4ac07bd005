"""One policy for a lock timeout: how often it is tried again, and how long to wait first.

A statement that gives up waiting for its lock (``lock_timeout``) lets the queue behind it
drain; tried again a moment later it usually gets the lock. A revision of the deploy
(:mod:`.runner`) and a batch of a backfill retry the same way: at most
``Timeouts.retries`` times, each wait twice the one before (from ``Timeouts.backoff``),
with jitter so that two runs that collided do not collide again.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from terrafusion_sync.compat import await_
from terrafusion_sync.migrations.deploy.timeouts import Timeouts


@dataclass(frozen=True)
class Retry:
    """The next try: its number (from 1), of how many, and the seconds to wait first."""

    number: int
    of: int
    delay: float

    def __str__(self) -> str:
        return f"retry {self.number} of {self.of}"


class LockRetries:
    """The retries left to one run after lock timeouts; :meth:`next` spends one."""

    def __init__(self, limits: Timeouts) -> None:
        self.limits = limits
        self.made = 0

    @property
    def attempts(self) -> int:
        """Tries so far: the first and each retry."""
        return self.made + 1

    def next(self) -> Retry | None:
        """The next retry, or None when all are spent (then give up)."""
        if self.made >= self.limits.retries:
            return None
        self.made += 1
        delay = self.limits.backoff * 2 ** (self.made - 1) * random.uniform(0.75, 1.25)
        return Retry(self.made, self.limits.retries, delay)

    def reset(self) -> None:
        """A try succeeded: the next lock timeout starts the count afresh."""
        self.made = 0

    @staticmethod
    def wait(retry: Retry) -> None:
        """Sleep before ``retry``, inside ``AsyncConnection.run_sync`` (on its own loop)."""
        await_(asyncio.sleep(retry.delay))
