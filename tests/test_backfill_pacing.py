"""How a backfill's batches are sized (README "Data migrations with op.backfill": a batch
takes about the batch time): far below the target a batch scales by its measured time up
to 8x, closer to it at most 2x, and a slow one shrinks at once."""

from __future__ import annotations

import pytest

from terrafusion_sync.migrations.backfill.pacing import FIRST_BATCH, Pacing, next_size

TARGET = 0.2


@pytest.mark.parametrize(
    ("size", "elapsed", "expected"),
    [
        (1_000, 0.004, 8_000),  # mostly fixed cost: 8x, not the 50x its time suggests
        (64_000, 0.030, 426_666),  # under a quarter of the target: scaled to the target
        (64_000, 0.060, 128_000),  # over a quarter: at most twice
        (400_000, 0.190, 421_052),  # near the target: scaled to it
        (400_000, 0.400, 200_000),  # slow: shrinks at once
    ],
)
def test_the_next_batch_follows_the_time_the_last_one_took(
    size: int, elapsed: float, expected: int
) -> None:
    assert next_size(size, elapsed, TARGET) == expected


def test_a_delete_of_cheap_rows_reaches_the_target_size_in_four_batches() -> None:
    # a pace of 2.2M rows/s plus 3 ms per batch, as a batched delete showed on 1M rows
    pacing = Pacing(TARGET)
    sizes = [pacing.size]
    for _ in range(3):
        pacing.took(0.003 + pacing.size / 2_200_000)
        sizes.append(pacing.size)
    assert sizes[:3] == [FIRST_BATCH, 8 * FIRST_BATCH, 64 * FIRST_BATCH]
    assert 0.9 * TARGET <= 0.003 + sizes[3] / 2_200_000 <= 1.1 * TARGET
