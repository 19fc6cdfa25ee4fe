"""A fleet: worker processes sharing one token through one real Redis, against one simulator.

The simulator runs in this process and enforces the API's kind of limit; the workers
(``support/fleet_worker.py``) are separate Python processes that reach it over HTTP on loopback,
as pods of a deployment would reach the API.  Every worker has its own event loop, its
own clock and its own limiter; only Redis is shared.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from tests.conftest import make_client
from tests.support import fleet_worker
from tests.support.redis_server import require_redis_py, until

require_redis_py()

import redis.asyncio as aioredis  # noqa: E402

from mews_vouchers import RateLimit  # noqa: E402
from mews_vouchers._constants import VOUCHERS_ADD  # noqa: E402
from mews_vouchers._redis_script import slot_keys  # noqa: E402
from mews_vouchers.redis import RedisRateLimit  # noqa: E402
from mews_vouchers.testing import Fault, Hotel, MewsSimulator  # noqa: E402

pytestmark = pytest.mark.anyio

WORKER = Path(fleet_worker.__file__)
LIMIT = RateLimit(20, 2.0)


class Worker:
    """A fleet_worker.py process: send it commands, read its JSON lines."""

    def __init__(self, process: anyio.abc.Process) -> None:
        self.process = process
        assert process.stdout is not None and process.stdin is not None
        self._lines = BufferedByteReceiveStream(process.stdout)

    async def read(self) -> dict[str, Any]:
        with anyio.fail_after(30):
            line = await self._lines.receive_until(b"\n", 1 << 20)
        message: dict[str, Any] = json.loads(line)
        return message

    async def send(self, command: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send(json.dumps(command).encode() + b"\n")


def worker_config(
    sim: MewsSimulator, hotel: Hotel, redis_url: str | None, **options: Any
) -> dict[str, Any]:
    return {
        "base_url": sim.base_url,
        "client_token": sim.client_token,
        "access_token": sim.access_token,
        "redis_url": redis_url,
        "requests": LIMIT.requests,
        "per_seconds": LIMIT.per_seconds,
        "service_id": str(hotel.service_id),
        "enterprise_id": str(hotel.enterprise_id),
        **options,
    }


@asynccontextmanager
async def fleet(count: int, config: dict[str, Any]) -> AsyncIterator[list[Worker]]:
    """Start *count* workers and wait until each has built its client; stop them after."""
    env = {**os.environ, "FLEET_WORKER": json.dumps(config)}
    processes = [
        await anyio.open_process([sys.executable, str(WORKER)], env=env) for _ in range(count)
    ]
    workers = [Worker(p) for p in processes]
    try:
        for worker in workers:
            assert await worker.read() == {"ready": True}
        yield workers
    finally:
        for process in processes:
            if process.returncode is None:
                assert process.stdin is not None
                await process.stdin.aclose()
            with anyio.move_on_after(10):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()
            await process.aclose()


def most_in_any_window(arrivals: list[float], seconds: float) -> int:
    """Return the most arrivals that fall within any *seconds* (a sliding window)."""
    times = sorted(arrivals)
    most, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= seconds:
            start += 1
        most = max(most, end - start + 1)
    return most


async def test_fleet_sharing_a_token_fills_the_window_and_never_overruns_it(
    redis_url: str,
) -> None:
    """3 processes x 20 requests at 20 per 2 s: no overrun, <= 1 % 429s, >= 0.9 of the ceiling.

    The ceiling, as benchmarks/README.md figure 1 computes it: no R + 1 requests may
    arrive within one window, so N requests need at least ``floor((N - 1) / R) * W``
    from the first arrival to the last, plus the last one's own service time.
    """
    workers, each = 3, 20
    async with MewsSimulator(rate_limit=LIMIT, latency=0.02) as sim:
        hotel = sim.add_hotel()
        async with fleet(workers, worker_config(sim, hotel, redis_url)) as members:
            for number, worker in enumerate(members):
                await worker.send({"op": "add", "count": each, "prefix": f"w{number}-"})
            replies = [await worker.read() for worker in members]
        log = sim.requests
    assert [reply.get("added") for reply in replies] == [each] * workers, replies
    total = workers * each
    arrivals = sorted(r.at for r in log)
    refused = [r for r in log if r.status == 429]
    assert len(refused) <= 0.01 * len(log)
    assert most_in_any_window(arrivals, LIMIT.per_seconds) <= LIMIT.requests
    ended = max(reply["ended"] for reply in replies)
    service = ended - arrivals[-1]
    least = (total - 1) // LIMIT.requests * LIMIT.per_seconds + service
    measured = ended - arrivals[0]
    assert least / measured >= 0.9, (least, measured)


async def test_a_429_met_by_one_worker_pauses_the_whole_fleet(redis_url: str) -> None:
    """Worker A meets a 429 (Retry-After 1): worker B, another process, waits it out too."""
    async with MewsSimulator(rate_limit=LIMIT, latency=0.01) as sim:
        hotel = sim.add_hotel()
        sim.inject(Fault.RATE_LIMIT, times=1, retry_after="1")
        async with fleet(2, worker_config(sim, hotel, redis_url)) as (a, b):
            await a.send({"op": "add", "count": 1, "prefix": "a-"})
            async with aioredis.Redis.from_url(redis_url) as r:
                await until(lambda: r.exists(slot_keys(sim.access_token)[1]))
            await b.send({"op": "add", "count": 3, "prefix": "b-"})
            reply_a, reply_b = await a.read(), await b.read()
        log = sorted(sim.requests, key=lambda r: r.at)
    assert reply_a["rate_limited"] == 1 and reply_b["rate_limited"] == 0
    assert [r.status for r in log] == [429] + [200] * 4
    assert all(r.at >= log[0].at + 1.0 for r in log[1:])


async def test_slots_of_a_sigkilled_worker_free_after_the_lease(redis_url: str) -> None:
    """A worker killed with its 3 requests in flight holds the window until their lease ends."""
    limit, lease = RateLimit(3, 0.5), 2.0
    async with MewsSimulator(latency=0.01) as sim:
        hotel = sim.add_hotel()
        # Only adds are kept in flight: the survivor's read must not meet a leftover one.
        sim.inject(Fault.SLOW, times=3, delay=30.0, operation=VOUCHERS_ADD)
        config = worker_config(
            sim,
            hotel,
            redis_url,
            requests=limit.requests,
            per_seconds=limit.per_seconds,
            lease=lease,
            timeout=lease * 0.9,
            max_concurrency=3,
        )
        slots_key = slot_keys(sim.access_token)[0]
        async with fleet(1, config) as (doomed,), aioredis.Redis.from_url(redis_url) as r:
            await doomed.send({"op": "add", "count": 3, "prefix": "doomed-"})

            async def all_held() -> bool:
                return await r.zcard(slots_key) == 3

            await until(all_held)
            doomed.process.send_signal(signal.SIGKILL)
            killed_at = anyio.current_time()
            seconds, micros = await r.time()
            scores = [score for _, score in await r.zrange(slots_key, 0, -1, withscores=True)]
            await doomed.process.wait()
        # Still in flight when killed: held until their lease, far beyond a window.
        frees_in = (min(scores) - (seconds * 1_000_000 + micros)) / 1_000_000
        assert frees_in > 2 * limit.per_seconds
        policy = RedisRateLimit(
            redis_url, requests=limit.requests, per_seconds=limit.per_seconds, lease=lease
        )
        async with make_client(sim, rate_limit=policy) as survivor:
            with anyio.fail_after(lease + 10):
                await survivor.vouchers.get_all(service_ids=[hotel.service_id])
        (answered,) = [r for r in sim.requests if r.status == 200]
    assert answered.at >= killed_at + frees_in - 0.05
