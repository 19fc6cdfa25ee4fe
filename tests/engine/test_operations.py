"""Each of the seven operations end to end, over HTTP, against the simulator."""

from __future__ import annotations

import uuid
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mews_vouchers import (
    ActivityState,
    BadRequestError,
    BulkOperationError,
    MewsClient,
    TimeInterval,
    VoucherCodeParameters,
    VoucherExtent,
    VoucherParameters,
    VoucherType,
    VoucherUpdate,
)
from mews_vouchers.testing import Hotel, MewsSimulator
from tests.conftest import make_client

pytestmark = pytest.mark.anyio


def params(hotel: Hotel, n: int, prefix: str = "V", **kw: object) -> list[VoucherParameters]:
    return [
        VoucherParameters(
            service_id=hotel.service_id,
            name=f"{prefix}{i}",
            type=VoucherType.PUBLIC,
            external_identifier=f"{prefix}-ext-{i}",
            **kw,  # type: ignore[arg-type]
        )
        for i in range(n)
    ]


async def test_add_returns_one_voucher_per_item_in_order(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """vouchers.add answers a Voucher per input item, in input order, as the server stored it."""
    start = datetime(2030, 1, 1, tzinfo=UTC)
    items = [
        VoucherParameters(
            service_id=str(hotel.service_id),
            name="Partner deal",
            type="PartnerCompany",
            company_id=hotel.company_id,
            assigned_rate_ids=list(hotel.rate_ids),
            occupiable_interval_start_utc=start,
            occupiable_interval_end_utc=start + timedelta(days=2),
            external_identifier="P-1",
        ),
        *params(hotel, 3),
    ]
    vouchers = await client.vouchers.add(items, enterprise_id=hotel.enterprise_id)
    assert [v.name for v in vouchers] == ["Partner deal", "V0", "V1", "V2"]
    first = vouchers[0]
    assert first.type is VoucherType.PARTNER_COMPANY
    assert first.company_id == hotel.company_id
    assert first.enterprise_id == hotel.enterprise_id
    assert first.occupiable_interval_start_utc == start
    assert first.is_active and first.activity_state is ActivityState.ACTIVE
    stored = {v["Id"]: v for v in sim.vouchers()}
    assert set(stored) == {str(v.id) for v in vouchers}
    assigned = {(a["VoucherId"], a["RateId"]) for a in sim.assignments()}
    assert assigned == {(str(first.id), str(r)) for r in hotel.rate_ids}


async def test_update_sets_clears_and_leaves_fields(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """UNSET leaves a field, a value sets it, None clears it."""
    [voucher] = await client.vouchers.add(
        params(hotel, 1, assigned_rate_ids=[hotel.rate_ids[0]]), enterprise_id=hotel.enterprise_id
    )
    [updated] = await client.vouchers.update(
        [
            VoucherUpdate(
                voucher_id=voucher.id,
                name="Renamed",
                external_identifier=None,
                assigned_rate_ids=[hotel.rate_ids[1]],
            )
        ],
        enterprise_id=hotel.enterprise_id,
    )
    assert updated.name == "Renamed"
    assert updated.external_identifier is None
    assert updated.type is VoucherType.PUBLIC  # not updated
    assert {a["RateId"] for a in sim.assignments()} == {str(hotel.rate_ids[1])}


@pytest.mark.parametrize("cleared", [None, []])
async def test_update_clears_assigned_rates(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel, cleared: list[Any] | None
) -> None:
    """assigned_rate_ids None or [] removes every rate (never sent as the no-op null)."""
    vouchers = await client.vouchers.add(
        params(hotel, 2, assigned_rate_ids=hotel.rate_ids), enterprise_id=hotel.enterprise_id
    )
    await client.vouchers.update(
        [
            VoucherUpdate(voucher_id=vouchers[0].id, assigned_rate_ids=cleared),
            VoucherUpdate(voucher_id=vouchers[1].id, name="Rates kept"),
        ],
        enterprise_id=hotel.enterprise_id,
    )
    assert {a["VoucherId"] for a in sim.assignments()} == {str(vouchers[1].id)}
    assert len(sim.assignments()) == 2
    [sent] = [r.body for r in sim.requests if r.operation == "vouchers/update"]
    assert sent is not None
    assert [u["AssignedRateIds"] for u in sent["VoucherUpdates"]] == [{"Value": []}, None]


async def test_delete_marks_vouchers_deleted(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """vouchers.delete deactivates; getAll then shows them as deleted."""
    vouchers = await client.vouchers.add(params(hotel, 3), enterprise_id=hotel.enterprise_id)
    assert (
        await client.vouchers.delete(
            [str(vouchers[0].id), vouchers[1].id], enterprise_id=hotel.enterprise_id
        )
        is None
    )
    result = await client.vouchers.get_all(service_ids=[hotel.service_id])
    states = {v.id: v.is_active for v in result.vouchers}
    assert states == {vouchers[0].id: False, vouchers[1].id: False, vouchers[2].id: True}
    active = await client.vouchers.get_all(
        service_ids=[hotel.service_id], activity_states=["Active"]
    )
    assert [v.id for v in active.vouchers] == [vouchers[2].id]


async def test_get_all_filters_and_extents(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """Every getAll filter and extent reaches the server and narrows the answer."""
    vouchers = await client.vouchers.add(
        [
            VoucherParameters(
                service_id=hotel.service_id,
                name="Company voucher",
                type=VoucherType.PARTNER_COMPANY,
                company_id=hotel.company_id,
                assigned_rate_ids=hotel.rate_ids,
                external_identifier="C-1",
            ),
            *params(hotel, 4),
        ],
        enterprise_id=hotel.enterprise_id,
    )
    await client.voucher_codes.add(
        [VoucherCodeParameters(voucher_id=vouchers[0].id, value="SUMMER-24")],
        enterprise_id=hotel.enterprise_id,
    )
    with pytest.deprecated_call():
        full = VoucherExtent(
            vouchers=True, voucher_assignments=True, rates=True, voucher_codes=True, companies=True
        )
    by_company = await client.vouchers.get_all(
        service_ids=[hotel.service_id], company_ids=[hotel.company_id], extent=full
    )
    assert [v.id for v in by_company.vouchers] == [vouchers[0].id]
    assert {a.rate_id for a in by_company.voucher_assignments} == set(hotel.rate_ids)
    assert {r.id for r in by_company.rates} == set(hotel.rate_ids)
    assert [c.id for c in by_company.companies] == [hotel.company_id]
    assert [c.value for c in by_company.voucher_codes] == ["SUMMER-24"]
    by_code = await client.vouchers.get_all(
        service_ids=[hotel.service_id], voucher_code_values=["SUMMER-24"]
    )
    assert [v.id for v in by_code.vouchers] == [vouchers[0].id]
    by_ext = await client.vouchers.get_all(
        service_ids=[hotel.service_id], external_identifiers=["V-ext-1", "V-ext-3"]
    )
    assert sorted(v.name for v in by_ext.vouchers) == ["V1", "V3"]
    by_id = await client.vouchers.get_all(
        service_ids=[hotel.service_id], voucher_ids=[vouchers[2].id]
    )
    assert [v.id for v in by_id.vouchers] == [vouchers[2].id]
    now = datetime.now(UTC)
    recent = await client.vouchers.get_all(
        service_ids=[hotel.service_id],
        updated_utc=TimeInterval(
            start_utc=now - timedelta(hours=1), end_utc=now + timedelta(hours=1)
        ),
    )
    assert len(recent.vouchers) == 5
    old = await client.vouchers.get_all(
        service_ids=[hotel.service_id],
        updated_utc=TimeInterval(
            start_utc=now - timedelta(days=30), end_utc=now - timedelta(days=29)
        ),
    )
    assert old.vouchers == []
    plain = await client.vouchers.get_all(service_ids=[hotel.service_id])
    assert plain.voucher_assignments == [] and plain.rates == [] and plain.companies == []


@pytest.mark.parametrize(
    ("flag", "advice"),
    [("voucher_codes", "client.voucher_codes.get_all"), ("companies", "companies/getAll")],
)
async def test_deprecated_extents_warn_at_the_caller_and_still_work(
    client: MewsClient, hotel: Hotel, flag: str, advice: str
) -> None:
    """voucher_codes / companies extents warn DeprecationWarning at the caller's line."""
    with pytest.warns(DeprecationWarning, match=advice) as caught:
        extent = VoucherExtent(**{flag: True})
    [warning] = caught
    assert warning.filename == __file__
    result = await client.vouchers.get_all(service_ids=[hotel.service_id], extent=extent)
    assert result.vouchers == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        VoucherExtent(vouchers=True, voucher_assignments=True, rates=True)  # no warning


async def test_empty_filter_list_matches_nothing_without_a_request(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """An empty filter list means 'none of these', so no request is needed."""
    sim.reset_requests()
    result = await client.vouchers.get_all(service_ids=[hotel.service_id], voucher_ids=[])
    assert result.vouchers == []
    assert await client.voucher_codes.get_all(voucher_ids=[]) == []
    assert sim.requests == []


async def test_empty_writes_send_nothing(client: MewsClient, sim: MewsSimulator) -> None:
    """Empty input: no request, [] (None for delete)."""
    sim.reset_requests()
    assert await client.vouchers.add([]) == []
    assert await client.vouchers.update(iter([])) == []
    assert await client.vouchers.delete([]) is None
    assert await client.voucher_codes.add([]) == []
    assert await client.voucher_codes.delete([]) is None
    assert sim.requests == []


async def test_voucher_codes_add_get_all_delete(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """voucherCodes add / getAll / delete, with the voucher and code filters."""
    vouchers = await client.vouchers.add(params(hotel, 2), enterprise_id=hotel.enterprise_id)
    codes = await client.voucher_codes.add(
        [
            VoucherCodeParameters(voucher_id=vouchers[0].id, value="A-1"),
            VoucherCodeParameters(
                voucher_id=vouchers[0].id,
                value="A-2",
                validity_start_utc=datetime(2030, 1, 1, tzinfo=UTC),
                validity_end_utc=datetime(2030, 2, 1, tzinfo=UTC),
            ),
            VoucherCodeParameters(voucher_id=vouchers[1].id, value="B-1"),
        ],
        enterprise_id=hotel.enterprise_id,
    )
    assert [c.value for c in codes] == ["A-1", "A-2", "B-1"]
    assert codes[1].validity_end_utc == datetime(2030, 2, 1, tzinfo=UTC)
    listed = await client.voucher_codes.get_all(voucher_ids=[vouchers[0].id])
    assert sorted(c.value or "" for c in listed) == ["A-1", "A-2"]
    only = await client.voucher_codes.get_all(
        voucher_ids=[v.id for v in vouchers], voucher_code_ids=[codes[2].id]
    )
    assert [c.id for c in only] == [codes[2].id]
    await client.voucher_codes.delete([codes[0].id], enterprise_id=hotel.enterprise_id)
    after = {
        c.id: c.is_active async for c in client.voucher_codes.iter_all(voucher_ids=[vouchers[0].id])
    }
    assert after == {codes[0].id: False, codes[1].id: True}
    assert len(sim.voucher_codes()) == 3


async def test_voucher_codes_get_all_keeps_a_re_added_code(
    client: MewsClient, hotel: Hotel
) -> None:
    """A code deleted and added again with its value is two codes, in get_all as in iter_all."""
    [voucher] = await client.vouchers.add(params(hotel, 1), enterprise_id=hotel.enterprise_id)
    code = VoucherCodeParameters(voucher_id=voucher.id, value="AGAIN")
    [first] = await client.voucher_codes.add([code], enterprise_id=hotel.enterprise_id)
    await client.voucher_codes.delete([first.id], enterprise_id=hotel.enterprise_id)
    [second] = await client.voucher_codes.add([code], enterprise_id=hotel.enterprise_id)
    codes = await client.voucher_codes.get_all(voucher_ids=[voucher.id])
    streamed = [c async for c in client.voucher_codes.iter_all(voucher_ids=[voucher.id])]
    assert {c.id for c in codes} == {c.id for c in streamed} == {first.id, second.id}
    assert {c.id: c.is_active for c in codes} == {first.id: False, second.id: True}


async def test_portfolio_token_needs_enterprise_id_for_writes(
    client: MewsClient, hotel: Hotel
) -> None:
    """With a portfolio token, a write without enterprise_id is refused by the server (400)."""
    with pytest.raises(BulkOperationError) as info:
        await client.vouchers.add(params(hotel, 1))
    [failure] = info.value.failures
    assert isinstance(failure.error, BadRequestError)
    assert failure.ambiguous is False
    assert "EnterpriseId" in failure.error.message


async def test_single_enterprise_token_ignores_enterprise_id(sim: MewsSimulator) -> None:
    """A single-enterprise token writes to its enterprise and reads only its own vouchers."""
    mine, other = sim.add_hotel("Mine"), sim.add_hotel("Other")
    token = sim.add_access_token([mine.enterprise_id])
    async with make_client(sim, access_token=token) as scoped, make_client(sim) as portfolio:
        added = await scoped.vouchers.add(params(mine, 2))
        assert {v.enterprise_id for v in added} == {mine.enterprise_id}
        await portfolio.vouchers.add(params(other, 3), enterprise_id=other.enterprise_id)
        seen = await scoped.vouchers.get_all(service_ids=[mine.service_id, other.service_id])
        assert {v.id for v in seen.vouchers} == {v.id for v in added}
        everything = await portfolio.vouchers.get_all(
            service_ids=[mine.service_id, other.service_id]
        )
        assert len(everything.vouchers) == 5


async def test_ids_accepted_as_strings_everywhere(client: MewsClient, hotel: Hotel) -> None:
    """UUID strings work wherever a UUID does; models hold UUIDs."""
    [voucher] = await client.vouchers.add(params(hotel, 1), enterprise_id=str(hotel.enterprise_id))
    result = await client.vouchers.get_all(
        service_ids=[str(hotel.service_id)],
        enterprise_ids=[str(hotel.enterprise_id)],
        voucher_ids=[str(voucher.id)],
    )
    assert isinstance(result.vouchers[0].id, uuid.UUID)
    assert result.vouchers[0].id == voucher.id
