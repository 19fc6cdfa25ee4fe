"""vouchers.find_by_external_identifiers: the lookup by key, through the public API."""

from __future__ import annotations

import uuid

import pytest

from mews_vouchers import MewsClient, MewsValidationError, VoucherParameters, VoucherType
from mews_vouchers._constants import MAX_ITEMS_PER_REQUEST
from mews_vouchers.testing import Hotel, MewsSimulator

pytestmark = pytest.mark.anyio


def voucher(service_id: uuid.UUID, ext: str, name: str = "V") -> VoucherParameters:
    return VoucherParameters(
        service_id=service_id, name=name, type=VoucherType.PUBLIC, external_identifier=ext
    )


async def test_finds_active_vouchers_by_service_and_identifier(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """Found vouchers are keyed (service_id, identifier); deleted and unknown ones are absent."""
    a, b, gone = await client.vouchers.add(
        [voucher(hotel.service_id, ext) for ext in ("a", "b", "gone")],
        enterprise_id=hotel.enterprise_id,
    )
    await client.vouchers.delete([gone.id], enterprise_id=hotel.enterprise_id)
    sim.reset_requests()
    found = await client.vouchers.find_by_external_identifiers(
        ["a", "b", "gone", "never"],
        service_ids=[hotel.service_id],
        enterprise_id=hotel.enterprise_id,
    )
    assert found == {(hotel.service_id, "a"): a, (hotel.service_id, "b"): b}
    assert [r.operation for r in sim.requests] == ["vouchers/getAll"]  # one query, one page


async def test_only_the_services_given_count(client: MewsClient, sim: MewsSimulator) -> None:
    """An identifier held in another service is not found unless that service is named."""
    hotel = sim.add_hotel()
    spa = sim.add_service(hotel.enterprise_id, name="Spa")
    [in_hotel] = await client.vouchers.add(
        [voucher(hotel.service_id, "x")], enterprise_id=hotel.enterprise_id
    )
    [in_spa] = await client.vouchers.add([voucher(spa, "x")], enterprise_id=hotel.enterprise_id)
    only = await client.vouchers.find_by_external_identifiers(["x"], service_ids=[spa])
    both = await client.vouchers.find_by_external_identifiers(
        ["x"], service_ids=[str(hotel.service_id), str(spa)]
    )
    assert only == {(spa, "x"): in_spa}
    assert both == {(hotel.service_id, "x"): in_hotel, (spa, "x"): in_spa}


async def test_the_newest_voucher_of_a_key_wins(client: MewsClient, hotel: Hotel) -> None:
    """Two active vouchers with one key (two separate adds): the newer one is found."""
    [older] = await client.vouchers.add(
        [voucher(hotel.service_id, "twice", "old")], enterprise_id=hotel.enterprise_id
    )
    [newer] = await client.vouchers.add(
        [voucher(hotel.service_id, "twice", "new")], enterprise_id=hotel.enterprise_id
    )
    found = await client.vouchers.find_by_external_identifiers(
        ["twice"], service_ids=[hotel.service_id]
    )
    assert older.id != newer.id
    assert found == {(hotel.service_id, "twice"): newer}


async def test_any_number_of_identifiers_is_read_in_queries_of_at_most_1000(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """2,500 identifiers: three getAll queries, none with more than 1000 identifiers."""
    sim.seed_vouchers(hotel.service_id, 2_400, external_identifier_prefix="k-")
    wanted = [f"k-{n}" for n in range(2_500)]  # the last 100 do not exist
    sim.reset_requests()
    found = await client.vouchers.find_by_external_identifiers(
        wanted, service_ids=[hotel.service_id]
    )
    assert set(found) == {(hotel.service_id, f"k-{n}") for n in range(2_400)}
    asked = [r.body["ExternalIdentifiers"] for r in sim.requests if r.body is not None]
    assert sorted(len(ids) for ids in {tuple(ids) for ids in asked}) == [500, 1000, 1000]
    assert all(len(ids) <= MAX_ITEMS_PER_REQUEST for ids in asked)
    assert all(r.body and r.body["ActivityStates"] == ["Active"] for r in sim.requests)


async def test_no_identifiers_sends_nothing(client: MewsClient, sim: MewsSimulator) -> None:
    """An empty list of identifiers finds nothing without a request."""
    hotel = sim.add_hotel()
    assert (
        await client.vouchers.find_by_external_identifiers([], service_ids=[hotel.service_id]) == {}
    )
    assert sim.requests == []


@pytest.mark.parametrize(
    ("arguments", "path"),
    [
        ({"external_identifiers": "one", "service_ids": [uuid.uuid4()]}, "external_identifiers"),
        (
            {"external_identifiers": ["ok", 7], "service_ids": [uuid.uuid4()]},
            "external_identifiers[1]",
        ),
        ({"external_identifiers": ["ok"], "service_ids": []}, "service_ids"),
        ({"external_identifiers": ["ok"], "service_ids": ["nope"]}, "service_ids[0]"),
        (
            {"external_identifiers": ["ok"], "service_ids": [uuid.uuid4()], "enterprise_id": "x"},
            "enterprise_id",
        ),
    ],
)
async def test_arguments_are_checked_like_get_all_filters(
    client: MewsClient, sim: MewsSimulator, arguments: dict[str, object], path: str
) -> None:
    """Bad arguments are one MewsValidationError naming the argument, before any request."""
    identifiers = arguments.pop("external_identifiers")
    with pytest.raises(MewsValidationError) as info:
        await client.vouchers.find_by_external_identifiers(identifiers, **arguments)  # type: ignore[arg-type]
    assert [p for p, _ in info.value.errors] == [path]
    assert sim.requests == []
