"""When to retry, and how long to wait: two small functions and a Retry-After parser."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from ._config import RetryPolicy
from ._errors import (
    MewsApiError,
    MewsConnectionError,
    MewsError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Return the wait a ``Retry-After`` header asks for, in seconds (0 or more).

    The API does not say which of the two HTTP forms it sends, so both are read:
    delta-seconds (``"120"``, also ``"1.5"``) and an HTTP date.  A date or delay in
    the past gives 0; anything unreadable gives ``None`` (the caller then backs off).
    The wait is returned in full, however long (see :func:`rate_limit_delay`).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if moment.tzinfo is None:  # RFC 7231 dates are GMT
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):  # "nan", "inf": not a wait anyone can honour
        return None
    return max(seconds, 0.0)


def may_have_applied(error: MewsError) -> bool:
    """Return whether a write that failed with *error* may nevertheless have been applied."""
    if isinstance(error, MewsConnectionError):
        return error.ambiguous
    if isinstance(error, MewsApiError) and 200 <= error.status < 300:
        return True  # a success status whose body could not be read: it was applied
    return isinstance(error, RequestTimeoutError | ServerError)


def should_retry(error: MewsError, *, idempotent: bool) -> bool:
    """Return whether a request that failed with *error* may be sent again.

    A 429 and a failure known not to have reached the server are always retried;
    failures that may have been applied (408, 5xx, a lost connection, a timeout)
    only for idempotent requests: reads, update and delete.
    """
    if isinstance(error, RateLimitError):
        return True
    if isinstance(error, MewsConnectionError) and not error.ambiguous:
        return True
    return idempotent and may_have_applied(error)


def rate_limit_delay(
    policy: RetryPolicy,
    rate_limited: int,
    retry_after: float | None,
    *,
    rng: random.Random | None = None,
) -> float | None:
    """Return how long to pause after a request's *rate_limited*-th 429, or None to give up.

    The server's ``Retry-After`` is waited in full, never cut short: a shorter wait would
    only meet another 429, and an integration that keeps meeting them may be blocked.  So
    one longer than ``policy.max_retry_after`` gives up at once, as does a request past
    ``policy.max_rate_limited`` 429s.  Without the header: exponential backoff.
    """
    if rate_limited > policy.max_rate_limited:
        return None
    if retry_after is not None and retry_after > policy.max_retry_after:
        return None
    return retry_delay(policy, rate_limited, retry_after=retry_after, rng=rng)


def retry_delay(
    policy: RetryPolicy,
    attempt: int,
    *,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Return how long to wait before attempt ``attempt + 1`` (*attempt* counts from 1).

    The server's ``Retry-After`` wins when there is one; otherwise exponential backoff
    from ``initial_backoff``, capped at ``max_backoff``, with "equal jitter" (half fixed,
    half random) so that many clients failing together do not retry together.
    """
    if retry_after is not None:
        return retry_after
    backoff: float = min(policy.initial_backoff * 2.0 ** (attempt - 1), policy.max_backoff)
    if not policy.jitter:
        return backoff
    return backoff / 2 + (rng or random).uniform(0, backoff / 2)
