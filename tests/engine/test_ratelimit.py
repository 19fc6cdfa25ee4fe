"""The client-side sliding window and the 429 pause, on a fake clock (exact and instant)."""

from __future__ import annotations

import asyncio

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mews_vouchers import RateLimit
from mews_vouchers._ratelimit import RateLimiter, window_margin
from tests.support.fakes import FakeClock

pytestmark = pytest.mark.anyio


def max_in_any_window(starts: list[float], window: float) -> int:
    """The most starts that fall in any half-open window [t, t + window)."""
    return max(
        (sum(1 for s in starts if t <= s < t + window) for t in starts),
        default=0,
    )


async def test_never_more_than_the_limit_in_any_window() -> None:
    """300 acquisitions under 20 per 2 s: never 21 in any 2 s window."""
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(20, 2.0), clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(300):
        await limiter.acquire()
        starts.append(clock())
        await limiter.release()
    assert max_in_any_window(starts, 2.0) == 20
    # ...and no slower than the window plus its margin allows.
    full_windows = 300 // 20 - 1
    assert starts[-1] - starts[0] == pytest.approx(
        full_windows * (2.0 + window_margin(RateLimit(20, 2.0)))
    )


async def test_concurrent_acquirers_share_one_window() -> None:
    """Many tasks acquiring at once still respect the one window."""
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(5, 1.0), clock=clock, sleep=clock.sleep)
    starts: list[float] = []

    async def take() -> None:
        await limiter.acquire()
        starts.append(clock())
        await clock.sleep(0.3)  # in flight for a while
        await limiter.release()

    async with anyio.create_task_group() as tg:
        for _ in range(23):
            tg.start_soon(take)
    assert len(starts) == 23
    assert max_in_any_window(sorted(starts), 1.0) <= 5


async def test_a_429_pauses_every_request() -> None:
    """After pause(s), no slot is granted before s seconds have passed."""
    clock = FakeClock()
    limiter = RateLimiter(None, clock=clock, sleep=clock.sleep)
    await limiter.acquire()
    t0 = clock()
    await limiter.pause(7.5)
    await limiter.acquire()
    assert clock() - t0 == pytest.approx(7.5)


async def test_a_slot_is_held_until_one_window_after_the_answer() -> None:
    """A slow request frees its slot a window after its answer, not after its start."""
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(1, 10.0), clock=clock, sleep=clock.sleep)
    await limiter.acquire()
    await clock.sleep(4.0)  # the answer takes 4 s
    await limiter.release()
    await limiter.acquire()
    assert clock() == pytest.approx(1000 + 4 + 10 + window_margin(RateLimit(1, 10.0)))


async def test_in_flight_requests_hold_their_slots() -> None:
    """With every slot in flight, the next request waits for an answer."""
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(2, 1.0), clock=clock, sleep=clock.sleep)
    await limiter.acquire()
    await limiter.acquire()
    granted = []

    async def third() -> None:
        await limiter.acquire()
        granted.append(clock())

    async with anyio.create_task_group() as tg:
        tg.start_soon(third)
        await anyio.sleep(0.05)
        assert granted == []
        await limiter.release()
    assert granted == [pytest.approx(1000 + 1.0 + window_margin(RateLimit(2, 1.0)))]


async def test_no_limit_costs_no_wait() -> None:
    """With rate_limit=None an acquisition never sleeps."""
    clock = FakeClock()
    limiter = RateLimiter(None, clock=clock, sleep=clock.sleep)
    for _ in range(1000):
        await limiter.acquire()
    assert clock.sleeps == []


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 30), st.floats(0.1, 60.0), st.integers(1, 120))
def test_window_property(requests: int, seconds: float, count: int) -> None:
    """For any limit and count, no window ever holds more than `requests` starts."""

    async def run() -> list[float]:
        clock = FakeClock()
        limiter = RateLimiter(RateLimit(requests, seconds), clock=clock, sleep=clock.sleep)
        starts = []
        for _ in range(count):
            await limiter.acquire()
            starts.append(clock())
            await limiter.release()
        return starts

    starts = anyio.run(run)
    assert max_in_any_window(starts, seconds) <= requests


def test_the_window_outlives_an_event_loop() -> None:
    """In a new event loop the window still counts; requests the old loop left are freed."""
    clock = FakeClock()
    limit = RateLimit(2, 1.0)
    limiter = RateLimiter(limit, clock=clock, sleep=clock.sleep)

    async def first_loop() -> None:
        # Both slots taken and never given back: this loop ends with them in flight.
        await limiter.acquire()
        await limiter.acquire()

    async def second_loop() -> float:
        # Waiting for the first loop's requests to answer would never end: they are
        # counted as answered when the loop changed, and free a window later.
        with anyio.fail_after(5):
            await limiter.acquire()
        return clock()

    asyncio.run(first_loop())
    assert asyncio.run(second_loop()) == pytest.approx(1000.0 + 1.0 + window_margin(limit))
