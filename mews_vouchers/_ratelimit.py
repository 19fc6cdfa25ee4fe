"""The client-side rate limiter: a sliding window per access token, and the 429 pause."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable

import anyio

from ._config import RateLimit

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


def window_margin(limit: RateLimit) -> float:
    """Return the slack added to the window: the server counts arrivals, we count departures.

    A request leaves here a little before it arrives there, and arrival jitter can bring two
    requests one window apart closer together at the server; 2% of the window (at least
    50 ms) keeps a job running flat out clear of the server's limit.
    """
    return max(0.02 * limit.per_seconds, 0.05)


class RateLimiter:
    """Grants request slots so that at most ``requests`` start in any ``per_seconds`` window.

    Shared by every request of a client (a client holds one access token).  A 429 pauses
    every request of the client until the server's ``Retry-After`` has passed.  Slots are
    granted in arrival order.  The clock and sleep are injectable so that tests are exact.
    """

    def __init__(
        self,
        limit: RateLimit | None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = anyio.sleep,
    ) -> None:
        self.limit = limit
        self._clock = clock
        self._sleep = sleep
        self._window = (limit.per_seconds + window_margin(limit)) if limit else 0.0
        self._starts: deque[float] = deque()
        self._paused_until = 0.0
        self._lock = anyio.Lock()

    @property
    def paused_until(self) -> float:
        """Return the clock time until which requests wait after a 429."""
        return self._paused_until

    def pause(self, seconds: float) -> None:
        """Hold every request of the client for *seconds* from now (after a 429)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    async def _sleep_until(self, deadline: float) -> None:
        while (remaining := deadline - self._clock()) > 0:
            await self._sleep(remaining)

    async def acquire(self) -> None:
        """Wait until a request may start, and count it as started."""
        if self.limit is None and self._paused_until <= self._clock():
            return
        async with self._lock:
            while True:
                now = self._clock()
                if now < self._paused_until:
                    await self._sleep_until(self._paused_until)
                    continue
                if self.limit is None:
                    return
                starts = self._starts
                while starts and starts[0] <= now - self._window:
                    starts.popleft()
                if len(starts) < self.limit.requests:
                    starts.append(now)
                    return
                await self._sleep_until(starts[0] + self._window)
