"""Measuring side by side, and printing ratios the same way in every benchmark."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def timed(fn: Callable[[], object], repeat: int = 5) -> float:
    """Median wall time of ``repeat`` calls of ``fn``, in seconds."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def report(
    label: str, ours: tuple[str, float], theirs: tuple[str, float], unit: str = "s"
) -> float:
    """Print ``label: ours X vs theirs Y -> ratio R`` and return R (ours / theirs)."""
    (ours_name, ours_value), (theirs_name, theirs_value) = ours, theirs
    ratio = ours_value / theirs_value if theirs_value else float("inf")
    print(
        f"{label}: {ours_name} {ours_value:.3f} {unit} vs {theirs_name} {theirs_value:.3f} {unit}"
        f" -> ratio {ratio:.2f} (difference {ours_value - theirs_value:+.3f} {unit})",
        flush=True,
    )
    return ratio
