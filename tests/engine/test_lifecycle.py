"""Lifecycle: cancelling bulk calls, aclose() ending waits, one client shared by many tasks."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
from collections.abc import Iterator
from typing import Any

import aiohttp
import anyio
import anyio.lowlevel
import pytest

from mews_vouchers import (
    MewsConfigError,
    MewsConnectionError,
    RateLimit,
    VoucherParameters,
    VoucherType,
)
from mews_vouchers.testing import Hotel, MewsSimulator
from tests.conftest import make_client
from tests.support.fakes import FakeClock
from tests.support.tasks import sdk_tasks

pytestmark = pytest.mark.anyio


def items(hotel: Hotel, n: int) -> list[VoucherParameters]:
    return [
        VoucherParameters(service_id=hotel.service_id, name=f"L{i}", type=VoucherType.PUBLIC)
        for i in range(n)
    ]


async def test_cancelling_a_bulk_add_stops_its_requests() -> None:
    """Cancelled mid-way: no request after the cancel, no task left, the client still works."""
    async with MewsSimulator(latency=0.05) as sim:
        hotel = sim.add_hotel()
        async with make_client(sim, chunk_size=10, max_concurrency=2) as client:
            with anyio.move_on_after(0.12):
                await client.vouchers.add(items(hotel, 500), enterprise_id=hotel.enterprise_id)
            sent = len(sim.requests)
            assert 0 < sent < 50
            await anyio.sleep(0.2)
            assert len(sim.requests) <= sent + 2  # at most the requests already on the wire
            assert sdk_tasks() == set()
            result = await client.vouchers.get_all(service_ids=[hotel.service_id])
            assert len(result.vouchers) == len(sim.vouchers())


async def test_cancelling_get_all_leaves_nothing_running(sim: MewsSimulator, hotel: Hotel) -> None:
    """A get_all cancelled while its chains run leaves no chain running."""
    sim.seed_vouchers(hotel.service_id, 3000)
    async with make_client(sim, page_size=100) as client:
        with anyio.move_on_after(0.05):
            await client.vouchers.get_all(service_ids=[hotel.service_id])
        await anyio.lowlevel.checkpoint()
        assert sdk_tasks() == set()


async def test_aclose_ends_a_call_waiting_for_the_rate_limit() -> None:
    """A call waiting on the rate limit ends with a clear error when the client is closed."""
    async with MewsSimulator() as sim:
        hotel = sim.add_hotel()
        client = make_client(sim, rate_limit=RateLimit(1, 3600.0), chunk_size=1)
        outcome: list[BaseException] = []

        async def job() -> None:
            try:
                await client.vouchers.add(items(hotel, 3), enterprise_id=hotel.enterprise_id)
            except BaseException as exc:
                outcome.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(job)
            await anyio.sleep(0.2)  # one request went out; the next waits an hour
            await client.aclose()
        assert len(sim.requests) == 1
        [error] = outcome
        assert isinstance(error, MewsConnectionError)
        assert "closed" in str(error)
        assert sdk_tasks() == set()


async def test_aclose_stops_open_streams(sim: MewsSimulator, hotel: Hotel) -> None:
    """An iter_all left open is stopped by aclose."""
    sim.seed_vouchers(hotel.service_id, 3000)
    client = make_client(sim, page_size=100)
    stream = client.vouchers.iter_all(service_ids=[hotel.service_id])
    await stream.__anext__()
    await client.aclose()
    assert sdk_tasks() == set()


async def test_one_client_many_tasks(sim: MewsSimulator) -> None:
    """Twenty tasks share one client: writes and reads all succeed, counts add up."""
    hotels = [sim.add_hotel(f"T{i}") for i in range(4)]
    async with make_client(sim, max_concurrency=4, chunk_size=7) as client:

        async def worker(n: int) -> None:
            hotel = hotels[n % 4]
            params = [
                VoucherParameters(
                    service_id=hotel.service_id, name=f"w{n}-{i}", type=VoucherType.PUBLIC
                )
                for i in range(15)
            ]
            added = await client.vouchers.add(params, enterprise_id=hotel.enterprise_id)
            assert [v.name for v in added] == [p.name for p in params]
            await client.vouchers.get_all(
                service_ids=[hotel.service_id], enterprise_ids=[hotel.enterprise_id]
            )

        async with anyio.create_task_group() as tg:
            for n in range(20):
                tg.start_soon(worker, n)
    assert len(sim.vouchers()) == 300
    assert len({v["Name"] for v in sim.vouchers()}) == 300


async def test_rate_limited_client_shared_by_tasks_stays_within_the_limit() -> None:
    """Concurrent callers share one window: the server never answers 429."""
    clock = FakeClock()
    async with MewsSimulator(rate_limit=RateLimit(5, 1.0), clock=clock) as sim:
        hotel = sim.add_hotel()
        async with (
            make_client(
                sim, rate_limit=RateLimit(5, 1.0), clock=clock, sleep=clock.sleep
            ) as client,
            anyio.create_task_group() as tg,
        ):
            for _ in range(6):
                tg.start_soon(lambda: client.vouchers.get_all(service_ids=[hotel.service_id]))
        assert [r.status for r in sim.requests] == [200] * 6


async def test_streams_of_a_closed_client_fail_at_once(sim: MewsSimulator, hotel: Hotel) -> None:
    """iter_all and iter_pages on a closed client fail like get_all: at once, nothing counted."""
    client = make_client(sim)
    await client.aclose()
    with pytest.raises(MewsConnectionError, match="the client is closed") as expected:
        await client.vouchers.get_all(service_ids=[hotel.service_id])
    streams = [
        lambda: client.vouchers.iter_all(service_ids=[hotel.service_id]),
        lambda: client.vouchers.iter_pages(service_ids=[hotel.service_id]),
        lambda: client.voucher_codes.iter_all(voucher_ids=[hotel.service_id]),
        lambda: client.voucher_codes.iter_pages(voucher_ids=[hotel.service_id]),
    ]
    for open_stream in streams:
        with pytest.raises(MewsConnectionError) as info:
            async for _ in open_stream():
                pass
        assert str(info.value) == str(expected.value) and not info.value.ambiguous
    assert client.stats.requests == client.stats.retries == client.stats.failed == 0
    assert sim.requests == []


async def test_a_stream_opened_before_aclose_sends_nothing_after(
    sim: MewsSimulator, hotel: Hotel
) -> None:
    """A stream created, then its client closed, fails on first read without a request."""
    client = make_client(sim)
    stream = client.vouchers.iter_all(service_ids=[hotel.service_id])
    await client.aclose()
    with anyio.fail_after(5), pytest.raises(MewsConnectionError, match="closed"):
        await stream.__anext__()
    assert client.stats.requests == 0 and sim.requests == []


@contextlib.contextmanager
def simulator_in_a_thread(**options: Any) -> Iterator[tuple[MewsSimulator, Hotel]]:
    """A simulator serving from its own thread and event loop, for tests that run loops."""
    ready, stop = threading.Event(), threading.Event()
    box: dict[str, Any] = {}

    async def serve() -> None:
        async with MewsSimulator(seed=3, **options) as sim:
            box.update(sim=sim, hotel=sim.add_hotel())
            ready.set()
            await asyncio.to_thread(stop.wait)

    thread = threading.Thread(target=asyncio.run, args=(serve(),))
    thread.start()
    try:
        assert ready.wait(10)
        yield box["sim"], box["hotel"]
    finally:
        stop.set()
        thread.join()


def test_one_client_across_two_event_loops() -> None:
    """A client kept across asyncio.run calls works in each; each loop's session is closed."""
    with simulator_in_a_thread() as (sim, hotel):
        # A limit small enough that requests wait for it in both loops.
        client = make_client(sim, rate_limit=RateLimit(2, 0.2), page_size=2)

        async def add() -> list[Any]:
            return await client.vouchers.add(items(hotel, 5), enterprise_id=hotel.enterprise_id)

        async def read() -> list[Any]:
            result = await client.vouchers.get_all(service_ids=[hotel.service_id])
            pages = [
                page async for page in client.vouchers.iter_pages(service_ids=[hotel.service_id])
            ]
            assert len(pages) == 3
            return result.vouchers

        added = asyncio.run(add())
        found = asyncio.run(read())
        asyncio.run(client.aclose())
        assert sorted(v.id for v in found) == sorted(v.id for v in added)
        assert client.stats.requests == 1 + 3 + 3
        gc.collect()  # an unclosed session or socket would warn here, an error in this suite


