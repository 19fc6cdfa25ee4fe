"""Configuration values of the client: the rate limit and the retry policy."""

from __future__ import annotations

from typing import Any

import attrs

from ._constants import (
    DEFAULT_INITIAL_BACKOFF,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_BACKOFF,
    DEFAULT_MAX_RATE_LIMITED,
    DEFAULT_MAX_RETRY_AFTER,
    RATE_LIMIT_PER_SECONDS,
    RATE_LIMIT_REQUESTS,
)
from ._ratelimit import Limiter, RateLimiter
from ._timing import Clock, Sleep


def _positive(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


def _non_negative(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value >= 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen(kw_only=False)
class RateLimit:
    """A sliding-window request limit: at most *requests* in any *per_seconds* window."""

    requests: int = attrs.field(default=RATE_LIMIT_REQUESTS, validator=_positive)
    per_seconds: float = attrs.field(default=RATE_LIMIT_PER_SECONDS, validator=_positive)

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """Read ``REQUESTS/SECONDS`` (``"200/30"``); raise ValueError for anything else."""
        requests, slash, seconds = text.strip().partition("/")
        if not slash:
            raise ValueError(f"expected REQUESTS/SECONDS, like 200/30, got {text!r}")
        return cls(int(requests), float(seconds))

    def limiter(self, *, access_token: str, clock: Clock, sleep: Sleep) -> Limiter:
        """Return an in-process limiter: the window is shared by one client's requests."""
        return RateLimiter(self, clock=clock, sleep=sleep)


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How failed requests are retried: bounded attempts, exponential backoff with jitter.

    *max_attempts* counts the tries of one request, the first included.  A 429 was
    certainly not applied and is retried after its full ``Retry-After``: it does not use
    up an attempt, but a request meets at most *max_rate_limited* of them, so a job
    facing a long block still ends.  A ``Retry-After`` above *max_retry_after* is not
    waited for: the request fails at once with :class:`RateLimitError`, and the client's
    other requests too until that time has passed.
    """

    max_attempts: int = attrs.field(default=DEFAULT_MAX_ATTEMPTS, validator=_positive)
    initial_backoff: float = attrs.field(default=DEFAULT_INITIAL_BACKOFF, validator=_non_negative)
    max_backoff: float = attrs.field(default=DEFAULT_MAX_BACKOFF, validator=_non_negative)
    jitter: bool = True
    max_retry_after: float = attrs.field(default=DEFAULT_MAX_RETRY_AFTER, validator=_non_negative)
    max_rate_limited: int = attrs.field(default=DEFAULT_MAX_RATE_LIMITED, validator=_non_negative)
