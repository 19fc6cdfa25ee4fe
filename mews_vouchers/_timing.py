"""Time as the client sees it: an injectable clock and sleep, and the one wait for a deadline.

Retries, the rate limiters and the exactly-once engine all wait through a :class:`Timer`,
so that a test can hand the client a fake clock (``MewsClient(clock=..., sleep=...)``)
and every wait becomes exact and instant.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio
import attrs

Clock = Callable[[], float]
"""A monotonic clock, in seconds."""
Sleep = Callable[[float], Awaitable[None]]
"""An async sleep, in seconds."""


@attrs.frozen
class Timer:
    """A clock and the sleep that goes with it."""

    clock: Clock = time.monotonic
    sleep: Sleep = anyio.sleep

    async def sleep_until(self, deadline: float) -> None:
        """Return once the clock reads *deadline* or later.

        A sleep may end a little before the clock says it should (a timer's resolution,
        a fake clock moved by other sleepers): what remains is slept again, so a wait is
        never cut short.
        """
        while (remaining := deadline - self.clock()) > 0:
            await self.sleep(remaining)

    async def sleep_for(self, seconds: float) -> None:
        """Return once *seconds* have passed on the clock."""
        await self.sleep_until(self.clock() + seconds)
