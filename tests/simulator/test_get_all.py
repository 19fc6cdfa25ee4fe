"""The simulator's vouchers/getAll: pagination, filters and extents, over raw HTTP."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta
from typing import Any

import pytest

from mews_vouchers._constants import (
    MAX_ITEMS_PER_REQUEST,
    MAX_PAGE_SIZE,
    VOUCHERS_DELETE,
    VOUCHERS_GET_ALL,
    VOUCHERS_UPDATE,
)
from tests.support.raw_http import ALL_EXTENTS, T0, World, paths, voucher

pytestmark = pytest.mark.anyio


# -- vouchers/getAll: pagination ------------------------------------------------------


async def test_pagination_newest_first_with_cursors(w: World) -> None:
    """Pages go newest to oldest; Cursor is the oldest id returned; the end is a short page."""
    ids = [str(i) for i in w.sim.seed_vouchers(w.a.service_id, 25)]
    pages, cursor = [], None
    while True:
        limitation = {"Count": 10} if cursor is None else {"Count": 10, "Cursor": cursor}
        answer = await w.get_all(Limitation=limitation)
        assert answer.status == 200
        page = [v["Id"] for v in answer.body["Vouchers"]]
        pages.append(page)
        assert answer.body["Cursor"] == page[-1]
        cursor = answer.body["Cursor"]
        if len(page) < 10:
            break
    assert [len(p) for p in pages] == [10, 10, 5]
    assert list(itertools.chain(*pages)) == ids[::-1]


async def test_page_after_the_oldest_is_empty_with_null_cursor(w: World) -> None:
    """A cursor at the oldest item answers an empty page whose Cursor is null."""
    ids = w.sim.seed_vouchers(w.a.service_id, 3)
    answer = await w.get_all(Limitation={"Count": 3, "Cursor": str(ids[0])})
    assert answer.body["Vouchers"] == []
    assert answer.body["Cursor"] is None


async def test_pagination_merges_services_by_creation_order(w: World) -> None:
    """Vouchers of several services come in one newest-first order of creation."""
    second_service = w.sim.add_service(w.a.enterprise_id, "Spa")
    for i in range(6):
        service = w.a.sid if i % 2 else str(second_service)
        await w.add({"ServiceId": service, "Name": f"V{i}", "Type": "Public"})
    names: list[str] = []
    cursor = None
    for _ in range(3):
        limitation = {"Count": 2} if cursor is None else {"Count": 2, "Cursor": cursor}
        answer = await w.get_all(service_ids=[w.a.sid, str(second_service)], Limitation=limitation)
        names += [v["Name"] for v in answer.body["Vouchers"]]
        cursor = answer.body["Cursor"]
    assert names == ["V5", "V4", "V3", "V2", "V1", "V0"]
    assert await w.names(service_ids=[str(second_service)]) == ["V4", "V2", "V0"]


@pytest.mark.parametrize(
    "limitation",
    [
        None,
        {},
        {"Count": 0},
        {"Count": MAX_PAGE_SIZE + 1},
        {"Count": "10"},
        {"Count": True},
        {"Count": 1.5},
    ],
)
async def test_limitation_is_checked(w: World, limitation: Any) -> None:
    """Limitation is required, with an integer Count within 1..1000."""
    answer = await w.get_all(Limitation=limitation)
    assert answer.status == 400
    assert paths(answer)[0].startswith("Limitation")


async def test_unknown_or_foreign_cursor_is_400(w: World) -> None:
    """A Cursor that is not a voucher of the queried enterprises is a 400."""
    (in_b,) = await w.add(voucher(w.b), hotel=w.b)
    for cursor in (str(uuid.uuid4()), "not-a-uuid"):
        assert (await w.get_all(Limitation={"Count": 5, "Cursor": cursor})).status == 400
    foreign = await w.get_all(
        EnterpriseIds=[w.a.eid], Limitation={"Count": 5, "Cursor": in_b["Id"]}
    )
    assert foreign.status == 400
    assert paths(foreign) == ["Limitation.Cursor"]


async def test_large_store_page_is_served(w: World) -> None:
    """A full page deep inside a large seeded store is the right slice, newest first."""
    ids = w.sim.seed_vouchers(w.a.service_id, 20_000)
    answer = await w.get_all(
        count=MAX_PAGE_SIZE, Limitation={"Count": MAX_PAGE_SIZE, "Cursor": str(ids[10_000])}
    )
    got = [uuid.UUID(v["Id"]) for v in answer.body["Vouchers"]]
    assert got == ids[9_000:10_000][::-1]


# -- vouchers/getAll: filters and extents ---------------------------------------------


async def test_get_all_filters(w: World) -> None:
    """Every filter narrows the vouchers: ids, companies, code values, external ids, states."""
    plain, partner, _, gone = await w.add(
        voucher(w.a, "plain", ExternalIdentifier="E-1"),
        voucher(w.a, "partner", Type="PartnerCompany", CompanyId=str(w.a.company_id)),
        voucher(
            w.a,
            "agency",
            Type="TravelAgency",
            CompanyId=str(w.a.agency_id),
            ExternalIdentifier="E-3",
        ),
        voucher(w.a, "gone"),
    )
    await w.add_codes(
        {"VoucherId": partner["Id"], "Value": "P"}, {"VoucherId": gone["Id"], "Value": "G"}
    )
    await w.call(VOUCHERS_DELETE, EnterpriseId=w.a.eid, VoucherIds=[gone["Id"]])
    assert await w.names() == ["gone", "agency", "partner", "plain"]
    assert await w.names(VoucherIds=[plain["Id"], gone["Id"]]) == ["gone", "plain"]
    assert await w.names(CompanyIds=[str(w.a.company_id), str(w.a.agency_id)]) == [
        "agency",
        "partner",
    ]
    assert await w.names(VoucherCodeValues=["P", "G", "nothing"]) == ["partner"]
    assert await w.names(ExternalIdentifiers=["E-3", "E-1"]) == ["agency", "plain"]
    assert await w.names(ActivityStates=["Deleted"]) == ["gone"]
    assert await w.names(ActivityStates=["Active"]) == ["agency", "partner", "plain"]
    assert await w.names(ActivityStates=["Active", "Deleted"]) == [
        "gone",
        "agency",
        "partner",
        "plain",
    ]
    assert await w.names(ExternalIdentifiers=["E-1"], ActivityStates=["Deleted"]) == []
    assert await w.names(service_ids=[w.b.sid]) == []
    assert await w.names(service_ids=[str(uuid.uuid4())]) == []


async def test_external_identifier_index_follows_updates(w: World) -> None:
    """After an update, the ExternalIdentifiers filter finds the new value, not the old."""
    (added,) = await w.add(voucher(w.a, ExternalIdentifier="OLD"))
    await w.call(
        VOUCHERS_UPDATE,
        EnterpriseId=w.a.eid,
        VoucherUpdates=[{"VoucherId": added["Id"], "ExternalIdentifier": {"Value": "NEW"}}],
    )
    assert await w.names(ExternalIdentifiers=["OLD"]) == []
    assert await w.names(ExternalIdentifiers=["NEW"]) == ["Voucher"]


async def test_updated_utc_filter_is_half_open(w: World) -> None:
    """UpdatedUtc selects [StartUtc, EndUtc); equal ends select that exact instant."""
    for hour in range(4):
        w.sim.seed_vouchers(
            w.a.service_id, 1, name_prefix=f"H{hour}-", updated_utc=T0 + timedelta(hours=hour)
        )

    def interval(start: int, end: int) -> dict[str, str]:
        return {
            "StartUtc": (T0 + timedelta(hours=start)).isoformat(),
            "EndUtc": (T0 + timedelta(hours=end)).isoformat(),
        }

    assert await w.names(UpdatedUtc=interval(1, 3)) == ["H2-0", "H1-0"]
    assert await w.names(UpdatedUtc=interval(2, 2)) == ["H2-0"]
    assert await w.names(UpdatedUtc=interval(5, 6)) == []


@pytest.mark.parametrize(
    ("interval", "status"),
    [
        ({"StartUtc": "2024-01-01T00:00:00Z"}, 400),
        ({"EndUtc": "2024-01-01T00:00:00Z"}, 400),
        ({"StartUtc": "2024-02-01T00:00:00Z", "EndUtc": "2024-01-01T00:00:00Z"}, 400),
        ({"StartUtc": "2024-01-31T00:00:00Z", "EndUtc": "2024-04-30T00:00:00Z"}, 200),
        ({"StartUtc": "2024-01-31T00:00:00Z", "EndUtc": "2024-04-30T00:00:01Z"}, 400),
        ({"StartUtc": "2024-01-01T00:00:00Z", "EndUtc": "2024-04-01T00:00:00Z"}, 200),
        ({"StartUtc": "2024-01-01T00:00:00Z", "EndUtc": "2024-04-01T00:00:00.001Z"}, 400),
        ("2024-01-01", 400),
    ],
)
async def test_updated_utc_interval_rules(w: World, interval: Any, status: int) -> None:
    """UpdatedUtc needs both ends, ordered, at most three calendar months apart."""
    answer = await w.get_all(UpdatedUtc=interval)
    assert answer.status == status, answer.body


@pytest.mark.parametrize(
    "fields",
    [
        {"ServiceIds": None},
        {"ServiceIds": []},
        {"ServiceIds": ["nope"]},
        {"VoucherIds": []},
        {"CompanyIds": [5]},
        {"VoucherCodeValues": []},
        {"ExternalIdentifiers": [None]},
        {"ActivityStates": ["active"]},
        {"ActivityStates": []},
        {"EnterpriseIds": []},
        {"Extent": None},
        {"Extent": {"Vouchers": "yes"}},
        {"VoucherIds": [str(uuid.uuid4())] * (MAX_ITEMS_PER_REQUEST + 1)},
    ],
)
async def test_get_all_validation(w: World, fields: dict[str, Any]) -> None:
    """getAll checks its required fields, list sizes, UUIDs, enums and extent flags."""
    body = {
        "ServiceIds": [w.a.sid],
        "Extent": {"Vouchers": True},
        "Limitation": {"Count": 5},
        **fields,
    }
    answer = await w.call(VOUCHERS_GET_ALL, **body)
    assert answer.status == 400, answer.body


async def test_extents_hold_what_relates_to_the_page(w: World) -> None:
    """Each extent lists the items related to the page's vouchers; one not asked for is null."""
    rate_one, rate_two = (str(r) for r in w.a.rate_ids)
    old, new = await w.add(
        voucher(
            w.a,
            "old",
            AssignedRateIds=[rate_one],
            Type="PartnerCompany",
            CompanyId=str(w.a.company_id),
        ),
        voucher(
            w.a,
            "new",
            AssignedRateIds=[rate_two, rate_one],
            Type="TravelAgency",
            CompanyId=str(w.a.agency_id),
        ),
    )
    old_code, new_code = await w.add_codes(
        {"VoucherId": old["Id"], "Value": "OLD"}, {"VoucherId": new["Id"], "Value": "NEW"}
    )
    full = await w.get_all(Extent=ALL_EXTENTS, Limitation={"Count": 1})
    assert full.body["Vouchers"] == [new]
    assert full.body["VoucherCodes"] == [new_code]
    assert full.body["VoucherAssignments"] == [
        {"VoucherId": new["Id"], "RateId": rate_two},
        {"VoucherId": new["Id"], "RateId": rate_one},
    ]
    assert [r["Id"] for r in full.body["Rates"]] == [rate_two, rate_one]
    rate = full.body["Rates"][0]
    assert (rate["ServiceId"], rate["Name"], rate["Names"], rate["Type"]) == (
        w.a.sid,
        "Flex",
        {"en-US": "Flex"},
        "Public",
    )
    assert [c["Id"] for c in full.body["Companies"]] == [str(w.a.agency_id)]
    assert full.body["Companies"][0]["Name"] == "Agency A"
    older = await w.get_all(Extent=ALL_EXTENTS, Limitation={"Count": 1, "Cursor": new["Id"]})
    assert older.body["VoucherCodes"] == [old_code]
    assert [c["Id"] for c in older.body["Companies"]] == [str(w.a.company_id)]
    nothing = await w.get_all(Extent={}, Limitation={"Count": 2})
    assert nothing.body == {
        "Vouchers": None,
        "VoucherCodes": None,
        "VoucherAssignments": None,
        "Rates": None,
        "Companies": None,
        "Cursor": old["Id"],
    }


