"""Retry decisions, backoff, and Retry-After parsing (pure logic, table-driven)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mews_vouchers import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    MewsApiError,
    MewsConnectionError,
    MewsTimeoutError,
    PayloadTooLargeError,
    RateLimitError,
    RequestTimeoutError,
    RetryPolicy,
    ServerError,
)
from mews_vouchers._retry import (
    may_have_applied,
    parse_retry_after,
    rate_limit_delay,
    retry_delay,
    should_retry,
)

NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)


def http_date(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("0", 0.0),
        ("1", 1.0),
        ("  7 ", 7.0),
        ("2.5", 2.5),
        ("-3", 0.0),
        ("-0.5", 0.0),
        ("59", 59.0),
        ("61", 61.0),  # never clamped: a longer wait than allowed fails the request instead
        ("86400", 86400.0),
        ("1e9", 1e9),
        ("inf", None),
        ("nan", None),
        ("soon", None),
        ("10 seconds", None),
        ("<html>", None),
        (http_date(NOW + timedelta(seconds=30)), 30.0),
        (http_date(NOW - timedelta(seconds=30)), 0.0),
        (http_date(NOW + timedelta(days=2)), 172800.0),
        ("Sat, 21 Nov 2026 12:00:10 GMT", 10.0),
        ("Saturday, 21-Nov-26 12:00:10 GMT", 10.0),  # RFC 850, which HTTP still allows
        ("Sat Nov 21 12:00:10 2026", 10.0),  # asctime
        ("Sat, 99 Nov 2026 12:00:10 GMT", None),
        ("Mon, 32 Foo 2026 25:61:00 GMT", None),
    ],
)
def test_retry_after_table(header: str | None, expected: float | None) -> None:
    """Retry-After: delta-seconds or HTTP date, in full (negative -> 0), garbage -> None."""
    assert parse_retry_after(header, now=NOW) == expected


@given(st.text(max_size=40))
def test_retry_after_never_raises_and_is_never_negative(header: str) -> None:
    """Whatever the header holds, the result is None or a wait of 0 or more."""
    value = parse_retry_after(header, now=NOW)
    assert value is None or value >= 0.0


NO_JITTER = RetryPolicy(initial_backoff=1.0, jitter=False, max_retry_after=60.0, max_rate_limited=3)


@pytest.mark.parametrize(
    ("rate_limited", "retry_after", "expected"),
    [
        (1, None, 1.0),  # no header: exponential backoff
        (3, None, 4.0),
        (1, 0.0, 0.0),
        (1, 5.0, 5.0),  # the server's wait, exactly
        (2, 0.5, 0.5),  # never replaced by a longer backoff, nor a shorter one
        (1, 60.0, 60.0),  # at the limit: still waited
        (1, 60.001, None),  # over it: fail at once, never retry early into another 429
        (1, 86400.0, None),
        (1, 1e12, None),
        (4, 1.0, None),  # past max_rate_limited
        (4, None, None),
    ],
)
def test_rate_limit_delay_table(
    rate_limited: int, retry_after: float | None, expected: float | None
) -> None:
    """After a 429: the full Retry-After, backoff without one, None (give up) past the policy."""
    assert rate_limit_delay(NO_JITTER, rate_limited, retry_after) == expected


@given(st.floats(0, 1e6), st.floats(0, 1e4), st.integers(1, 30))
def test_rate_limit_delay_never_waits_less_than_asked(
    retry_after: float, allowed: float, rate_limited: int
) -> None:
    """Whatever the policy, a 429 is either waited in full or given up on."""
    policy = RetryPolicy(max_retry_after=allowed, max_rate_limited=30)
    delay = rate_limit_delay(policy, rate_limited, retry_after, rng=random.Random(0))
    assert delay == (retry_after if retry_after <= allowed else None)


def api(cls: type[MewsApiError], status: int) -> MewsApiError:
    return cls("x", status=status)


@pytest.mark.parametrize(
    ("error", "idempotent", "retry", "applied"),
    [
        (RateLimitError("x", status=429), False, True, False),
        (RateLimitError("x", status=429), True, True, False),
        (MewsConnectionError("refused", ambiguous=False), False, True, False),
        (MewsConnectionError("reset", ambiguous=True), False, False, True),
        (MewsConnectionError("reset", ambiguous=True), True, True, True),
        (MewsTimeoutError("slow"), False, False, True),
        (MewsTimeoutError("slow"), True, True, True),
        (api(ServerError, 500), False, False, True),
        (api(ServerError, 503), True, True, True),
        (api(RequestTimeoutError, 408), False, False, True),
        (api(RequestTimeoutError, 408), True, True, True),
        (api(BadRequestError, 400), True, False, False),
        (api(ForbiddenError, 403), True, False, False),
        (api(ConflictError, 409), True, False, False),
        (api(PayloadTooLargeError, 413), True, False, False),  # the batcher splits it
        (api(MewsApiError, 200), False, False, True),  # a success we could not read
        (api(MewsApiError, 302), False, False, False),  # a redirect, never followed
        (api(MewsApiError, 308), True, False, False),
    ],
)
def test_should_retry_table(error: Exception, idempotent: bool, retry: bool, applied: bool) -> None:
    """429 and never-sent failures are always retried; maybe-applied ones only if idempotent."""
    assert should_retry(error, idempotent=idempotent) is retry  # type: ignore[arg-type]
    assert may_have_applied(error) is applied  # type: ignore[arg-type]


def test_backoff_without_jitter_doubles_up_to_the_cap() -> None:
    """Exponential backoff from initial_backoff, capped at max_backoff."""
    policy = RetryPolicy(initial_backoff=0.5, max_backoff=3.0, jitter=False)
    assert [retry_delay(policy, n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


@given(st.integers(1, 30), st.integers(0, 2**32))
def test_jitter_stays_within_half_and_whole_backoff(attempt: int, seed: int) -> None:
    """Equal jitter: the delay lies in [backoff/2, backoff]."""
    policy = RetryPolicy(initial_backoff=0.5, max_backoff=30.0)
    full = min(0.5 * 2 ** (attempt - 1), 30.0)
    delay = retry_delay(policy, attempt, rng=random.Random(seed))
    assert full / 2 <= delay <= full


def test_retry_after_wins_over_backoff() -> None:
    """The server's Retry-After is used as is when present."""
    assert retry_delay(RetryPolicy(), 3, retry_after=7.0) == 7.0
