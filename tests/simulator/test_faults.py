"""The simulator's injected faults: before or after applying, by name or at random, and latency."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from mews_vouchers._constants import VOUCHERS_ADD, VOUCHERS_DELETE
from mews_vouchers.testing import Fault, MewsSimulator
from tests.support.raw_http import World, voucher, world_of

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        (Fault.SERVER_ERROR_BEFORE, 500),
        (Fault.TIMEOUT, 408),
        (Fault.RATE_LIMIT, 429),
        (Fault.RATE_LIMIT_NO_HEADER, 429),
        (Fault.CONFLICT, 409),
        (Fault.TOO_LARGE, 413),
    ],
)
async def test_faults_before_answer_without_applying(w: World, fault: Fault, status: int) -> None:
    """The "before" faults answer their error and apply nothing."""
    w.sim.inject(fault, operation=VOUCHERS_ADD)
    answer = await w.call(VOUCHERS_ADD, EnterpriseId=w.a.eid, VoucherParameters=[voucher(w.a)])
    assert answer.status == status
    assert answer.body["RequestId"] == answer.headers["Request-Id"]
    assert w.sim.vouchers() == []
    assert (w.sim.requests[-1].status, w.sim.requests[-1].fault) == (status, fault)
    assert ("Retry-After" in answer.headers) is (fault is Fault.RATE_LIMIT)
    if fault is Fault.RATE_LIMIT:
        assert answer.headers["Retry-After"] == "1"
    assert (
        await w.call(VOUCHERS_ADD, EnterpriseId=w.a.eid, VoucherParameters=[voucher(w.a)])
    ).status == 200


async def test_injected_retry_after_is_sent_verbatim(w: World) -> None:
    """An injected 429 sends the given Retry-After string as it is."""
    w.sim.inject(Fault.RATE_LIMIT, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    answer = await w.get_all()
    assert answer.headers["Retry-After"] == "Wed, 21 Oct 2015 07:28:00 GMT"


async def test_drop_before_closes_without_applying(w: World) -> None:
    """DROP_BEFORE closes the connection with no answer and applies nothing."""
    w.sim.inject(Fault.DROP_BEFORE)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await w.call(VOUCHERS_ADD, EnterpriseId=w.a.eid, VoucherParameters=[voucher(w.a)])
    assert w.sim.vouchers() == []
    assert (w.sim.requests[-1].status, w.sim.requests[-1].fault) == (0, Fault.DROP_BEFORE)


async def test_server_error_after_applies_the_write(w: World) -> None:
    """SERVER_ERROR_AFTER answers 500 although the write was applied."""
    w.sim.inject(Fault.SERVER_ERROR_AFTER)
    answer = await w.call(
        VOUCHERS_ADD, EnterpriseId=w.a.eid, VoucherParameters=[voucher(w.a, "applied")]
    )
    assert answer.status == 500
    assert [v["Name"] for v in w.sim.vouchers()] == ["applied"]


async def test_drop_after_applies_the_write(w: World) -> None:
    """DROP_AFTER applies the write, then closes the connection with no answer."""
    (added,) = await w.add(voucher(w.a))
    w.sim.inject(Fault.DROP_AFTER, operation=VOUCHERS_DELETE)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await w.call(VOUCHERS_DELETE, EnterpriseId=w.a.eid, VoucherIds=[added["Id"]])
    assert w.sim.vouchers()[0]["IsActive"] is False
    assert w.sim.requests[-1].status == 0


async def test_slow_applies_first_then_answers_late(w: World) -> None:
    """SLOW applies the write at once and answers normally after its delay."""
    w.sim.inject(Fault.SLOW, delay=0.05)
    answer = await w.call(VOUCHERS_ADD, EnterpriseId=w.a.eid, VoucherParameters=[voucher(w.a)])
    assert answer.status == 200
    assert w.sim.requests[-1].fault is Fault.SLOW
    w.sim.inject(Fault.SLOW, delay=5.0)
    with pytest.raises(asyncio.TimeoutError):
        await w.call(
            VOUCHERS_ADD,
            EnterpriseId=w.a.eid,
            VoucherParameters=[voucher(w.a, "late")],
            give_up_after=0.1,
        )
    assert [v["Name"] for v in w.sim.vouchers()] == ["Voucher", "late"]


@pytest.mark.parametrize("fault", [Fault.SERVER_ERROR_AFTER, Fault.DROP_AFTER])
async def test_after_faults_on_get_all_just_fail(w: World, fault: Fault) -> None:
    """On getAll the "after" faults answer their failure like the "before" ones."""
    w.sim.inject(fault)
    if fault is Fault.DROP_AFTER:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await w.get_all()
    else:
        assert (await w.get_all()).status == 500


async def test_injections_match_operation_count_and_order(w: World) -> None:
    """Injected faults hit the next matching requests, `times` each, in queue order."""
    w.sim.inject(Fault.TIMEOUT, times=2, operation=VOUCHERS_ADD)
    w.sim.inject(Fault.SERVER_ERROR_BEFORE)
    assert (await w.get_all()).status == 500
    statuses = [
        (await w.call(VOUCHERS_ADD, EnterpriseId=w.a.eid, VoucherParameters=[voucher(w.a)])).status
        for _ in range(3)
    ]
    assert statuses == [408, 408, 200]
    assert (await w.get_all()).status == 200


async def test_faults_strike_before_validation(w: World) -> None:
    """A fault hits any request on a valid path, even one that would be refused."""
    w.sim.inject(Fault.SERVER_ERROR_BEFORE)
    assert (await w.post_raw(VOUCHERS_ADD, b"garbage")).status == 500


async def test_random_faults_are_reproducible_per_seed() -> None:
    """With a fault rate, the same seed fails the same requests the same way."""

    async def run(seed: int) -> list[tuple[int, Fault | None]]:
        async with world_of(
            fault_rate=0.5, seed=seed, faults=[Fault.SERVER_ERROR_BEFORE, Fault.TIMEOUT]
        ) as w:
            for _ in range(20):
                await w.get_all()
            return [(r.status, r.fault) for r in w.sim.requests]

    first, again, other = await run(7), await run(7), await run(8)
    assert first == again != other
    assert {status for status, _ in first} == {200, 408, 500}


@pytest.mark.parametrize("fault", [Fault.RATE_LIMIT, Fault.RATE_LIMIT_NO_HEADER])
async def test_random_429_comes_in_bursts(fault: Fault) -> None:
    """A random 429 keeps refusing its token for 0.2 to 1.0 s of the clock, then draws resume."""
    async with world_of(fault_rate=0.3, seed=3, faults=[fault]) as w:
        for _ in range(50):
            first = await w.get_all()
            if first.status == 429:
                break
        assert first.status == 429
        assert first.headers.get("Retry-After") == ("1" if fault is Fault.RATE_LIMIT else None)
        w.clocks.t += 0.19
        assert [(await w.get_all()).status for _ in range(10)] == [429] * 10
        assert {r.fault for r in w.sim.requests[-11:]} == {fault}
        fresh = []
        for _ in range(20):
            w.clocks.t += 1.01
            fresh.append((await w.get_all()).status)
        assert set(fresh) == {200, 429}


async def test_random_faults_can_apply_writes() -> None:
    """With only DROP_AFTER drawn, every write is applied though no answer comes back."""
    async with world_of(fault_rate=1.0, faults=[Fault.DROP_AFTER]) as w:
        for i in range(3):
            with pytest.raises(aiohttp.ServerDisconnectedError):
                await w.call(
                    VOUCHERS_ADD, EnterpriseId=w.a.eid, VoucherParameters=[voucher(w.a, f"V{i}")]
                )
        assert [v["Name"] for v in w.sim.vouchers()] == ["V0", "V1", "V2"]


async def test_latency_delays_every_answer() -> None:
    """Latency is waited before each answer."""
    async with world_of(latency=0.05) as w:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await w.get_all()
        await w.post_raw(f"{w.sim.base_url}/nowhere", b"")
        assert loop.time() - started >= 0.1


async def test_closing_with_a_request_in_flight_is_clean() -> None:
    """Closing the simulator while a SLOW request is pending cancels it without leaks."""
    async with world_of() as w:
        w.sim.inject(Fault.SLOW, delay=30.0)
        with pytest.raises(asyncio.TimeoutError):
            await w.get_all(give_up_after=0.05)
    with pytest.raises(RuntimeError):
        _ = MewsSimulator().base_url