async def test_an_extent_without_vouchers_pages_the_same_vouchers(w: World) -> None:
    """Pages cover Count vouchers whatever the extent; the Cursor is theirs, null past the end."""
    rate = str(w.a.rate_ids[0])
    await w.add(*(voucher(w.a, f"v{i}", AssignedRateIds=[rate] if i < 2 else []) for i in range(5)))

    async def cursors(extent: dict[str, bool]) -> list[tuple[str | None, int]]:
        out: list[tuple[str | None, int]] = []
        cursor = None
        while True:
            answer = await w.get_all(Extent=extent, Limitation={"Count": 2, "Cursor": cursor})
            assert answer.status == 200, answer.body
            cursor = answer.body["Cursor"]
            out.append((cursor, len(answer.body["VoucherAssignments"] or ())))
            if cursor is None:
                return out

    with_vouchers = await cursors({"Vouchers": True})
    assignments_only = await cursors({"VoucherAssignments": True})
    # Pages of 2, 2 and 1 voucher, then an empty page whose Cursor is null.
    assert [c for c, _ in assignments_only] == [c for c, _ in with_vouchers]
    assert [c is None for c, _ in assignments_only] == [False, False, False, True]
    # The newest vouchers have no assignment: their pages are empty yet carry a Cursor.
    assert [n for _, n in assignments_only] == [0, 1, 1, 0]
