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


def turns(
    ours: Callable[[], object],
    theirs: Callable[[], object],
    repeat: int,
    before: Callable[[], None] = lambda: None,
) -> dict[str, list[tuple[float, float]]]:
    """``ours`` and ``theirs`` run ``repeat`` times each, in turns; ``before`` is not timed.
    Per name, each run's (wall seconds, this process's CPU seconds).

    The order flips every round (ours first, then theirs first), so that neither tool is
    always the one that runs right after the other.
    """
    samples: dict[str, list[tuple[float, float]]] = {"ours": [], "theirs": []}
    pair = [("ours", ours), ("theirs", theirs)]
    for round_ in range(repeat):
        for name, fn in pair if round_ % 2 == 0 else pair[::-1]:
            before()
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            samples[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    return samples


def alternate(
    ours: Callable[[], object],
    theirs: Callable[[], object],
    repeat: int,
    before: Callable[[], None] = lambda: None,
) -> tuple[float, float]:
    """Median wall seconds of ``ours`` and ``theirs`` run in :func:`turns`."""
    samples = turns(ours, theirs, repeat, before)
    ours_s, theirs_s = (statistics.median(w for w, _ in samples[k]) for k in ("ours", "theirs"))
    return ours_s, theirs_s


def compare(
    label: str,
    names: tuple[str, str],
    ours: Callable[[], object],
    theirs: Callable[[], object],
    repeat: int,
    before: Callable[[], None] = lambda: None,
) -> float:
    """:func:`alternate` the two, :func:`report` their medians as ``names``; the ratio."""
    ours_s, theirs_s = alternate(ours, theirs, repeat, before)
    return report(label, (names[0], ours_s), (names[1], theirs_s))
