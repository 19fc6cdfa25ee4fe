"""RedisRateLimit in one process: clients over loopback, a real Redis, the simulator as judge.

The fleet of separate processes is in test_fleet.py; the script's rules in
test_redis_script.py.
"""

from __future__ import annotations

import asyncio
import logging
import math
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from typing import Any

import aiohttp
import anyio
import pytest

from tests.conftest import make_client
from tests.support.redis_server import require_redis_py, running_redis, until

require_redis_py()

import redis  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402

from mews_vouchers import (  # noqa: E402
    BulkOperationError,
    MewsConfigError,
    MewsConnectionError,
    RateLimit,
    VoucherParameters,
    VoucherType,
)
from mews_vouchers._redis_script import KEY_PREFIX, slot_keys  # noqa: E402
from mews_vouchers.redis import RedisRateLimit  # noqa: E402
from mews_vouchers.testing import Fault, Hotel, MewsSimulator  # noqa: E402
from mews_vouchers.testing._redis_server import RedisServer  # noqa: E402

pytestmark = pytest.mark.anyio

LIMIT = RateLimit(5, 0.5)


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A server of the test's own, which it may stop."""
    yield from running_redis()


def shared(url: str, limit: RateLimit = LIMIT, **options: Any) -> RedisRateLimit:
    return RedisRateLimit(url, requests=limit.requests, per_seconds=limit.per_seconds, **options)


def vouchers(hotel: Hotel, count: int, prefix: str = "v") -> list[VoucherParameters]:
    return [
        VoucherParameters(service_id=hotel.service_id, name=f"{prefix}{n}", type=VoucherType.PUBLIC)
        for n in range(count)
    ]


def most_in_any_window(arrivals: list[float], seconds: float) -> int:
    """Return the most arrivals that fall within any *seconds* (a sliding window)."""
    times = sorted(arrivals)
    most, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= seconds:
            start += 1
        most = max(most, end - start + 1)
    return most


async def slots_held(url: str, token: str) -> int:
    async with aioredis.Redis.from_url(url) as r:
        return int(await r.zcard(slot_keys(token)[0]))


async def wait_for_slots(url: str, token: str, count: int) -> None:
    async def enough() -> bool:
        return await slots_held(url, token) >= count

    await until(enough)


async def add_concurrently(clients: list[Any], hotel: Hotel, each: int) -> None:
    async with anyio.create_task_group() as tg:
        for number, client in enumerate(clients):
            items = vouchers(hotel, each, prefix=f"c{number}-")
            tg.start_soon(partial(client.vouchers.add, items, enterprise_id=hotel.enterprise_id))


async def test_clients_sharing_a_token_through_redis_never_overrun_the_window(
    redis_url: str,
) -> None:
    """Three clients, one token, one Redis: at most 5 arrivals in any 0.5 s, and no 429."""
    async with MewsSimulator(rate_limit=LIMIT, latency=0.01) as sim:
        hotel = sim.add_hotel()
        clients = [make_client(sim, rate_limit=shared(redis_url), chunk_size=1) for _ in range(3)]
        try:
            await add_concurrently(clients, hotel, each=8)
        finally:
            for client in clients:
                await client.aclose()
        arrivals = [r.at for r in sim.requests]
        assert len(arrivals) == 24
        assert [r.status for r in sim.requests].count(429) == 0
        assert most_in_any_window(arrivals, LIMIT.per_seconds) <= LIMIT.requests
        assert len(sim.vouchers()) == 24


async def test_in_process_limiters_sharing_a_token_do_overrun(redis_url: str) -> None:
    """The counter-example: three clients each with its own RateLimit meet the server's 429s."""
    async with MewsSimulator(rate_limit=LIMIT, latency=0.01) as sim:
        hotel = sim.add_hotel()
        clients = [make_client(sim, rate_limit=LIMIT, chunk_size=1) for _ in range(3)]
        try:
            await add_concurrently(clients, hotel, each=3)
        finally:
            for client in clients:
                await client.aclose()
        assert [r.status for r in sim.requests].count(429) > 0


async def test_two_tokens_on_one_redis_do_not_share_a_window(redis_url: str) -> None:
    """Token A's full window does not hold back token B; each has its own keys."""
    policy = shared(redis_url, RateLimit(2, 30.0))
    a = policy.limiter(access_token="token-A", clock=anyio.current_time, sleep=anyio.sleep)
    b = policy.limiter(access_token="token-B", clock=anyio.current_time, sleep=anyio.sleep)
    try:
        held = [await a.acquire(), await a.acquire()]
        with anyio.move_on_after(0.3) as waited:
            await a.acquire()
        assert waited.cancelled_caught  # A is full for 30 s
        with anyio.fail_after(5):
            held_b = await b.acquire()
        await b.release(held_b)
        for slot in held:
            await a.release(slot)
    finally:
        await a.aclose()
        await b.aclose()
    assert await slots_held(redis_url, "token-A") == 2
    assert await slots_held(redis_url, "token-B") == 1


