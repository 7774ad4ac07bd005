"""Run the benchmarks: ``python -m bench.run [NAME ...]`` (default: every ``bench_*`` module).

Each module has a ``main()`` that measures its figures side by side and prints ratios.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    """Run the named benchmark modules, or all of them."""
    here = Path(__file__).parent
    names = argv or sorted(
        m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_")
    )
    for name in names:
        print(f"== {name}", flush=True)
        importlib.import_module(f"bench.{name.removeprefix('bench.')}").main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