def test_a_callers_session_stays_in_its_own_loop() -> None:
    """The caller's session cannot follow the client into another loop: a clear MewsConfigError."""
    with simulator_in_a_thread() as (sim, hotel):
        box: dict[str, Any] = {}

        async def first() -> None:
            async with aiohttp.ClientSession() as session:
                box["client"] = client = make_client(sim, session=session)
                await client.vouchers.get_all(service_ids=[hotel.service_id])

        async def second() -> None:
            await box["client"].vouchers.get_all(service_ids=[hotel.service_id])

        asyncio.run(first())
        with pytest.raises(MewsConfigError, match="another event loop"):
            asyncio.run(second())


def test_two_loops_at_once_are_refused() -> None:
    """A client busy in a loop of another thread refuses a second running loop, clearly."""
    with simulator_in_a_thread() as (sim, hotel):
        client = make_client(sim)
        bound, done = threading.Event(), threading.Event()

        async def hold() -> None:
            await client.vouchers.get_all(service_ids=[hotel.service_id])
            bound.set()
            await asyncio.to_thread(done.wait)

        async def intrude() -> None:
            await client.vouchers.get_all(service_ids=[hotel.service_id])

        holder = threading.Thread(target=asyncio.run, args=(hold(),))
        holder.start()
        try:
            assert bound.wait(10)
            with pytest.raises(MewsConfigError, match="one client per event loop"):
                asyncio.run(intrude())
        finally:
            done.set()
            holder.join()
