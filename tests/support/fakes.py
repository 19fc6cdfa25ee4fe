"""A fake clock for exact, instant tests of waits (retries, rate limits)."""

from __future__ import annotations

import anyio
import anyio.lowlevel


class FakeClock:
    """A monotonic clock that only moves when something sleeps on it.

    ``sleep(d)`` moves time to at least ``now + d`` (several sleepers starting together
    wake together, not one after the other) and yields to the event loop once.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now = max(self.now, self.now + max(seconds, 0.0))
        await anyio.lowlevel.checkpoint()
