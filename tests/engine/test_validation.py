"""Client-side validation through the public API: every rule, every path, zero requests."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mews_vouchers import (
    UNSET,
    MewsClient,
    MewsValidationError,
    TimeInterval,
    VoucherCodeParameters,
    VoucherParameters,
    VoucherType,
    VoucherUpdate,
)
from mews_vouchers._constants import (
    MAX_ASSIGNED_RATE_IDS,
    MAX_EXTERNAL_IDENTIFIER_LENGTH,
    MAX_NAME_LENGTH,
    MAX_VOUCHER_CODE_VALUE_LENGTH,
)
from mews_vouchers.testing import Hotel, MewsSimulator

pytestmark = pytest.mark.anyio

SERVICE = uuid.UUID("bd26d8db-86da-4f96-9efc-e5a4654a4a94")
T0 = datetime(2030, 1, 1, tzinfo=UTC)


def ok(**kw: Any) -> VoucherParameters:
    return VoucherParameters(
        **{"service_id": SERVICE, "name": "ok", "type": VoucherType.PUBLIC, **kw}
    )


ADD_CASES = [
    (ok(name=""), "params[1].name", "1..128"),
    (ok(name="x" * (MAX_NAME_LENGTH + 1)), "params[1].name", "129"),
    (
        ok(external_identifier="e" * (MAX_EXTERNAL_IDENTIFIER_LENGTH + 1)),
        "params[1].external_identifier",
        "256",
    ),
    (
        ok(assigned_rate_ids=[uuid.uuid4() for _ in range(MAX_ASSIGNED_RATE_IDS + 1)]),
        "params[1].assigned_rate_ids",
        "at most 10",
    ),
    (ok(assigned_rate_ids=[SERVICE, SERVICE]), "params[1].assigned_rate_ids", "unique"),
    (ok(type=VoucherType.PARTNER_COMPANY), "params[1].company_id", "required"),
    (ok(type=VoucherType.TRAVEL_AGENCY), "params[1].company_id", "required"),
    (
        ok(occupiable_interval_start_utc=T0, occupiable_interval_end_utc=T0 - timedelta(days=1)),
        "params[1].occupiable_interval_end_utc",
        "before start",
    ),
    ({"ServiceId": str(SERVICE)}, "params[1]", "expected VoucherParameters"),
]


@pytest.mark.parametrize(("bad", "path", "message"), ADD_CASES)
async def test_add_rules(
    client: MewsClient, sim: MewsSimulator, bad: Any, path: str, message: str
) -> None:
    """Each add rule fails with its path and a message, before any request."""
    sim.reset_requests()
    with pytest.raises(MewsValidationError) as info:
        await client.vouchers.add([ok(), bad, ok()])
    assert [p for p, _ in info.value.errors] == [path]
    assert message in info.value.errors[0][1]
    assert sim.requests == []


async def test_every_problem_is_listed_at_once(client: MewsClient, sim: MewsSimulator) -> None:
    """One error lists every problem of every item, in order, with paths."""
    sim.reset_requests()
    items = [ok()] * 3 + [ok(name="")] + [ok()] * 1000 + [ok(type="PartnerCompany", name="y" * 200)]
    with pytest.raises(MewsValidationError) as info:
        await client.vouchers.add(iter(items))
    assert [p for p, _ in info.value.errors] == [
        "params[3].name",
        "params[1004].name",
        "params[1004].company_id",
    ]
    assert "params[3].name" in str(info.value)
    assert isinstance(info.value, ValueError)
    assert sim.requests == []


@pytest.mark.parametrize(
    ("bad", "path"),
    [
        (VoucherUpdate(voucher_id=SERVICE, name=""), "updates[0].name"),
        (VoucherUpdate(voucher_id=SERVICE, name=None), "updates[0].name"),  # type: ignore[arg-type]
        (
            VoucherUpdate(voucher_id=SERVICE, external_identifier="e" * 256),
            "updates[0].external_identifier",
        ),
        (
            VoucherUpdate(voucher_id=SERVICE, assigned_rate_ids=[uuid.uuid4() for _ in range(11)]),
            "updates[0].assigned_rate_ids",
        ),
        (
            VoucherUpdate(voucher_id=SERVICE, type=VoucherType.TRAVEL_AGENCY, company_id=None),
            "updates[0].company_id",
        ),
        (
            VoucherUpdate(
                voucher_id=SERVICE,
                occupiable_interval_start_utc=T0,
                occupiable_interval_end_utc=T0 - timedelta(seconds=1),
            ),
            "updates[0].occupiable_interval_end_utc",
        ),
    ],
)
async def test_update_rules(
    client: MewsClient, sim: MewsSimulator, bad: VoucherUpdate, path: str
) -> None:
    """Each update rule fails with its path, before any request."""
    sim.reset_requests()
    with pytest.raises(MewsValidationError) as info:
        await client.vouchers.update([bad])
    assert [p for p, _ in info.value.errors] == [path]
    assert sim.requests == []


async def test_update_of_one_voucher_twice_is_refused(client: MewsClient) -> None:
    """Two updates of one voucher in one call could race across chunks: refused."""
    with pytest.raises(MewsValidationError) as info:
        await client.vouchers.update(
            [
                VoucherUpdate(voucher_id=SERVICE, name="a"),
                VoucherUpdate(voucher_id=SERVICE, name="b"),
            ]
        )
    assert info.value.errors == [("updates[1].voucher_id", "repeats updates[0].voucher_id")]


async def test_update_type_without_touching_company_is_allowed(
    client: MewsClient, hotel: Hotel
) -> None:
    """Setting a partner type while leaving company_id UNSET is for the server to judge."""
    update = VoucherUpdate(voucher_id=SERVICE, type=VoucherType.PARTNER_COMPANY)
    assert update.company_id is UNSET
    with pytest.raises(Exception) as info:  # noqa: PT011 - the server answers; validation passed
        await client.vouchers.update([update], enterprise_id=hotel.enterprise_id)
    assert not isinstance(info.value, MewsValidationError)


@pytest.mark.parametrize(
    ("bad", "path"),
    [
        (VoucherCodeParameters(voucher_id=SERVICE, value=""), "params[0].value"),
        (
            VoucherCodeParameters(
                voucher_id=SERVICE, value="v" * (MAX_VOUCHER_CODE_VALUE_LENGTH + 1)
            ),
            "params[0].value",
        ),
        (
            VoucherCodeParameters(
                voucher_id=SERVICE,
                value="v",
                validity_start_utc=T0,
                validity_end_utc=T0 - timedelta(days=1),
            ),
            "params[0].validity_end_utc",
        ),
    ],
)
async def test_code_rules(
    client: MewsClient, sim: MewsSimulator, bad: VoucherCodeParameters, path: str
) -> None:
    """Each voucher-code rule fails with its path, before any request."""
    sim.reset_requests()
    with pytest.raises(MewsValidationError) as info:
        await client.voucher_codes.add([bad])
    assert [p for p, _ in info.value.errors] == [path]
    assert sim.requests == []


Call = Callable[[MewsClient], Awaitable[Any]]
LATER = datetime(2031, 1, 1, tzinfo=UTC)

CALL_CASES: list[tuple[Call, list[str]]] = [
    (lambda c: c.vouchers.get_all(service_ids=[]), ["service_ids"]),
    (
        lambda c: c.vouchers.get_all(service_ids=["nope", SERVICE, "x"]),
        ["service_ids[0]", "service_ids[2]"],
    ),
    (lambda c: c.vouchers.get_all(service_ids=str(SERVICE)), ["service_ids"]),
    (
        lambda c: c.vouchers.get_all(service_ids=[SERVICE], enterprise_ids=["bad"]),
        ["enterprise_ids[0]"],
    ),
    (
        lambda c: c.vouchers.get_all(service_ids=[SERVICE], activity_states=["Gone"]),
        ["activity_states[0]"],
    ),
    (
        lambda c: c.vouchers.get_all(service_ids=[SERVICE], voucher_code_values=[5]),
        ["voucher_code_values[0]"],
    ),
    (
        lambda c: c.vouchers.get_all(
            service_ids=[SERVICE], updated_utc=TimeInterval(start_utc=LATER, end_utc=T0)
        ),
        ["updated_utc.end_utc"],
    ),
    (lambda c: c.vouchers.delete([SERVICE, "not-a-uuid"]), ["voucher_ids[1]"]),
    (lambda c: c.voucher_codes.delete(["nope"]), ["voucher_code_ids[0]"]),
    (lambda c: c.voucher_codes.get_all(voucher_ids=["x"]), ["voucher_ids[0]"]),
    (lambda c: c.vouchers.add([ok()], enterprise_id="hotel-1"), ["enterprise_id"]),
    (lambda c: c.vouchers.add(ok()), ["params"]),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("call", "paths"), CALL_CASES)
async def test_call_arguments_are_checked(
    client: MewsClient, sim: MewsSimulator, call: Call, paths: list[str]
) -> None:
    """Malformed ids, states, intervals and lists fail with their paths, before any request."""
    sim.reset_requests()
    with pytest.raises(MewsValidationError) as info:
        await call(client)
    assert [p for p, _ in info.value.errors] == paths
    assert sim.requests == []


def test_models_refuse_malformed_ids_and_naive_datetimes() -> None:
    """At construction: a bad UUID or a naive datetime names its field."""
    with pytest.raises(MewsValidationError, match="service_id: not a valid UUID"):
        VoucherParameters(service_id="abc", name="x", type=VoucherType.PUBLIC)
    with pytest.raises(MewsValidationError, match="occupiable_interval_start_utc: naive"):
        ok(occupiable_interval_start_utc=datetime(2030, 1, 1))
    with pytest.raises(MewsValidationError, match="start_utc: naive"):
        TimeInterval(start_utc=datetime(2030, 1, 1), end_utc=T0)
    with pytest.raises(MewsValidationError, match="type: 'Gift' is not one of"):
        ok(type="Gift")
    with pytest.raises(MewsValidationError, match=r"assigned_rate_ids\[1\]"):
        ok(assigned_rate_ids=[SERVICE, "bad"])
    aware = ok(occupiable_interval_start_utc="2030-01-01T02:00:00+02:00")
    assert aware.occupiable_interval_start_utc == T0
    assert aware.occupiable_interval_start_utc.tzinfo is UTC


async def test_lengths_count_utf16_units_as_the_api_does(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """128 units fit: 64 emoji pass, 65 do not (the API is .NET: an emoji counts 2)."""
    fits = ok(service_id=hotel.service_id, name="😀" * 64)
    await client.vouchers.add([fits], enterprise_id=hotel.enterprise_id)
    sim.reset_requests()
    with pytest.raises(MewsValidationError) as info:
        await client.vouchers.add([ok(name="😀" * 65)], enterprise_id=hotel.enterprise_id)
    assert info.value.errors == [("params[0].name", "must be 1..128 characters, got 130")]
    assert sim.requests == []
