"""How big each batch of a backfill is: sized so that a batch takes about a target time.

A writer of the rows a batch changes waits for that batch at most, so the target time
(``batch_time``, else ``TFSYNC_BACKFILL_BATCH_TIME``) bounds its wait. The size follows
the time the last batch took: a slow batch shrinks the next at once, a fast one lets it
grow, gradually (faster while batches are far below the target). A lock timeout halves
it before the batch is tried again.
"""

from __future__ import annotations

from dataclasses import dataclass

FIRST_BATCH = 1000
"""Rows in a backfill's first batch; the target time sizes every later one."""
MAX_BATCH = 1_000_000
"""A bound for a batch whatever its pace: the target time is what sizes it (cheap rows,
a delete's, make big batches; a cap of 100,000 made a batched delete twice as slow as one
DELETE)."""
GROWTH = 2.0
"""A batch is at most this many times the size of the one before..."""
FAST_GROWTH = 8.0
"""... unless it took under :data:`FAST_BELOW` of the target: far below it, its time is
mostly the batch's fixed cost (round trips, commit) or a pace that scales (cheap rows, a
delete's), and cheap rows reach their size in a few batches instead of many (1M deleted
rows: 1,000, 8,000, 64,000, then batches of the target's size; with growth 2 from 64,000
on, two more batches)."""
FAST_BELOW = 0.25
"""The share of the target under which a batch may grow by up to :data:`FAST_GROWTH`."""


def next_size(size: int, elapsed: float, target: float) -> int:
    """The next batch's size: scaled to take ``target`` seconds, growing gradually."""
    growth = FAST_GROWTH if elapsed < target * FAST_BELOW else GROWTH
    factor = min(target / max(elapsed, 1e-3), growth)
    return max(1, min(MAX_BATCH, int(size * factor)))


@dataclass
class Pacing:
    """The size of the next batch, from the target time and how long the last one took."""

    target: float
    """Seconds a batch should take."""
    size: int = FIRST_BATCH

    def took(self, elapsed: float) -> None:
        """The last batch took ``elapsed`` seconds: size the next one."""
        self.size = next_size(self.size, elapsed, self.target)

    def halve(self) -> None:
        """The last batch could not lock its rows in time: try a smaller one."""
        self.size = max(1, self.size // 2)
