"""WriteLedger: what became of each item of a bulk write, even when the call is cut short."""

from __future__ import annotations

import uuid

import anyio
import pytest

from mews_vouchers import (
    BulkOperationError,
    MewsClient,
    MewsValidationError,
    Voucher,
    VoucherCode,
    VoucherCodeParameters,
    VoucherParameters,
    VoucherType,
    VoucherUpdate,
    WriteLedger,
    WriteState,
)
from mews_vouchers._constants import VOUCHERS_ADD
from mews_vouchers.testing import Fault, Hotel, MewsSimulator
from tests.conftest import make_client

pytestmark = pytest.mark.anyio


def params(hotel: Hotel, n: int, *, ext: bool = False) -> list[VoucherParameters]:
    return [
        VoucherParameters(
            service_id=hotel.service_id,
            name=f"L{i}",
            type=VoucherType.PUBLIC,
            external_identifier=f"l-{i}" if ext else None,
        )
        for i in range(n)
    ]


def sent_names(sim: MewsSimulator) -> set[str]:
    """The names of every voucher that any add request carried."""
    return {
        p["Name"]
        for r in sim.requests
        if r.operation == VOUCHERS_ADD and r.body is not None
        for p in r.body["VoucherParameters"]
    }


async def test_a_finished_add_leaves_every_item_succeeded_with_its_result(
    sim: MewsSimulator, hotel: Hotel
) -> None:
    """After a successful call, each item is SUCCEEDED and holds the Voucher returned for it."""
    items = params(hotel, 25)
    ledger: WriteLedger[Voucher] = WriteLedger()
    async with make_client(sim, chunk_size=10) as client:
        vouchers = await client.vouchers.add(
            iter(items), enterprise_id=hotel.enterprise_id, ledger=ledger
        )
    assert ledger.started
    assert list(ledger.items) == items
    assert [ledger.result(i) for i in range(25)] == vouchers
    assert ledger.counts()[WriteState.SUCCEEDED] == 25
    assert ledger.indices(WriteState.NOT_SENT, WriteState.IN_FLIGHT) == []
    assert ledger.failures == []


async def test_a_partial_failure_is_told_item_by_item_as_the_error_tells_it(
    sim: MewsSimulator, hotel: Hotel
) -> None:
    """Refused chunks are FAILED, unknown outcomes AMBIGUOUS, the rest SUCCEEDED with results."""
    items = params(hotel, 6)
    items[5] = VoucherParameters(service_id=uuid.uuid4(), name="L5", type=VoucherType.PUBLIC)
    # Without external identifiers an applied-but-500 add cannot be settled: ambiguous.
    sim.inject(Fault.SERVER_ERROR_AFTER, times=1, operation=VOUCHERS_ADD)
    ledger: WriteLedger[Voucher] = WriteLedger()
    async with make_client(sim, chunk_size=2, max_concurrency=1) as client:
        with pytest.raises(BulkOperationError) as caught:
            await client.vouchers.add(items, enterprise_id=hotel.enterprise_id, ledger=ledger)
    error = caught.value
    assert ledger.indices(WriteState.AMBIGUOUS) == [0, 1]
    assert ledger.indices(WriteState.SUCCEEDED) == [2, 3]
    assert ledger.indices(WriteState.FAILED) == [4, 5]
    assert ledger.failures == error.failures
    assert [ledger.result(i) for i in range(6)] == error.results
    assert repr(ledger) == "<WriteLedger of 6 items: 2 succeeded, 2 failed, 2 ambiguous>"


