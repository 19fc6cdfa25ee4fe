"""Deliberate failures and the request limit: what decides that a request goes wrong.

Both are decided when a request arrives, before its body is validated, from
state that only the simulator's clock and seeded generator move, so a test that
drives them gets the same answers every run.
"""

from __future__ import annotations

import enum
import math
import random
from collections import deque
from collections.abc import Sequence
from typing import Final

import attrs

from .._config import RateLimit

# How long a random 429 keeps refusing the token: long enough that a client sees
# a burst of them, short enough that a soak test does not stall.
_BURST_MIN_SECONDS: Final = 0.2
_BURST_MAX_SECONDS: Final = 1.0
DEFAULT_RETRY_AFTER: Final = "1"
DEFAULT_SLOW_DELAY: Final = 2.0


class Fault(enum.Enum):
    """A deliberate failure the simulator can inflict on a request.

    The "before" kinds answer without touching the data; the "after" kinds apply
    the write first, so a client that sees the failure cannot tell whether it
    happened.  A getAll has nothing to apply: its "after" kinds just fail.
    """

    SERVER_ERROR_BEFORE = "500_before"
    """Answer 500 without applying the request."""
    SERVER_ERROR_AFTER = "500_after"
    """Apply the request, then answer 500."""
    TIMEOUT = "408"
    """Answer 408 (the API's "request too heavy") without applying the request."""
    DROP_BEFORE = "drop_before"
    """Close the connection without applying the request and without any response."""
    DROP_AFTER = "drop_after"
    """Apply the request, then close the connection without any response."""
    RATE_LIMIT = "429"
    """Answer 429 with a ``Retry-After`` header."""
    RATE_LIMIT_NO_HEADER = "429_no_header"
    """Answer 429 without a ``Retry-After`` header."""
    SLOW = "slow"
    """Apply the request, wait, then answer normally: a client timeout leaves the write applied."""
    CONFLICT = "409"
    """Answer 409 ("the data has changed") without applying the request."""
    TOO_LARGE = "413"
    """Answer 413 ("the request body is too large") without applying the request."""


APPLYING: Final = frozenset({Fault.SERVER_ERROR_AFTER, Fault.DROP_AFTER, Fault.SLOW})
"""The kinds that let the request be applied before they strike."""
RATE_LIMITING: Final = frozenset({Fault.RATE_LIMIT, Fault.RATE_LIMIT_NO_HEADER})
ON_DEMAND: Final = frozenset({Fault.CONFLICT, Fault.TOO_LARGE})
"""The kinds that are not transient: drawn at random only when named in ``faults``."""


@attrs.frozen
class Strike:
    """One fault decided for one request, with its parameters."""

    fault: Fault
    retry_after: str | None = None
    delay: float = 0.0


@attrs.define
class _Injection:
    fault: Fault
    remaining: int
    operation: str | None
    retry_after: str | None
    delay: float


def retry_after_header(wait: float) -> str:
    """Return a ``Retry-After`` value in whole seconds that is never shorter than *wait*."""
    # Rounding first keeps float noise (2.0000000000000004) from adding a second.
    return str(max(1, math.ceil(round(wait, 6))))


class FaultPlan:
    """Decides which requests fail: injected faults first, in queue order, then random ones."""

    def __init__(
        self, *, rng: random.Random, rate: float, kinds: Sequence[Fault], slow_delay: float
    ) -> None:
        self._rng = rng
        self._rate = rate
        self._kinds = tuple(kinds)
        self._slow_delay = slow_delay
        self._queue: list[_Injection] = []
        self._bursts: dict[str, tuple[float, Fault]] = {}

    def inject(
        self,
        fault: Fault,
        *,
        times: int,
        operation: str | None,
        retry_after: str | None,
        delay: float | None,
    ) -> None:
        """Queue *fault* for the next *times* requests of *operation* (None: any)."""
        self._queue.append(
            _Injection(
                fault=fault,
                remaining=times,
                operation=operation,
                retry_after=(DEFAULT_RETRY_AFTER if retry_after is None else retry_after)
                if fault is Fault.RATE_LIMIT
                else None,
                delay=self._slow_delay if delay is None else delay,
            )
        )

    def refusal(self, token: str | None, now: float) -> Strike | None:
        """Return the 429 of a random burst still refusing *token*, if one is."""
        if token is None or token not in self._bursts:
            return None
        until, fault = self._bursts[token]
        if now >= until:
            del self._bursts[token]
            return None
        header = retry_after_header(until - now) if fault is Fault.RATE_LIMIT else None
        return Strike(fault=fault, retry_after=header)

    def draw(self, operation: str, token: str | None, now: float) -> Strike | None:
        """Decide the fault of a request that just arrived, if it gets one."""
        for injection in self._queue:
            if injection.operation is None or injection.operation == operation:
                injection.remaining -= 1
                if injection.remaining == 0:
                    self._queue.remove(injection)
                return Strike(
                    fault=injection.fault,
                    retry_after=injection.retry_after,
                    delay=injection.delay,
                )
        if not self._rate or self._rng.random() >= self._rate:
            return None
        fault = self._rng.choice(self._kinds)
        if fault in RATE_LIMITING:
            seconds = self._rng.uniform(_BURST_MIN_SECONDS, _BURST_MAX_SECONDS)
            if token is not None:
                self._bursts[token] = (now + seconds, fault)
            header = retry_after_header(seconds) if fault is Fault.RATE_LIMIT else None
            return Strike(fault=fault, retry_after=header)
        return Strike(fault=fault, delay=self._slow_delay)


class SlidingWindow:
    """The request limit: at most ``requests`` arrivals per key in any ``per_seconds``.

    A request the limit refuses is not counted, so a client that waits the
    ``Retry-After`` it was given is admitted.
    """

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._arrivals: dict[str, deque[float]] = {}

    def admit(self, key: str, now: float) -> float | None:
        """Count an arrival at *now* and return None, or return the seconds to wait."""
        arrivals = self._arrivals.setdefault(key, deque())
        horizon = now - self.limit.per_seconds
        while arrivals and arrivals[0] <= horizon:
            arrivals.popleft()
        if len(arrivals) >= self.limit.requests:
            return arrivals[0] + self.limit.per_seconds - now
        arrivals.append(now)
        return None
