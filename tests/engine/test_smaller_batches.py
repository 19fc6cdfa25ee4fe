"""Request data in smaller batches: 413 and 408 send a chunk again as halves; 409 and 413 errors."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest

from mews_vouchers import (
    BulkOperationError,
    ConflictError,
    MewsApiError,
    MewsClient,
    PayloadTooLargeError,
    Voucher,
    VoucherCodeParameters,
    VoucherParameters,
    VoucherType,
    VoucherUpdate,
    WriteLedger,
    WriteState,
)
from mews_vouchers.testing import Fault, Hotel, MewsSimulator
from tests.conftest import make_client

pytestmark = pytest.mark.anyio


def ops(sim: MewsSimulator, operation: str) -> list[int]:
    return [r.items for r in sim.requests if r.operation == operation]


def voucher(hotel: Hotel, name: str) -> VoucherParameters:
    return VoucherParameters(
        service_id=hotel.service_id, name=name, type=VoucherType.PUBLIC, external_identifier=name
    )


@pytest.mark.parametrize("operation", ["vouchers/add", "vouchers/update", "vouchers/delete"])
async def test_413_sends_the_chunk_again_in_halves(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel, operation: str
) -> None:
    """A 413 on any write: halves, then quarters, results aligned with the input."""
    names = [f"n{i}" for i in range(8)]
    if operation == "vouchers/add":
        sim.inject(Fault.TOO_LARGE, times=3, operation=operation)
    added = await client.vouchers.add(
        [voucher(hotel, n) for n in names], enterprise_id=hotel.enterprise_id
    )
    assert [v.name for v in added] == names
    sim.inject(Fault.TOO_LARGE, times=3, operation=operation)
    updated = await client.vouchers.update(
        [VoucherUpdate(voucher_id=v.id, name=f"u{v.name}") for v in added],
        enterprise_id=hotel.enterprise_id,
    )
    assert [v.id for v in updated] == [v.id for v in added]
    assert [v.name for v in updated] == [f"u{n}" for n in names]
    await client.vouchers.delete([v.id for v in added], enterprise_id=hotel.enterprise_id)
    assert ops(sim, operation) == [8, 4, 4, 2, 2, 2, 2]
    assert Counter(v["Name"] for v in sim.vouchers()) == Counter(f"u{n}" for n in names)
    assert not any(v["IsActive"] for v in sim.vouchers())
    assert not ops(sim, "vouchers/getAll")  # a 413 was not applied: nothing to look up


async def test_413_on_voucher_codes_writes_splits_too(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """voucherCodes add and delete split on 413 like the voucher writes."""
    vouchers = await client.vouchers.add(
        [voucher(hotel, f"c{i}") for i in range(4)], enterprise_id=hotel.enterprise_id
    )
    sim.inject(Fault.TOO_LARGE, times=1, operation="voucherCodes/add")
    sim.inject(Fault.TOO_LARGE, times=1, operation="voucherCodes/delete")
    codes = await client.voucher_codes.add(
        [VoucherCodeParameters(voucher_id=v.id, value=f"V{i}") for i, v in enumerate(vouchers)],
        enterprise_id=hotel.enterprise_id,
    )
    assert [c.value for c in codes] == ["V0", "V1", "V2", "V3"]
    await client.voucher_codes.delete([c.id for c in codes], enterprise_id=hotel.enterprise_id)
    assert ops(sim, "voucherCodes/add") == [4, 2, 2]
    assert ops(sim, "voucherCodes/delete") == [4, 2, 2]
    assert not any(c["IsActive"] for c in sim.voucher_codes())


async def test_an_item_too_large_alone_fails_with_payload_too_large(sim: MewsSimulator) -> None:
    """Over the server's body limit: split down to single items; one too large alone fails."""
    hotel = sim.add_hotel()
    async with make_client(sim) as probe:
        await probe.vouchers.add([voucher(hotel, "a")], enterprise_id=hotel.enterprise_id)
    [sent] = [r.body for r in sim.requests if r.operation == "vouchers/add"]
    one_short = len(orjson.dumps(sent))  # name and identifier "a"
    # One item is 105 bytes with name and identifier "b": two of them are over the limit,
    # and so is one whose name and identifier have 128 characters.
    async with MewsSimulator(seed=1, max_body_bytes=one_short + 100) as small:
        hotel = small.add_hotel()
        items = [voucher(hotel, n) for n in ("b", "c", "L" * 128, "e")]
        async with make_client(small) as client:
            with pytest.raises(BulkOperationError) as info:
                await client.vouchers.add(items, enterprise_id=hotel.enterprise_id)
        assert ops(small, "vouchers/add") == [4, 2, 2, 1, 1, 1, 1]
    error = info.value
    assert [v.name if v else None for v in error.results] == ["b", "c", None, "e"]
    [failure] = error.failures
    assert failure.indices == [2]
    assert isinstance(failure.error, PayloadTooLargeError)
    assert failure.error.status == 413
    assert failure.ambiguous is False


