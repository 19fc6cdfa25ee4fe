"""The simulator's vouchers/add, update and delete, over raw HTTP (no SDK)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from mews_vouchers._constants import (
    MAX_ASSIGNED_RATE_IDS,
    MAX_EXTERNAL_IDENTIFIER_LENGTH,
    MAX_ITEMS_PER_REQUEST,
    MAX_NAME_LENGTH,
    VOUCHERS_ADD,
    VOUCHERS_DELETE,
    VOUCHERS_UPDATE,
)
from tests.support.raw_http import T0, T0_TEXT, VOUCHER_KEYS, World, paths, voucher

pytestmark = pytest.mark.anyio


# -- vouchers/add -----------------------------------------------------------------


async def test_add_answers_each_voucher_in_input_order(w: World) -> None:
    """vouchers/add answers one full voucher per parameter, in input order."""
    added = await w.add(
        voucher(w.a, "First", ExternalIdentifier="EXT-1"),
        voucher(w.a, "Second", Type="PartnerCompany", CompanyId=str(w.a.company_id)),
        voucher(w.a, "Third", Type="TravelAgency", CompanyId=str(w.a.agency_id)),
    )
    assert [v["Name"] for v in added] == ["First", "Second", "Third"]
    first, second, third = added
    assert set(first) == VOUCHER_KEYS
    assert uuid.UUID(first["Id"]).version == 4
    assert first["EnterpriseId"] == w.a.eid
    assert first["ServiceId"] == w.a.sid
    assert first["CreatedUtc"] == first["UpdatedUtc"] == T0_TEXT
    assert (first["ActivityState"], first["IsActive"]) == ("Active", True)
    assert first["ExternalIdentifier"] == "EXT-1"
    assert (second["CompanyId"], second["TravelAgencyId"]) == (str(w.a.company_id), None)
    assert third["CompanyId"] == third["TravelAgencyId"] == str(w.a.agency_id)
    assert w.sim.vouchers() == added


async def test_add_stores_assigned_rates(w: World) -> None:
    """AssignedRateIds become voucher-rate assignments."""
    (added,) = await w.add(voucher(w.a, AssignedRateIds=[str(r) for r in w.a.rate_ids]))
    assert w.sim.assignments() == [
        {"VoucherId": added["Id"], "RateId": str(rate_id)} for rate_id in w.a.rate_ids
    ]


async def test_datetimes_accept_offsets_and_seven_fraction_digits(w: World) -> None:
    """Offsets and 7 fractional digits are read; datetimes are written in whole seconds with Z."""
    (added,) = await w.add(
        voucher(
            w.a,
            OccupiableIntervalStartUtc="2024-06-01T02:00:00.1234567+02:00",
            OccupiableIntervalEndUtc="2024-06-02T00:00:00Z",
        )
    )
    assert added["OccupiableIntervalStartUtc"] == "2024-06-01T00:00:00Z"
    assert added["OccupiableIntervalEndUtc"] == "2024-06-02T00:00:00Z"


OK = 200
INVALID_ADDS: list[tuple[str, dict[str, Any], int, str]] = [
    ("empty name", {"Name": ""}, 400, "Name"),
    ("long name", {"Name": "n" * (MAX_NAME_LENGTH + 1)}, 400, "Name"),
    ("longest name", {"Name": "n" * MAX_NAME_LENGTH}, OK, ""),
    ("missing name", {"Name": None}, 400, "Name"),
    ("name not a string", {"Name": 5}, 400, "Name"),
    ("type in lower case", {"Type": "public"}, 400, "Type"),
    ("missing type", {"Type": None}, 400, "Type"),
    ("malformed service id", {"ServiceId": "not-a-uuid"}, 400, "ServiceId"),
    ("unknown service", {"ServiceId": str(uuid.uuid4())}, 400, "ServiceId"),
    ("malformed company id", {"CompanyId": "123"}, 400, "CompanyId"),
    ("unknown company", {"CompanyId": str(uuid.uuid4())}, 400, "CompanyId"),
    (
        "long external id",
        {"ExternalIdentifier": "x" * (MAX_EXTERNAL_IDENTIFIER_LENGTH + 1)},
        400,
        "ExternalIdentifier",
    ),
    ("longest external id", {"ExternalIdentifier": "x" * MAX_EXTERNAL_IDENTIFIER_LENGTH}, OK, ""),
    (
        "naive datetime",
        {"OccupiableIntervalStartUtc": "2024-06-01T00:00:00"},
        400,
        "OccupiableIntervalStartUtc",
    ),
    ("date only", {"OccupiableIntervalEndUtc": "2024-06-01"}, 400, "OccupiableIntervalEndUtc"),
    (
        "impossible date",
        {"OccupiableIntervalEndUtc": "2024-02-30T00:00:00Z"},
        400,
        "OccupiableIntervalEndUtc",
    ),
    (
        "too many rates",
        {"AssignedRateIds": [str(uuid.uuid4()) for _ in range(MAX_ASSIGNED_RATE_IDS + 1)]},
        400,
        "AssignedRateIds",
    ),
    ("no rates", {"AssignedRateIds": []}, OK, ""),
    ("rate ids not a list", {"AssignedRateIds": "abc"}, 400, "AssignedRateIds"),
    ("partner without company", {"Type": "PartnerCompany"}, 403, "CompanyId"),
    ("agency without company", {"Type": "TravelAgency"}, 403, "CompanyId"),
    (
        "interval end before start",
        {
            "OccupiableIntervalStartUtc": "2024-06-02T00:00:00Z",
            "OccupiableIntervalEndUtc": "2024-06-01T00:00:00Z",
        },
        403,
        "OccupiableIntervalEndUtc",
    ),
    (
        "equal interval ends",
        {
            "OccupiableIntervalStartUtc": "2024-06-02T00:00:00Z",
            "OccupiableIntervalEndUtc": "2024-06-02T00:00:00Z",
        },
        OK,
        "",
    ),
]


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [pytest.param(change, status, field, id=name) for name, change, status, field in INVALID_ADDS],
)
async def test_add_validation(w: World, change: dict[str, Any], status: int, field: str) -> None:
    """Each documented rule of a voucher parameter answers its status, naming the field."""
    params = {k: v for k, v in {**voucher(w.a), **change}.items() if v is not None}
    answer = await w.call(
        VOUCHERS_ADD, EnterpriseId=w.a.eid, VoucherParameters=[voucher(w.a), params]
    )
    assert answer.status == status, answer.body
    if status != OK:
        assert paths(answer) == [f"VoucherParameters[1].{field}"]
        assert answer.body["Message"].startswith(f"VoucherParameters[1].{field}: ")
        assert w.sim.vouchers() == []


async def test_add_rate_rules(w: World) -> None:
    """Assigned rates must be unique rates of the voucher's own service."""
    own, other = str(w.a.rate_ids[0]), str(w.b.rate_ids[0])
    duplicate = await w.call(
        VOUCHERS_ADD,
        EnterpriseId=w.a.eid,
        VoucherParameters=[voucher(w.a, AssignedRateIds=[own, own])],
    )
    foreign = await w.call(
        VOUCHERS_ADD,
        EnterpriseId=w.a.eid,
        VoucherParameters=[voucher(w.a, AssignedRateIds=[own, other])],
    )
    assert duplicate.status == foreign.status == 400
    assert paths(duplicate) == ["VoucherParameters[0].AssignedRateIds"]
    assert paths(foreign) == ["VoucherParameters[0].AssignedRateIds[1]"]