async def test_a_cancelled_add_tells_stored_in_flight_and_never_sent_items() -> None:
    """Cancelled mid-call: SUCCEEDED items exist, NOT_SENT ones never left, IN_FLIGHT may have."""
    async with MewsSimulator(seed=3, latency=0.05) as sim:
        hotel = sim.add_hotel()
        items = params(hotel, 60)
        ledger: WriteLedger[Voucher] = WriteLedger()
        ready = anyio.Event()

        def progress(done: int) -> None:
            # The ledger is live: cancel once some chunks are stored and others in flight.
            counts = ledger.counts()
            if counts[WriteState.SUCCEEDED] >= 10 and counts[WriteState.IN_FLIGHT]:
                ready.set()

        async with make_client(sim, chunk_size=5, max_concurrency=2) as client:
            async with anyio.create_task_group() as tg:

                async def add() -> None:
                    await client.vouchers.add(
                        items,
                        enterprise_id=hotel.enterprise_id,
                        on_progress=progress,
                        ledger=ledger,
                    )

                tg.start_soon(add)
                with anyio.fail_after(10):
                    await ready.wait()
                tg.cancel_scope.cancel()
            assert client.stats.requests < 12
        # Requests that reached the simulator finish there; then its state is final.
        await anyio.sleep(0.2)
        stored = {v["Name"]: v["Id"] for v in sim.vouchers()}
        sent = sent_names(sim)

    succeeded = ledger.indices(WriteState.SUCCEEDED)
    in_flight = ledger.indices(WriteState.IN_FLIGHT)
    not_sent = ledger.indices(WriteState.NOT_SENT)
    assert sorted(succeeded + in_flight + not_sent) == list(range(60))
    assert len(succeeded) >= 10 and in_flight and not_sent
    for i in succeeded:
        result = ledger.result(i)
        assert result is not None and stored[items[i].name] == str(result.id)
    for i in not_sent:
        assert items[i].name not in sent and items[i].name not in stored
        assert ledger.result(i) is None
    # Whatever the simulator holds was reported stored or in doubt, never as not sent.
    assert (
        {items[i].name for i in succeeded}
        <= set(stored)
        <= {items[i].name for i in succeeded + in_flight}
    )


async def test_update_delete_and_code_writes_keep_a_ledger(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """Every write method takes a ledger; delete's results are the ids deleted."""
    ids = sim.seed_vouchers(hotel.service_id, 3)
    updated: WriteLedger[Voucher] = WriteLedger()
    await client.vouchers.update(
        [VoucherUpdate(voucher_id=i, name="U") for i in ids],
        enterprise_id=hotel.enterprise_id,
        ledger=updated,
    )
    codes: WriteLedger[VoucherCode] = WriteLedger()
    added = await client.voucher_codes.add(
        [VoucherCodeParameters(voucher_id=ids[0], value="CODE-1")],
        enterprise_id=hotel.enterprise_id,
        ledger=codes,
    )
    assert added[0].id is not None
    codes_deleted: WriteLedger[uuid.UUID] = WriteLedger()
    await client.voucher_codes.delete(
        [added[0].id], enterprise_id=hotel.enterprise_id, ledger=codes_deleted
    )
    deleted: WriteLedger[uuid.UUID] = WriteLedger()
    await client.vouchers.delete(
        [str(i) for i in ids], enterprise_id=hotel.enterprise_id, ledger=deleted
    )
    assert [updated.result(i).name for i in range(3)] == ["U"] * 3  # type: ignore[union-attr]
    assert codes.result(0) == added[0]
    assert codes_deleted.result(0) == added[0].id
    assert [deleted.result(i) for i in range(3)] == ids
    assert sim.vouchers(include_deleted=False) == []


async def test_a_ledger_serves_one_call(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """A used ledger is refused before any request; one whose input was refused stays empty."""
    unused: WriteLedger[Voucher] = WriteLedger()
    with pytest.raises(MewsValidationError):
        await client.vouchers.add(
            [VoucherParameters(service_id=hotel.service_id, name="", type=VoucherType.PUBLIC)],
            enterprise_id=hotel.enterprise_id,
            ledger=unused,
        )
    assert not unused.started and len(unused) == 0
    ledger: WriteLedger[Voucher] = WriteLedger()
    await client.vouchers.add(params(hotel, 1), enterprise_id=hotel.enterprise_id, ledger=ledger)
    sim.reset_requests()
    with pytest.raises(MewsValidationError, match="ledger"):
        await client.vouchers.add(
            params(hotel, 1), enterprise_id=hotel.enterprise_id, ledger=ledger
        )
    assert sim.requests == []
    assert ledger.counts()[WriteState.SUCCEEDED] == 1
