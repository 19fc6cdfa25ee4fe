"""Bulk writes: chunking, order, progress, partial failure, and writes that never duplicate."""

from __future__ import annotations

import gc
import uuid
from collections import Counter
from collections.abc import Iterator

import anyio
import pytest

from mews_vouchers import (
    AuthenticationError,
    BadRequestError,
    BulkOperationError,
    MewsClient,
    MewsTimeoutError,
    MewsValidationError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    VoucherCodeParameters,
    VoucherParameters,
    VoucherType,
    VoucherUpdate,
)
from mews_vouchers.testing import Fault, Hotel, MewsSimulator
from tests.conftest import FAST_RETRY, make_client

pytestmark = pytest.mark.anyio

UNKNOWN_SERVICE = uuid.UUID("00000000-0000-4000-8000-000000000001")


def generate(
    hotel: Hotel, n: int, *, ext: bool = True, prefix: str = "B"
) -> Iterator[VoucherParameters]:
    for i in range(n):
        yield VoucherParameters(
            service_id=hotel.service_id,
            name=f"{prefix}{i}",
            type=VoucherType.PUBLIC,
            external_identifier=f"{prefix}-{i}" if ext else None,
        )


def ops(sim: MewsSimulator, operation: str) -> list[int]:
    return [r.items for r in sim.requests if r.operation == operation]


def names_once(sim: MewsSimulator, expected: list[str]) -> None:
    """The simulator holds each expected voucher exactly once, and nothing else."""
    counts = Counter(v["Name"] for v in sim.vouchers())
    assert counts == Counter(expected)