async def test_429_met_by_one_client_pauses_every_client_of_the_token(redis_url: str) -> None:
    """After A's 429 with Retry-After 1, no request of A or B arrives for 1 s."""
    async with MewsSimulator(latency=0.01) as sim:
        hotel = sim.add_hotel()
        sim.inject(Fault.RATE_LIMIT, times=1, retry_after="1")
        a = make_client(sim, rate_limit=shared(redis_url))
        b = make_client(sim, rate_limit=shared(redis_url))
        async with a, b, anyio.create_task_group() as tg:
            tg.start_soon(lambda: a.vouchers.get_all(service_ids=[hotel.service_id]))
            pause_key = slot_keys(sim.access_token)[1]
            async with aioredis.Redis.from_url(redis_url) as r:
                await until(lambda: r.exists(pause_key))
            await b.vouchers.get_all(service_ids=[hotel.service_id])
        assert a.stats.rate_limited == 1 and b.stats.rate_limited == 0
    arrivals = sorted(sim.requests, key=lambda r: r.at)
    assert [r.status for r in arrivals] == [429, 200, 200]
    limited = arrivals[0].at
    assert all(r.at >= limited + 1.0 for r in arrivals[1:])


async def test_redis_unreachable_fails_naming_redis_and_sends_nothing(
    sim: MewsSimulator, hotel: Hotel
) -> None:
    """No Redis: a read fails with MewsConnectionError naming Redis; a write's chunks too."""
    policy = RedisRateLimit("unix:///nonexistent/mews-redis.sock", redis_timeout=1.0)
    async with make_client(sim, rate_limit=policy) as client:
        with pytest.raises(MewsConnectionError, match="Redis at unix:///nonexistent") as caught:
            await client.vouchers.get_all(service_ids=[hotel.service_id])
        assert not caught.value.ambiguous
        assert "no request was sent to the API" in str(caught.value)
        with pytest.raises(BulkOperationError) as bulk:
            await client.vouchers.add(vouchers(hotel, 3), enterprise_id=hotel.enterprise_id)
        (failure,) = bulk.value.failures
        assert not failure.ambiguous and "Redis" in str(failure.error)
    assert sim.requests == []


