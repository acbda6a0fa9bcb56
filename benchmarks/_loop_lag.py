"""Event-loop lag probe shared by the trigger benchmarks."""

from __future__ import annotations

import asyncio


async def ticker(lags: list[float], stop: asyncio.Event, period: float = 0.05) -> None:
    """Sleep ``period`` in a loop and record how late each wake-up was (the loop's lag)."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        start = loop.time()
        await asyncio.sleep(period)
        lags.append(max(0.0, loop.time() - start - period))