async def test_add_5500_in_six_requests_in_input_order(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """A generator of 5,500 items: 6 requests of at most 1000, results in input order."""
    progress: list[int] = []
    vouchers = await client.vouchers.add(
        generate(hotel, 5500), enterprise_id=hotel.enterprise_id, on_progress=progress.append
    )
    assert sorted(ops(sim, "vouchers/add")) == [500, 1000, 1000, 1000, 1000, 1000]
    assert [v.name for v in vouchers] == [f"B{i}" for i in range(5500)]
    assert sorted(progress) == [500, 1000, 1000, 1000, 1000, 1000]
    names_once(sim, [f"B{i}" for i in range(5500)])


async def test_update_2345_and_delete_3001(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """update of 2,345 is 3 requests; delete of 3,001 is 4; results follow the input."""
    vouchers = await client.vouchers.add(generate(hotel, 3001), enterprise_id=hotel.enterprise_id)
    updates = (VoucherUpdate(voucher_id=v.id, name=f"U{i}") for i, v in enumerate(vouchers[:2345]))
    updated = await client.vouchers.update(updates, enterprise_id=hotel.enterprise_id)
    assert sorted(ops(sim, "vouchers/update")) == [345, 1000, 1000]
    assert [v.name for v in updated] == [f"U{i}" for i in range(2345)]
    assert [v.id for v in updated] == [v.id for v in vouchers[:2345]]
    seen: list[int] = []
    await client.vouchers.delete(
        (v.id for v in vouchers), enterprise_id=hotel.enterprise_id, on_progress=seen.append
    )
    assert sorted(ops(sim, "vouchers/delete")) == [1, 1000, 1000, 1000]
    assert sum(seen) == 3001
    assert not any(v["IsActive"] for v in sim.vouchers())


async def test_a_finished_write_leaves_nothing_for_the_garbage_collector(
    client: MewsClient, hotel: Hotel
) -> None:
    """Once add returns, its results are freed as soon as the caller drops them, no cycle."""
    params = list(generate(hotel, 600))
    eid = hotel.enterprise_id
    await client.vouchers.add(params[:10], enterprise_id=eid)  # warm up: session, hooks
    gc.collect()
    gc.disable()
    try:
        added = await client.vouchers.add(params[10:], enterprise_id=eid)
        assert len(added) == 590
        del added
        # What only a cycle kept alive: a few objects of the call's machinery at most, not
        # the 590 vouchers and their ids.
        found = gc.collect()
    finally:
        gc.enable()
    assert found < 200


async def test_chunk_size_is_honoured(sim: MewsSimulator, hotel: Hotel) -> None:
    """chunk_size=7 cuts 30 items into 5 requests of 7 and one of 2."""
    async with make_client(sim, chunk_size=7) as client:
        await client.vouchers.add(generate(hotel, 30), enterprise_id=hotel.enterprise_id)
    assert sorted(ops(sim, "vouchers/add")) == [2, 7, 7, 7, 7]


async def test_a_failed_chunk_loses_nothing(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """One chunk refused: every other chunk finishes; results and failures account for all."""
    items = list(generate(hotel, 3500))
    items[2100] = VoucherParameters(service_id=UNKNOWN_SERVICE, name="bad", type=VoucherType.PUBLIC)
    progress: list[int] = []
    with pytest.raises(BulkOperationError) as info:
        await client.vouchers.add(
            items, enterprise_id=hotel.enterprise_id, on_progress=progress.append
        )
    error = info.value
    assert len(error.results) == 3500
    [failure] = error.failures
    assert failure.indices == list(range(2000, 3000))
    assert failure.items == items[2000:3000]
    assert isinstance(failure.error, BadRequestError)
    assert failure.ambiguous is False
    assert error.failed_indices == list(range(2000, 3000))
    assert error.failed_items == items[2000:3000]
    assert all(error.results[i] is None for i in range(2000, 3000))
    ok = [i for i in range(3500) if not 2000 <= i < 3000]
    assert [error.results[i].name for i in ok] == [items[i].name for i in ok]  # type: ignore[union-attr]
    assert sum(progress) == 2500
    assert "1000 of 3500 items failed" in str(error)
    names_once(sim, [items[i].name for i in ok])
    # The failed items, fixed, go in again by themselves.
    retry = [
        VoucherParameters(service_id=hotel.service_id, name=p.name, type=p.type)
        for p in error.failed_items
    ]
    await client.vouchers.add(retry, enterprise_id=hotel.enterprise_id)
    assert len(sim.vouchers()) == 3500


async def test_refused_credentials_stop_the_chunks_not_yet_sent(
    sim: MewsSimulator, hotel: Hotel
) -> None:
    """A 401 on one chunk fails the chunks not yet sent without asking the server again."""
    async with make_client(sim, access_token="Z" * 40, max_concurrency=1, chunk_size=10) as client:
        with pytest.raises(BulkOperationError) as info:
            await client.vouchers.add(generate(hotel, 50))
    assert len(sim.requests) == 1
    assert len(info.value.failures) == 5
    assert all(isinstance(f.error, AuthenticationError) for f in info.value.failures)
    assert info.value.failed_indices == list(range(50))


@pytest.mark.parametrize("fault", [Fault.SERVER_ERROR_AFTER, Fault.DROP_AFTER])
async def test_ambiguous_add_with_external_ids_is_resolved_without_duplicates(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel, fault: Fault
) -> None:
    """Applied-then-failed: the client looks the identifiers up, finds them, re-sends nothing."""
    sim.inject(fault, times=1, operation="vouchers/add")
    vouchers = await client.vouchers.add(generate(hotel, 1500), enterprise_id=hotel.enterprise_id)
    assert [v.name for v in vouchers] == [f"B{i}" for i in range(1500)]
    assert len(ops(sim, "vouchers/add")) == 2  # the struck chunk was not sent again
    assert ops(sim, "vouchers/getAll")  # it was looked up
    names_once(sim, [f"B{i}" for i in range(1500)])
    assert client.stats.resolved_ambiguous == 1


@pytest.mark.parametrize("fault", [Fault.SERVER_ERROR_BEFORE, Fault.DROP_BEFORE])
async def test_unapplied_ambiguous_add_is_resent_once(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel, fault: Fault
) -> None:
    """Failed before applying: the lookup finds nothing and the chunk is sent again, once."""
    sim.inject(fault, times=1, operation="vouchers/add")
    vouchers = await client.vouchers.add(generate(hotel, 800), enterprise_id=hotel.enterprise_id)
    assert len(vouchers) == 800
    assert ops(sim, "vouchers/add") == [800, 800]
    names_once(sim, [f"B{i}" for i in range(800)])


async def test_timed_out_add_is_resolved(sim: MewsSimulator, hotel: Hotel) -> None:
    """A client timeout on an add the server did apply: resolved, no duplicate."""
    sim.inject(Fault.SLOW, times=1, operation="vouchers/add", delay=1.0)
    async with make_client(sim, timeout=0.3) as client:
        vouchers = await client.vouchers.add(generate(hotel, 10), enterprise_id=hotel.enterprise_id)
    assert len(vouchers) == 10
    await anyio.sleep(1.0)  # the slow answer is logged once the simulator sends it
    assert ops(sim, "vouchers/add") == [10]
    names_once(sim, [f"B{i}" for i in range(10)])


async def test_partly_applied_resolution_resends_only_the_missing(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """Vouchers found by the lookup are kept; only the missing ones are sent again."""
    items = list(generate(hotel, 6))
    # Three of the six exist already (as if an earlier attempt had been applied in part).
    await client.vouchers.add(items[:3], enterprise_id=hotel.enterprise_id)
    sim.reset_requests()
    sim.inject(Fault.SERVER_ERROR_BEFORE, times=1, operation="vouchers/add")
    vouchers = await client.vouchers.add(items, enterprise_id=hotel.enterprise_id)
    assert [v.name for v in vouchers] == [f"B{i}" for i in range(6)]
    assert ops(sim, "vouchers/add") == [6, 3]
    names_once(sim, [f"B{i}" for i in range(6)])


async def test_ambiguous_add_without_external_ids_is_reported_never_resent(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """No identifiers to look up: the chunk is flagged ambiguous and not sent again."""
    sim.inject(Fault.SERVER_ERROR_AFTER, times=1, operation="vouchers/add")
    with pytest.raises(BulkOperationError) as info:
        await client.vouchers.add(generate(hotel, 5, ext=False), enterprise_id=hotel.enterprise_id)
    [failure] = info.value.failures
    assert failure.ambiguous is True
    assert isinstance(failure.error, ServerError)
    assert ops(sim, "vouchers/add") == [5]
    assert len(sim.vouchers()) == 5  # it had been applied: the client did not guess


async def test_repeated_external_ids_are_refused_before_sending(
    sim: MewsSimulator, hotel: Hotel
) -> None:
    """One identifier twice in a service, even chunks apart: refused, naming both, nothing sent.

    A lookup could not tell the two apart: with one chunk in doubt it would find the other
    chunk's voucher, report success with the wrong voucher and never create the second.
    """
    other_service = sim.add_service(hotel.enterprise_id, name="Spa")
    items = [*generate(hotel, 3), *generate(hotel, 3, prefix="C")]
    items[4] = VoucherParameters(
        service_id=hotel.service_id, name="dup", type=VoucherType.PUBLIC, external_identifier="B-1"
    )
    async with make_client(sim, chunk_size=2) as client:
        with pytest.raises(MewsValidationError) as info:
            await client.vouchers.add(items, enterprise_id=hotel.enterprise_id)
        assert info.value.errors == [
            (
                "params[4].external_identifier",
                "repeats params[1].external_identifier:"
                " an external identifier of a service must be unique within one add",
            )
        ]
        assert sim.requests == []
        # The same identifier in another service is another voucher's: accepted.
        elsewhere = VoucherParameters(
            service_id=other_service,
            name="x",
            type=VoucherType.PUBLIC,
            external_identifier="B-1",
        )
        added = await client.vouchers.add([items[1], elsewhere], enterprise_id=hotel.enterprise_id)
    assert len(added) == 2


async def test_429s_do_not_use_up_attempts(sim: MewsSimulator, hotel: Hotel) -> None:
    """More 429s in a row than max_attempts: the write still goes through, once."""
    policy = RetryPolicy(max_attempts=2, initial_backoff=0.001, max_retry_after=0.001)
    async with make_client(sim, retry=policy) as client:
        sim.inject(Fault.RATE_LIMIT, times=6, operation="vouchers/add", retry_after="0")
        vouchers = await client.vouchers.add(generate(hotel, 3), enterprise_id=hotel.enterprise_id)
        assert len(vouchers) == 3
        assert ops(sim, "vouchers/add") == [3] * 7
        assert client.stats.rate_limited == 6
    names_once(sim, ["B0", "B1", "B2"])


async def test_rate_limited_add_is_retried_safely(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """A 429 was never applied: the add is simply sent again."""
    sim.inject(Fault.RATE_LIMIT, times=2, operation="vouchers/add", retry_after="0")
    vouchers = await client.vouchers.add(
        generate(hotel, 4, ext=False), enterprise_id=hotel.enterprise_id
    )
    assert len(vouchers) == 4
    assert ops(sim, "vouchers/add") == [4, 4, 4]
    assert client.stats.rate_limited == 2


@pytest.mark.parametrize(
    "fault", [Fault.SERVER_ERROR_AFTER, Fault.DROP_AFTER, Fault.TIMEOUT, Fault.SERVER_ERROR_BEFORE]
)
async def test_update_and_delete_are_retried(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel, fault: Fault
) -> None:
    """Idempotent writes are retried after 408, 5xx and lost connections, and succeed."""
    vouchers = await client.vouchers.add(generate(hotel, 3), enterprise_id=hotel.enterprise_id)
    sim.inject(fault, times=1, operation="vouchers/update")
    sim.inject(fault, times=1, operation="vouchers/delete")
    updated = await client.vouchers.update(
        [VoucherUpdate(voucher_id=v.id, name="new") for v in vouchers],
        enterprise_id=hotel.enterprise_id,
    )
    assert [v.name for v in updated] == ["new"] * 3
    await client.vouchers.delete([v.id for v in vouchers], enterprise_id=hotel.enterprise_id)
    # A 408 ("too heavy") is sent again in halves (test_smaller_batches), the rest whole.
    again = [2, 1] if fault is Fault.TIMEOUT else [3]
    assert ops(sim, "vouchers/update") == [3, *again]
    assert ops(sim, "vouchers/delete") == [3, *again]
    assert not any(v["IsActive"] for v in sim.vouchers())


async def test_a_chunk_that_may_have_applied_stays_ambiguous(
    sim: MewsSimulator, hotel: Hotel
) -> None:
    """500 after applying, then only 429s: the final error is a 429, the chunk still ambiguous."""
    async with make_client(
        sim,
        retry=RetryPolicy(
            max_attempts=3, initial_backoff=0.001, max_retry_after=0.001, max_rate_limited=2
        ),
    ) as client:
        [voucher] = await client.vouchers.add(generate(hotel, 1), enterprise_id=hotel.enterprise_id)
        sim.inject(Fault.SERVER_ERROR_AFTER, times=1, operation="vouchers/update")
        sim.inject(Fault.RATE_LIMIT, times=5, operation="vouchers/update")
        with pytest.raises(BulkOperationError) as info:
            await client.vouchers.update(
                [VoucherUpdate(voucher_id=voucher.id, name="x")], enterprise_id=hotel.enterprise_id
            )
    [failure] = info.value.failures
    assert isinstance(failure.error, RateLimitError)
    assert failure.ambiguous is True
    assert sim.vouchers()[0]["Name"] == "x"  # it had indeed been applied


@pytest.mark.parametrize(
    "fault", [Fault.DROP_AFTER, Fault.SERVER_ERROR_AFTER, Fault.SERVER_ERROR_BEFORE]
)
async def test_ambiguous_code_add_is_settled_exactly_once(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel, fault: Fault
) -> None:
    """voucherCodes/add in doubt: the codes are looked up by voucher and value, none twice."""
    vouchers = await client.vouchers.add(generate(hotel, 3), enterprise_id=hotel.enterprise_id)
    params = [
        VoucherCodeParameters(voucher_id=v.id, value=f"C-{i}") for i, v in enumerate(vouchers)
    ]
    sim.inject(fault, times=1, operation="voucherCodes/add")
    codes = await client.voucher_codes.add(params, enterprise_id=hotel.enterprise_id)
    assert [c.value for c in codes] == ["C-0", "C-1", "C-2"]
    assert Counter(c["Value"] for c in sim.voucher_codes()) == Counter(["C-0", "C-1", "C-2"])
    applied = fault is not Fault.SERVER_ERROR_BEFORE
    assert ops(sim, "voucherCodes/add") == ([3] if applied else [3, 3])
    assert ops(sim, "voucherCodes/getAll")


async def test_repeated_code_is_refused_before_sending(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """The same code of a voucher twice in one add: refused, naming both, nothing sent."""
    [voucher] = await client.vouchers.add(generate(hotel, 1), enterprise_id=hotel.enterprise_id)
    sim.reset_requests()
    same = VoucherCodeParameters(voucher_id=voucher.id, value="C1")
    other = VoucherCodeParameters(voucher_id=voucher.id, value="C2")
    with pytest.raises(MewsValidationError) as info:
        await client.voucher_codes.add([same, other, same], enterprise_id=hotel.enterprise_id)
    assert [path for path, _ in info.value.errors] == ["params[2].value"]
    assert "repeats params[0].value" in info.value.errors[0][1]
    assert sim.requests == []


async def test_timeout_error_class(sim: MewsSimulator, hotel: Hotel) -> None:
    """A read that never answers in time ends in MewsTimeoutError after its retries."""
    sim.inject(Fault.SLOW, times=5, operation="vouchers/getAll", delay=0.5)
    async with make_client(
        sim, timeout=0.1, retry=RetryPolicy(max_attempts=2, initial_backoff=0.001)
    ) as client:
        with pytest.raises(MewsTimeoutError):
            await client.vouchers.get_all(service_ids=[hotel.service_id])
    assert FAST_RETRY.max_attempts == 5