async def test_company_rules(w: World) -> None:
    """A company of another enterprise, or a TravelAgency voucher without an agency, is a 403."""
    other = voucher(w.a, Type="PartnerCompany", CompanyId=str(w.b.company_id))
    no_agency = voucher(w.a, Type="TravelAgency", CompanyId=str(w.a.company_id))
    for params in (other, no_agency):
        answer = await w.call(VOUCHERS_ADD, EnterpriseId=w.a.eid, VoucherParameters=[params])
        assert answer.status == 403
        assert paths(answer) == ["VoucherParameters[0].CompanyId"]


async def test_add_list_limits(w: World) -> None:
    """VoucherParameters takes 1..MAX_ITEMS_PER_REQUEST items and is required."""
    empty = await w.call(VOUCHERS_ADD, EnterpriseId=w.a.eid, VoucherParameters=[])
    missing = await w.call(VOUCHERS_ADD, EnterpriseId=w.a.eid)
    too_many = await w.call(
        VOUCHERS_ADD,
        EnterpriseId=w.a.eid,
        VoucherParameters=[voucher(w.a)] * (MAX_ITEMS_PER_REQUEST + 1),
    )
    assert (empty.status, missing.status, too_many.status) == (400, 400, 400)
    full = await w.add(*[voucher(w.a, f"V{i}") for i in range(MAX_ITEMS_PER_REQUEST)])
    assert len(full) == MAX_ITEMS_PER_REQUEST


async def test_add_is_all_or_nothing_and_lists_every_problem(w: World) -> None:
    """One bad item fails the whole request; Details lists every problem found."""
    answer = await w.call(
        VOUCHERS_ADD,
        EnterpriseId=w.a.eid,
        VoucherParameters=[voucher(w.a), voucher(w.a, Name=""), voucher(w.a, Type="Nope"), 7],
    )
    assert answer.status == 400
    assert paths(answer) == [
        "VoucherParameters[1].Name",
        "VoucherParameters[2].Type",
        "VoucherParameters[3]",
    ]
    assert "and 2 more problems" in answer.body["Message"]
    assert w.sim.vouchers() == []


