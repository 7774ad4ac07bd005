"""Run a coroutine to completion from synchronous code, even inside a running event loop;
or, inside ``AsyncConnection.run_sync``, await one on the connection's own loop (:func:`await_`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from terrafusion_sync.compat import await_

T = TypeVar("T")

__all__ = ["await_", "run_blocking"]


def run_blocking(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)``; in a thread of its own when this thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass  # no loop here; run it below, so that its errors do not chain this one
    else:
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, coro).result()
    return asyncio.run(coro)
