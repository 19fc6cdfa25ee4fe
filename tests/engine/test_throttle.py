"""Rate limiting end to end: client and simulator share one fake clock (exact, instant)."""

from __future__ import annotations

import itertools

import pytest

from mews_vouchers import (
    BulkOperationError,
    RateLimit,
    RateLimitError,
    RetryPolicy,
    VoucherParameters,
    VoucherType,
)
from mews_vouchers._ratelimit import window_margin
from mews_vouchers.testing import Fault, MewsSimulator
from tests.conftest import make_client
from tests.support.fakes import FakeClock

pytestmark = pytest.mark.anyio

LIMIT = RateLimit(20, 2.0)


async def test_flat_out_job_meets_at_most_one_percent_429s() -> None:
    """300 requests against a server enforcing 20 per 2 s: at most 1% answered 429."""
    clock = FakeClock()
    async with MewsSimulator(rate_limit=LIMIT, clock=clock) as sim:
        hotel = sim.add_hotel()
        items = [
            VoucherParameters(service_id=hotel.service_id, name=f"r{i}", type=VoucherType.PUBLIC)
            for i in range(300)
        ]
        async with make_client(
            sim, rate_limit=LIMIT, chunk_size=1, clock=clock, sleep=clock.sleep
        ) as client:
            vouchers = await client.vouchers.add(items, enterprise_id=hotel.enterprise_id)
        assert len(vouchers) == 300
        statuses = [r.status for r in sim.requests]
        assert len(statuses) >= 300
        assert statuses.count(429) <= 3
        assert statuses.count(429) == 0  # slots are held until a window after each answer
        # Never faster than the window permits (how close to it is measured in benchmarks/).
        elapsed = max(r.at for r in sim.requests) - min(r.at for r in sim.requests)
        assert elapsed >= (300 // 20 - 1) * LIMIT.per_seconds
        assert window_margin(LIMIT) < 0.01 * LIMIT.per_seconds


@pytest.mark.parametrize("retry_after", ["2", "5", "Sat, 01 Jan 2000 00:00:00 GMT"])
async def test_every_retry_after_is_respected_by_the_whole_client(retry_after: str) -> None:
    """After a 429, no request of the client arrives before its Retry-After has passed."""
    clock = FakeClock()
    async with MewsSimulator(clock=clock) as sim:
        hotel = sim.add_hotel()
        sim.inject(Fault.RATE_LIMIT, times=3, retry_after=retry_after)
        items = [
            VoucherParameters(service_id=hotel.service_id, name=f"r{i}", type=VoucherType.PUBLIC)
            for i in range(40)
        ]
        async with make_client(
            sim, chunk_size=2, clock=clock, sleep=clock.sleep, max_concurrency=4
        ) as client:
            await client.vouchers.add(items, enterprise_id=hotel.enterprise_id)
            assert client.stats.rate_limited == 3
    wait = 0.0 if retry_after.startswith("Sat") else float(retry_after)  # a date in the past: 0
    arrivals = sorted(sim.requests, key=lambda r: r.at)
    for limited in (r for r in arrivals if r.status == 429):
        later = [r for r in arrivals if r.at > limited.at]
        assert all(r.at >= limited.at + wait for r in later)
    assert len(sim.vouchers()) == 40


async def test_429_without_header_backs_off_exponentially() -> None:
    """No Retry-After: the client pauses with its own backoff, growing each time."""
    clock = FakeClock()
    async with MewsSimulator(clock=clock) as sim:
        hotel = sim.add_hotel()
        sim.inject(Fault.RATE_LIMIT_NO_HEADER, times=3)
        policy = RetryPolicy(initial_backoff=1.0, max_backoff=30.0, jitter=False)
        async with make_client(sim, retry=policy, clock=clock, sleep=clock.sleep) as client:
            result = await client.vouchers.get_all(service_ids=[hotel.service_id])
        assert result.vouchers == []
    times = [r.at for r in sim.requests]
    assert [round(b - a, 6) for a, b in itertools.pairwise(times)] == [1.0, 2.0, 4.0]


async def test_one_429_pauses_concurrent_requests_too() -> None:
    """A 429 met by one request holds back the other requests of the client."""
    clock = FakeClock()
    async with MewsSimulator(clock=clock) as sim:
        hotel = sim.add_hotel()
        sim.inject(Fault.RATE_LIMIT, times=1, retry_after="3")
        items = [
            VoucherParameters(service_id=hotel.service_id, name=f"r{i}", type=VoucherType.PUBLIC)
            for i in range(8)
        ]
        async with make_client(
            sim, chunk_size=1, max_concurrency=1, clock=clock, sleep=clock.sleep
        ) as client:
            await client.vouchers.add(items, enterprise_id=hotel.enterprise_id)
    limited = next(r for r in sim.requests if r.status == 429)
    assert all(r.at >= limited.at + 3 for r in sim.requests if r.at > limited.at)
    assert len([r for r in sim.requests if r.status == 200]) == 8


@pytest.mark.parametrize("retry_after", ["3600", "Fri, 01 Jan 2100 00:00:00 GMT"])
async def test_a_retry_after_longer_than_allowed_fails_at_once(retry_after: str) -> None:
    """Retry-After over max_retry_after: RateLimitError at once, and no request until it ends."""
    clock = FakeClock()
    async with MewsSimulator(clock=clock) as sim:
        hotel = sim.add_hotel()
        sim.inject(Fault.RATE_LIMIT, times=1, retry_after=retry_after)
        async with make_client(
            sim, retry=RetryPolicy(max_retry_after=60.0), clock=clock, sleep=clock.sleep
        ) as client:
            with pytest.raises(RateLimitError) as info:
                await client.vouchers.get_all(service_ids=[hotel.service_id])
            assert info.value.status == 429
            assert info.value.retry_after is not None
            assert info.value.retry_after >= 3600  # the server's value, never clamped
            assert info.value.request_id == sim.requests[0].request_id
            assert clock.sleeps == []  # not a moment waited, no retry sent early
            # Every other request of the client fails at once too, without being sent.
            items = [
                VoucherParameters(service_id=hotel.service_id, name="x", type=VoucherType.PUBLIC)
            ]
            with pytest.raises(BulkOperationError) as bulk:
                await client.vouchers.add(items, enterprise_id=hotel.enterprise_id)
            [failure] = bulk.value.failures
            assert isinstance(failure.error, RateLimitError)
            assert failure.ambiguous is False
            assert failure.error.retry_after is not None
            assert 0 < failure.error.retry_after <= info.value.retry_after
            assert len(sim.requests) == 1
            if retry_after == "3600":
                clock.now += 3600  # the wait is over: requests go again
                assert await client.vouchers.add(items, enterprise_id=hotel.enterprise_id)
                assert len(sim.requests) == 2


async def test_a_retry_after_within_the_limit_is_waited_in_full() -> None:
    """Retry-After at max_retry_after: the client pauses that long, then the request passes."""
    clock = FakeClock()
    async with MewsSimulator(clock=clock) as sim:
        hotel = sim.add_hotel()
        sim.inject(Fault.RATE_LIMIT, times=1, retry_after="7")
        async with make_client(
            sim, retry=RetryPolicy(max_retry_after=7.0), clock=clock, sleep=clock.sleep
        ) as client:
            await client.vouchers.get_all(service_ids=[hotel.service_id])
    first, second = sim.requests
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 7.0