# -- vouchers/update ----------------------------------------------------------------


async def test_update_sets_clears_and_keeps(w: World) -> None:
    """An update value sets, {"Value": null} clears, absent or null keeps; UpdatedUtc moves."""
    (added,) = await w.add(
        voucher(
            w.a, "Old", ExternalIdentifier="EXT", OccupiableIntervalStartUtc="2024-06-01T00:00:00Z"
        )
    )
    w.clocks.wall = T0 + timedelta(hours=1)
    answer = await w.call(
        VOUCHERS_UPDATE,
        EnterpriseId=w.a.eid,
        VoucherUpdates=[
            {
                "VoucherId": added["Id"],
                "Name": {"Value": "New"},
                "ExternalIdentifier": {"Value": None},
                "OccupiableIntervalStartUtc": None,
                "Type": {"Value": "PartnerCompany"},
                "CompanyId": {"Value": str(w.a.company_id)},
            }
        ],
    )
    assert answer.status == 200, answer.body
    (updated,) = answer.body["Vouchers"]
    assert updated["Name"] == "New"
    assert updated["ExternalIdentifier"] is None
    assert updated["OccupiableIntervalStartUtc"] == "2024-06-01T00:00:00Z"
    assert (updated["Type"], updated["CompanyId"]) == ("PartnerCompany", str(w.a.company_id))
    assert updated["CreatedUtc"] == T0_TEXT
    assert updated["UpdatedUtc"] == "2024-05-01T13:00:00Z"
    assert w.sim.vouchers() == [updated]


async def test_update_answers_in_input_order(w: World) -> None:
    """vouchers/update answers the updated vouchers in input order."""
    first, second = await w.add(voucher(w.a, "1"), voucher(w.a, "2"))
    answer = await w.call(
        VOUCHERS_UPDATE,
        EnterpriseId=w.a.eid,
        VoucherUpdates=[
            {"VoucherId": second["Id"]},
            {"VoucherId": first["Id"], "Name": {"Value": "one"}},
        ],
    )
    assert [v["Name"] for v in answer.body["Vouchers"]] == ["2", "one"]


async def test_update_replaces_assigned_rates(w: World) -> None:
    """AssignedRateIds {"Value": [...]} replaces the set, [] clears it, null leaves it (docs)."""
    (added,) = await w.add(voucher(w.a, AssignedRateIds=[str(w.a.rate_ids[0])]))

    async def assign(value: Any) -> list[str]:
        update = {"VoucherId": added["Id"], "AssignedRateIds": {"Value": value}}
        answer = await w.call(VOUCHERS_UPDATE, EnterpriseId=w.a.eid, VoucherUpdates=[update])
        assert answer.status == 200, answer.body
        return [a["RateId"] for a in w.sim.assignments()]

    assert await assign([str(w.a.rate_ids[1])]) == [str(w.a.rate_ids[1])]
    assert await assign([]) == []
    assert await assign([str(r) for r in w.a.rate_ids]) == [str(r) for r in w.a.rate_ids]
    assert await assign(None) == [str(r) for r in w.a.rate_ids]


INVALID_UPDATES: list[tuple[str, dict[str, Any], int, str]] = [
    ("name cleared", {"Name": {"Value": None}}, 400, "Name.Value"),
    ("type cleared", {"Type": {"Value": None}}, 400, "Type.Value"),
    ("name not wrapped", {"Name": "New"}, 400, "Name"),
    ("empty wrapper", {"Name": {}}, 400, "Name"),
    ("long name", {"Name": {"Value": "n" * (MAX_NAME_LENGTH + 1)}}, 400, "Name.Value"),
    ("bad type", {"Type": {"Value": "Private"}}, 400, "Type.Value"),
    (
        "long external id",
        {"ExternalIdentifier": {"Value": "x" * (MAX_EXTERNAL_IDENTIFIER_LENGTH + 1)}},
        400,
        "ExternalIdentifier.Value",
    ),
    ("unknown company", {"CompanyId": {"Value": str(uuid.uuid4())}}, 400, "CompanyId.Value"),
    (
        "foreign rate",
        {"AssignedRateIds": {"Value": [str(uuid.uuid4())]}},
        400,
        "AssignedRateIds.Value[0]",
    ),
    (
        "too many rates",
        {
            "AssignedRateIds": {
                "Value": [str(uuid.uuid4()) for _ in range(MAX_ASSIGNED_RATE_IDS + 1)]
            }
        },
        400,
        "AssignedRateIds.Value",
    ),
    ("partner without company", {"Type": {"Value": "PartnerCompany"}}, 403, "CompanyId"),
    (
        "end before start",
        {"OccupiableIntervalEndUtc": {"Value": "2000-01-01T00:00:00Z"}},
        403,
        "OccupiableIntervalEndUtc",
    ),
]


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        pytest.param(change, status, field, id=name)
        for name, change, status, field in INVALID_UPDATES
    ],
)
async def test_update_validation(w: World, change: dict[str, Any], status: int, field: str) -> None:
    """Each rule of an update answers its status, naming the field; nothing is applied."""
    added = await w.add(
        voucher(w.a, "good"), voucher(w.a, OccupiableIntervalStartUtc="2024-06-01T00:00:00Z")
    )
    answer = await w.call(
        VOUCHERS_UPDATE,
        EnterpriseId=w.a.eid,
        VoucherUpdates=[
            {"VoucherId": added[0]["Id"], "Name": {"Value": "Changed"}},
            {"VoucherId": added[1]["Id"], **change},
        ],
    )
    assert answer.status == status, answer.body
    assert paths(answer) == [f"VoucherUpdates[1].{field}"]
    assert w.sim.vouchers() == added