async def test_408_on_update_and_delete_sends_halves(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """A 408 on an idempotent write asks for less: halves, then single items retried as is."""
    added = await client.vouchers.add(
        [voucher(hotel, f"t{i}") for i in range(5)], enterprise_id=hotel.enterprise_id
    )
    sim.inject(Fault.TIMEOUT, times=3, operation="vouchers/update")
    updated = await client.vouchers.update(
        [VoucherUpdate(voucher_id=v.id, name=f"u{i}") for i, v in enumerate(added)],
        enterprise_id=hotel.enterprise_id,
    )
    assert [v.name for v in updated] == [f"u{i}" for i in range(5)]
    # 5 -> 408; 3 and 2 -> 408 both; then 2, 1 and 1, 1 pass.
    assert sorted(ops(sim, "vouchers/update")) == sorted([5, 3, 2, 2, 1, 1, 1])
    sim.inject(Fault.TIMEOUT, times=2, operation="vouchers/delete")
    await client.vouchers.delete([added[0].id, added[1].id], enterprise_id=hotel.enterprise_id)
    # 2 -> 408; 1 -> 408 is retried at the same size (nothing left to split), then passes.
    assert sorted(ops(sim, "vouchers/delete")) == [1, 1, 1, 2]


async def test_408_on_add_follows_the_ambiguity_rule(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """A 408 on add may have applied: settled by lookup, never blindly sent in halves."""
    sim.inject(Fault.TIMEOUT, times=1, operation="vouchers/add")
    added = await client.vouchers.add(
        [voucher(hotel, f"a{i}") for i in range(4)], enterprise_id=hotel.enterprise_id
    )
    assert [v.name for v in added] == ["a0", "a1", "a2", "a3"]
    assert ops(sim, "vouchers/add") == [4, 4]  # looked up, found missing, sent again whole
    assert ops(sim, "vouchers/getAll")
    sim.reset_requests()
    sim.inject(Fault.TIMEOUT, times=1, operation="vouchers/add")
    no_ids = [
        VoucherParameters(service_id=hotel.service_id, name=f"x{i}", type=VoucherType.PUBLIC)
        for i in range(4)
    ]
    with pytest.raises(BulkOperationError) as info:
        await client.vouchers.add(no_ids, enterprise_id=hotel.enterprise_id)
    [failure] = info.value.failures
    assert failure.ambiguous is True
    assert failure.indices == [0, 1, 2, 3]
    assert ops(sim, "vouchers/add") == [4]


async def test_a_half_that_fails_after_a_408_stays_ambiguous(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """The whole chunk's 408 may have applied: a half refused afterwards is still in doubt."""
    added = await client.vouchers.add(
        [voucher(hotel, f"h{i}") for i in range(2)], enterprise_id=hotel.enterprise_id
    )
    sim.inject(Fault.TIMEOUT, times=1, operation="vouchers/update")
    sim.inject(Fault.CONFLICT, times=1, operation="vouchers/update")
    with pytest.raises(BulkOperationError) as info:
        await client.vouchers.update(
            [VoucherUpdate(voucher_id=v.id, name="x") for v in added],
            enterprise_id=hotel.enterprise_id,
        )
    [failure] = info.value.failures
    assert isinstance(failure.error, ConflictError)
    assert failure.ambiguous is True
    assert sum(r is not None for r in info.value.results) == 1


async def test_409_is_a_conflict_error_never_retried(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """A 409 (the data changed) fails its chunk at once, not ambiguous; reads raise it too."""
    added = await client.vouchers.add(
        [voucher(hotel, f"k{i}") for i in range(3)], enterprise_id=hotel.enterprise_id
    )
    sim.inject(Fault.CONFLICT, times=1, operation="vouchers/update")
    with pytest.raises(BulkOperationError) as info:
        await client.vouchers.update(
            [VoucherUpdate(voucher_id=v.id, name="x") for v in added],
            enterprise_id=hotel.enterprise_id,
        )
    [failure] = info.value.failures
    assert isinstance(failure.error, ConflictError)
    assert isinstance(failure.error, MewsApiError)
    assert (failure.error.status, failure.ambiguous, failure.indices) == (409, False, [0, 1, 2])
    assert ops(sim, "vouchers/update") == [3]
    sim.inject(Fault.CONFLICT, times=1, operation="vouchers/add")
    with pytest.raises(BulkOperationError) as add_info:
        await client.vouchers.add([voucher(hotel, "z")], enterprise_id=hotel.enterprise_id)
    assert add_info.value.failures[0].ambiguous is False
    sim.inject(Fault.CONFLICT, times=1, operation="vouchers/getAll")
    with pytest.raises(ConflictError):
        await client.vouchers.get_all(service_ids=[hotel.service_id])


async def test_a_ledger_follows_a_chunk_split_in_halves(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """The halves of a split chunk end SUCCEEDED in the ledger, with their results aligned."""
    sim.inject(Fault.TOO_LARGE, times=1, operation="vouchers/add")
    ledger: WriteLedger[Voucher] = WriteLedger()
    added = await client.vouchers.add(
        [voucher(hotel, f"s{i}") for i in range(6)],
        enterprise_id=hotel.enterprise_id,
        ledger=ledger,
    )
    assert ops(sim, "vouchers/add") == [6, 3, 3]
    assert ledger.indices(WriteState.SUCCEEDED) == list(range(6))
    assert [ledger.result(i) for i in range(6)] == added
    assert ledger.failures == []
