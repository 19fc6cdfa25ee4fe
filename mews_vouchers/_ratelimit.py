"""The rate-limit seam, and the in-process limiter behind it.

The requester asks a :class:`Limiter` for a slot before each request and gives it back
once the answer is in; a 429 pauses the limiter.  What keeps the window is the
limiter's business: :class:`RateLimiter` keeps it in this process, and
``mews_vouchers.redis.RedisRateLimit`` builds one that shares it with a fleet of
processes.  ``MewsClient(rate_limit=...)`` takes any :class:`LimitPolicy`, which builds the
client's limiter for its access token.
"""

from __future__ import annotations

import heapq
import time
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import anyio

from ._loops import LoopBinding
from ._timing import Clock, Sleep, Timer

if TYPE_CHECKING:
    from ._config import RateLimit


class Limiter(Protocol):
    """Grants the slots of one access token's request window (the requester's only view of it).

    ``acquire`` waits for a slot (and for any 429 pause) and returns an opaque handle;
    ``release`` gives the handle back once the request's answer arrived, or the request
    was abandoned; ``pause`` holds every request for *seconds* after a 429.  Raises
    :class:`~mews_vouchers.MewsError` subclasses only.
    """

    async def acquire(self) -> object:
        """Wait until a request may be sent; return the slot it holds."""
        ...

    async def release(self, slot: object) -> None:
        """Mark the request holding *slot* as answered (or abandoned)."""
        ...

    async def pause(self, seconds: float) -> None:
        """Hold every request for *seconds* from now (after a 429)."""
        ...

    async def aclose(self) -> None:
        """Release what the limiter owns."""
        ...


@runtime_checkable
class LimitPolicy(Protocol):
    """What ``MewsClient(rate_limit=...)`` accepts: it builds the client's :class:`Limiter`."""

    def limiter(self, *, access_token: str, clock: Clock, sleep: Sleep) -> Limiter:
        """Return a new limiter for the requests made with *access_token*."""
        ...


def window_margin(limit: RateLimit) -> float:
    """Return the slack added to the window, for two clocks measuring it a little apart."""
    return max(0.005 * limit.per_seconds, 0.01)


class RateLimiter:
    """Grants request slots so that at most ``requests`` arrive at the server in any window.

    The server counts a request when it *arrives*, which we cannot see; we only know it
    arrived after we sent it and before its answer came back.  So a request holds its
    slot while it is in flight and until one window after its answer: then no two
    requests ``requests`` apart can arrive within one window, whatever the latency or
    a stalled event loop, and a job running flat out meets no 429 of its own making.

    Shared by every request of a client (a client holds one access token).  A 429 pauses
    every request of the client until the server's ``Retry-After`` has passed.  Slots
    are granted in arrival order.  The clock and sleep are injectable for exact tests.
    """

    def __init__(
        self,
        limit: RateLimit | None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = anyio.sleep,
    ) -> None:
        self.limit = limit
        self._timer = Timer(clock, sleep)
        self._window = (limit.per_seconds + window_margin(limit)) if limit else 0.0
        self._expiries: list[float] = []  # heap: when each finished request's slot frees
        self._in_flight = 0
        self._released = anyio.Event()
        self._paused_until = 0.0
        self._lock = anyio.Lock()
        self._loop = LoopBinding()

    async def pause(self, seconds: float) -> None:
        """Hold every request of the client for *seconds* from now (after a 429)."""
        self._paused_until = max(self._paused_until, self._timer.clock() + seconds)

    async def acquire(self) -> None:
        """Wait until a request may be sent, and hold a slot for it until :meth:`release`."""
        if self.limit is None and self._paused_until <= self._timer.clock():
            return
        self._bind_loop()
        async with self._lock:
            while True:
                now = self._timer.clock()
                if now < self._paused_until:
                    await self._timer.sleep_until(self._paused_until)
                    continue
                if self.limit is None:
                    return
                expiries = self._expiries
                while expiries and expiries[0] <= now:
                    heapq.heappop(expiries)
                if self._in_flight + len(expiries) < self.limit.requests:
                    self._in_flight += 1
                    return
                if expiries:
                    await self._timer.sleep_until(expiries[0])
                else:
                    # Every slot is held by a request in flight: wait for one to finish.
                    await self._released.wait()

    def _bind_loop(self) -> None:
        """Make the lock and event anew in a new event loop (a client kept across loops).

        The window stays: it is kept on the clock, not in the loop.  Requests still counted
        in flight belonged to a loop that ended: their slots free one window from now.
        """
        if not self._loop.moved():
            return
        self._lock = anyio.Lock()
        self._released = anyio.Event()
        now = self._timer.clock()
        for _ in range(self._in_flight):
            heapq.heappush(self._expiries, now + self._window)
        self._in_flight = 0

    async def release(self, slot: object = None) -> None:
        """Mark the request of an acquired slot as answered (or abandoned)."""
        if self.limit is None:
            return
        self._in_flight -= 1
        heapq.heappush(self._expiries, self._timer.clock() + self._window)
        self._released.set()
        self._released = anyio.Event()

    async def aclose(self) -> None:
        """Nothing to release: the window lives in this object."""