async def test_update_keeps_company_rule_on_the_result(w: World) -> None:
    """Clearing the company of a PartnerCompany voucher is a 403; so is updating a deleted one."""
    (partner,) = await w.add(voucher(w.a, Type="PartnerCompany", CompanyId=str(w.a.company_id)))
    cleared = await w.call(
        VOUCHERS_UPDATE,
        EnterpriseId=w.a.eid,
        VoucherUpdates=[{"VoucherId": partner["Id"], "CompanyId": {"Value": None}}],
    )
    assert cleared.status == 403
    await w.call(VOUCHERS_DELETE, EnterpriseId=w.a.eid, VoucherIds=[partner["Id"]])
    deleted = await w.call(
        VOUCHERS_UPDATE, EnterpriseId=w.a.eid, VoucherUpdates=[{"VoucherId": partner["Id"]}]
    )
    assert deleted.status == 403
    assert paths(deleted) == ["VoucherUpdates[0].VoucherId"]


async def test_update_unknown_or_repeated_voucher_is_400(w: World) -> None:
    """An unknown VoucherId, or one voucher twice in a request, is a 400."""
    (added,) = await w.add(voucher(w.a))
    unknown = await w.call(
        VOUCHERS_UPDATE, EnterpriseId=w.a.eid, VoucherUpdates=[{"VoucherId": str(uuid.uuid4())}]
    )
    twice = await w.call(
        VOUCHERS_UPDATE,
        EnterpriseId=w.a.eid,
        VoucherUpdates=[{"VoucherId": added["Id"]}, {"VoucherId": added["Id"]}],
    )
    assert (unknown.status, twice.status) == (400, 400)
    assert paths(twice) == ["VoucherUpdates[1].VoucherId"]


# -- vouchers/delete ----------------------------------------------------------------


async def test_delete_deactivates_voucher_and_codes_idempotently(w: World) -> None:
    """Delete marks the voucher Deleted with its codes; deleting again is a no-op success."""
    (added,) = await w.add(voucher(w.a))
    await w.add_codes({"VoucherId": added["Id"], "Value": "CODE"})
    w.clocks.wall = T0 + timedelta(minutes=5)
    answer = await w.call(VOUCHERS_DELETE, EnterpriseId=w.a.eid, VoucherIds=[added["Id"]])
    assert (answer.status, answer.body) == (200, {})
    (deleted,) = w.sim.vouchers()
    assert (deleted["ActivityState"], deleted["IsActive"]) == ("Deleted", False)
    assert deleted["UpdatedUtc"] == "2024-05-01T12:05:00Z"
    assert [c["IsActive"] for c in w.sim.voucher_codes()] == [False]
    w.clocks.wall = T0 + timedelta(minutes=10)
    again = await w.call(VOUCHERS_DELETE, EnterpriseId=w.a.eid, VoucherIds=[added["Id"]])
    assert again.status == 200
    assert w.sim.vouchers() == [deleted]
    assert w.sim.vouchers(include_deleted=False) == []


async def test_delete_unknown_voucher_is_400_and_applies_nothing(w: World) -> None:
    """An unknown id fails the whole delete."""
    (added,) = await w.add(voucher(w.a))
    answer = await w.call(
        VOUCHERS_DELETE, EnterpriseId=w.a.eid, VoucherIds=[added["Id"], str(uuid.uuid4())]
    )
    assert answer.status == 400
    assert paths(answer) == ["VoucherIds[1]"]
    assert w.sim.vouchers()[0]["IsActive"] is True
    assert (await w.call(VOUCHERS_DELETE, EnterpriseId=w.a.eid, VoucherIds=[])).status == 400
