"""The simulator's voucherCodes operations, over raw HTTP (no SDK)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from mews_vouchers._constants import (
    MAX_VOUCHER_CODE_VALUE_LENGTH,
    VOUCHER_CODES_ADD,
    VOUCHER_CODES_DELETE,
    VOUCHER_CODES_GET_ALL,
    VOUCHERS_DELETE,
)
from tests.support.raw_http import CODE_KEYS, T0, Answer, World, paths, voucher

pytestmark = pytest.mark.anyio


async def test_code_add_and_get_all(w: World) -> None:
    """voucherCodes/add answers the codes in order; getAll lists them newest first."""
    first, second = await w.add(voucher(w.a, "1"), voucher(w.a, "2"))
    codes = await w.add_codes(
        {"VoucherId": first["Id"], "Value": "A-1"},
        {
            "VoucherId": second["Id"],
            "Value": "B-1",
            "ValidityStartUtc": "2024-06-01T00:00:00Z",
            "ValidityEndUtc": "2024-06-30T00:00:00.5Z",
        },
    )
    assert [c["Value"] for c in codes] == ["A-1", "B-1"]
    assert set(codes[0]) == CODE_KEYS
    assert codes[0]["VoucherId"] == first["Id"]
    assert (codes[0]["IsActive"], codes[0]["ActivityState"]) == (True, "Active")
    assert codes[1]["ValidityEndUtc"] == "2024-06-30T00:00:00Z"
    listed = await w.call(
        VOUCHER_CODES_GET_ALL,
        VoucherIds=[first["Id"], second["Id"]],
        Limitation={"Count": 10},
    )
    assert listed.status == 200
    assert listed.body == {"VoucherCodes": codes[::-1], "Cursor": codes[0]["Id"]}
    assert w.sim.voucher_codes() == codes


async def test_active_code_values_are_unique_per_enterprise(w: World) -> None:
    """An active code value is unique in its enterprise; deleting the code frees the value."""
    (in_a,) = await w.add(voucher(w.a))
    (in_b,) = await w.add(voucher(w.b), hotel=w.b)
    (code,) = await w.add_codes({"VoucherId": in_a["Id"], "Value": "SUMMER"})
    again = await w.call(
        VOUCHER_CODES_ADD,
        EnterpriseId=w.a.eid,
        VoucherCodeParameters=[{"VoucherId": in_a["Id"], "Value": "SUMMER"}],
    )
    twice = await w.call(
        VOUCHER_CODES_ADD,
        EnterpriseId=w.a.eid,
        VoucherCodeParameters=[
            {"VoucherId": in_a["Id"], "Value": "X"},
            {"VoucherId": in_a["Id"], "Value": "X"},
        ],
    )
    assert (again.status, twice.status) == (403, 403)
    assert paths(twice) == ["VoucherCodeParameters[1].Value"]
    await w.add_codes({"VoucherId": in_b["Id"], "Value": "SUMMER"}, hotel=w.b)
    deleted = await w.call(VOUCHER_CODES_DELETE, EnterpriseId=w.a.eid, VoucherCodeIds=[code["Id"]])
    assert (deleted.status, deleted.body) == (200, {})
    await w.add_codes({"VoucherId": in_a["Id"], "Value": "SUMMER"})


async def test_code_rules(w: World) -> None:
    """Code values are 1..128 characters, vouchers must exist and be active, validity ordered."""
    (added,) = await w.add(voucher(w.a))

    async def add(**param: Any) -> Answer:
        return await w.call(
            VOUCHER_CODES_ADD,
            EnterpriseId=w.a.eid,
            VoucherCodeParameters=[{"VoucherId": added["Id"], "Value": "V", **param}],
        )

    assert (await add(Value="")).status == 400
    assert (await add(Value="v" * (MAX_VOUCHER_CODE_VALUE_LENGTH + 1))).status == 400
    assert (await add(Value="v" * MAX_VOUCHER_CODE_VALUE_LENGTH)).status == 200
    assert (await add(VoucherId=str(uuid.uuid4()))).status == 400
    backwards = await add(
        ValidityStartUtc="2024-02-01T00:00:00Z", ValidityEndUtc="2024-01-01T00:00:00Z"
    )
    assert backwards.status == 403
    await w.call(VOUCHERS_DELETE, EnterpriseId=w.a.eid, VoucherIds=[added["Id"]])
    on_deleted = await add(Value="LATE")
    assert on_deleted.status == 403
    assert paths(on_deleted) == ["VoucherCodeParameters[0].VoucherId"]


async def test_code_delete_is_idempotent_and_checks_ids(w: World) -> None:
    """Deleting a deleted code succeeds; an unknown code id is a 400."""
    (added,) = await w.add(voucher(w.a))
    (code,) = await w.add_codes({"VoucherId": added["Id"], "Value": "C"})
    for _ in range(2):
        answer = await w.call(
            VOUCHER_CODES_DELETE, EnterpriseId=w.a.eid, VoucherCodeIds=[code["Id"]]
        )
        assert answer.status == 200
    unknown = await w.call(
        VOUCHER_CODES_DELETE, EnterpriseId=w.a.eid, VoucherCodeIds=[str(uuid.uuid4())]
    )
    assert unknown.status == 400
    (stored,) = w.sim.voucher_codes()
    assert (stored["IsActive"], stored["ActivityState"]) == (False, "Deleted")
    assert w.sim.voucher_codes(include_deleted=False) == []


async def test_code_get_all_filters_and_pages(w: World) -> None:
    """voucherCodes/getAll needs VoucherIds, filters by code ids and UpdatedUtc, and pages."""
    (added,) = await w.add(voucher(w.a))
    codes = []
    for i in range(5):
        w.clocks.wall = T0 + timedelta(hours=i)
        codes += await w.add_codes({"VoucherId": added["Id"], "Value": f"C{i}"})

    async def values(**fields: Any) -> tuple[list[str], str | None]:
        fields.setdefault("Limitation", {"Count": 10})
        fields.setdefault("VoucherIds", [added["Id"]])
        answer = await w.call(VOUCHER_CODES_GET_ALL, **fields)
        assert answer.status == 200, answer.body
        return [c["Value"] for c in answer.body["VoucherCodes"]], answer.body["Cursor"]

    assert await values(Limitation={"Count": 2}) == (["C4", "C3"], codes[3]["Id"])
    assert await values(Limitation={"Count": 2, "Cursor": codes[3]["Id"]}) == (
        ["C2", "C1"],
        codes[1]["Id"],
    )
    assert await values(Limitation={"Count": 2, "Cursor": codes[1]["Id"]}) == (
        ["C0"],
        codes[0]["Id"],
    )
    assert await values(VoucherCodeIds=[codes[0]["Id"], codes[2]["Id"]]) == (
        ["C2", "C0"],
        codes[0]["Id"],
    )
    interval = {"StartUtc": "2024-05-01T13:00:00Z", "EndUtc": "2024-05-01T15:00:00Z"}
    assert (await values(UpdatedUtc=interval))[0] == ["C2", "C1"]
    assert await values(VoucherIds=[str(uuid.uuid4())]) == ([], None)
    assert await values(EnterpriseIds=[w.b.eid]) == ([], None)
    single = w.sim.add_access_token([w.b.enterprise_id])
    outside = await w.call(
        VOUCHER_CODES_GET_ALL,
        token=single,
        VoucherIds=[added["Id"]],
        EnterpriseIds=[w.a.eid],
        Limitation={"Count": 1},
    )
    assert outside.status == 403
    missing = await w.call(VOUCHER_CODES_GET_ALL, Limitation={"Count": 1})
    bad_cursor = await w.call(
        VOUCHER_CODES_GET_ALL,
        VoucherIds=[added["Id"]],
        Limitation={"Count": 1, "Cursor": added["Id"]},
    )
    assert (missing.status, bad_cursor.status) == (400, 400)