async def test_redis_going_away_keeps_the_answer_in_flight_and_fails_the_next(
    own_redis: RedisServer, sim: MewsSimulator, hotel: Hotel, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis stops while a request is in flight: its answer is kept (a warning); the next fails."""
    sim.inject(Fault.SLOW, times=1, delay=0.5)
    policy = shared(own_redis.url, redis_timeout=1.0)
    result: list[Any] = []
    async with make_client(sim, rate_limit=policy) as client:
        caplog.set_level(logging.WARNING, logger="mews_vouchers")
        async with anyio.create_task_group() as tg:

            async def read() -> None:
                result.append(await client.vouchers.get_all(service_ids=[hotel.service_id]))

            tg.start_soon(read)
            await wait_for_slots(own_redis.url, sim.access_token, 1)
            own_redis.stop()
        assert result and result[0].vouchers == []
        with pytest.raises(MewsConnectionError, match="Redis"):
            await client.vouchers.get_all(service_ids=[hotel.service_id])
    assert len(sim.requests) == 1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("could not give a rate-limit slot back" in r.getMessage() for r in warnings)


async def test_aclose_gives_back_the_slot_of_a_request_it_cancels(
    redis_url: str, sim: MewsSimulator, hotel: Hotel
) -> None:
    """Closing the client mid-request holds the slot a window (not its 120 s lease)."""
    sim.inject(Fault.SLOW, times=1, delay=5.0)
    # With a session of the caller's, aclose() closes no session: nothing but the limiter
    # itself lets the cancelled request give its slot back before the limiter closes.
    session = aiohttp.ClientSession()
    client = make_client(sim, rate_limit=shared(redis_url), session=session)
    async with session, anyio.create_task_group() as tg:

        async def write() -> None:
            with pytest.raises(MewsConnectionError, match="closed"):
                await client.vouchers.add(vouchers(hotel, 1), enterprise_id=hotel.enterprise_id)

        tg.start_soon(write)
        await wait_for_slots(redis_url, sim.access_token, 1)
        await client.aclose()
    async with aioredis.Redis.from_url(redis_url) as r:
        seconds, micros = await r.time()
        ((_, score),) = await r.zrange(slot_keys(sim.access_token)[0], 0, -1, withscores=True)
    assert score - (seconds * 1_000_000 + micros) < 2 * LIMIT.per_seconds * 1_000_000


async def test_no_token_ever_reaches_redis(redis_url: str) -> None:
    """Every command Redis received, every key and every value: no token, whole or in part."""
    async with MewsSimulator(latency=0.01) as sim:
        hotel = sim.add_hotel()
        sim.inject(Fault.RATE_LIMIT, times=1, retry_after="0")
        seen: list[str] = []
        async with aioredis.Redis.from_url(redis_url) as watcher, anyio.create_task_group() as tg:

            async def monitor() -> None:
                async with watcher.monitor() as m:
                    async for command in m.listen():
                        seen.append(str(command))

            tg.start_soon(monitor)
            await anyio.sleep(0.1)
            async with make_client(sim, rate_limit=shared(redis_url), chunk_size=2) as client:
                await client.vouchers.add(vouchers(hotel, 6), enterprise_id=hotel.enterprise_id)
                await client.vouchers.get_all(service_ids=[hotel.service_id])
            await anyio.sleep(0.1)
            tg.cancel_scope.cancel()
        secrets = [sim.access_token, sim.client_token]
        fragments = [part for s in secrets for part in s.split("-")] + [s[:8] for s in secrets]
        assert any("EVALSHA" in line for line in seen)
        stored: list[bytes] = []
        with redis.Redis.from_url(redis_url) as r:
            for key in r.scan_iter():
                assert key.decode().startswith(f"{KEY_PREFIX}:")
                stored += [key, r.dump(key) or b""]
        assert stored
        for fragment in fragments:
            assert all(fragment not in line for line in seen), fragment
            assert all(fragment.encode() not in blob for blob in stored), fragment


async def test_limiter_made_outside_a_loop_works_in_two_event_loops(redis_url: str) -> None:
    """Built before any loop runs, used from two asyncio.run calls: it connects in each."""
    script = f"""
import asyncio, time, warnings
from mews_vouchers.redis import RedisRateLimit
limiter = RedisRateLimit({redis_url!r}, requests=5).limiter(
    access_token="two-loops", clock=time.monotonic, sleep=asyncio.sleep)
async def once():
    await limiter.release(await limiter.acquire())
asyncio.run(once())
# The first loop's connection is left behind with its loop: expected, and not the point.
warnings.simplefilter("ignore", ResourceWarning)
asyncio.run(once())
async def close():
    await limiter.release(await limiter.acquire())
    await limiter.aclose()
asyncio.run(close())
print("ok")
"""
    done = await anyio.run_process([sys.executable, "-c", script], check=False)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().strip() == "ok"
    assert await slots_held(redis_url, "two-loops") == 3


def test_importing_the_package_imports_no_redis() -> None:
    """`import mews_vouchers` (and its simulator) never imports redis-py."""
    code = "import sys, mews_vouchers, mews_vouchers.testing; print('redis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lease": 0}, "lease must be a finite number > 0"),
        ({"lease": -1.0}, "lease must be"),
        ({"lease": math.inf}, "lease must be"),
        ({"lease": math.nan}, "lease must be"),
        ({"lease": "60"}, "lease must be"),
        ({"requests": 0}, "requests must be an integer > 0"),
        ({"requests": 2.5}, "requests must be an integer"),
        ({"requests": True}, "requests must be an integer"),
        ({"per_seconds": 0.0}, "per_seconds must be"),
        ({"redis_timeout": 0}, "redis_timeout must be"),
    ],
)
def test_bad_settings_are_refused_with_mews_config_error(
    options: dict[str, Any], message: str
) -> None:
    """Each setting out of range is a MewsConfigError naming it."""
    with pytest.raises(MewsConfigError, match=message):
        RedisRateLimit("redis://127.0.0.1:6379/0", **options)


@pytest.mark.parametrize(
    "url",
    ["", "http://127.0.0.1:6379", "127.0.0.1:6379", "redis://:s3cret@host:notaport/0", None],
)
def test_bad_urls_are_refused_without_showing_a_password(url: Any) -> None:
    """A URL redis-py could not use is a MewsConfigError; its password is never shown."""
    with pytest.raises(MewsConfigError, match="Redis URL") as caught:
        RedisRateLimit(url)
    assert "s3cret" not in str(caught.value)


def test_repr_hides_the_credentials_of_the_url() -> None:
    """repr() of the policy and of its limiter show the server, never a password or a token."""
    token = "C66EF7B239D24632943D115EDE9CB810-EA00F8FD8294692C940F6B5A8F9453D"
    policy = RedisRateLimit("rediss://worker:s3cret@redis.internal:6380/2?password=other")
    limiter = policy.limiter(access_token=token, clock=lambda: 0.0, sleep=asyncio.sleep)
    for text in (repr(policy), repr(limiter)):
        assert "s3cret" not in text and "other" not in text and "worker" not in text
        assert "redis.internal:6380/2" in text
        assert token[:8] not in text
    assert policy == RedisRateLimit("rediss://worker:s3cret@redis.internal:6380/2?password=other")
