"""The simulator, driven over real HTTP on loopback with raw aiohttp posts (no SDK)."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import functools
import io
import itertools
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import attrs
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mews_vouchers._constants as constants
from mews_vouchers._config import RateLimit
from mews_vouchers._constants import (
    API_PREFIX,
    MAX_ASSIGNED_RATE_IDS,
    MAX_EXTERNAL_IDENTIFIER_LENGTH,
    MAX_ITEMS_PER_REQUEST,
    MAX_NAME_LENGTH,
    MAX_PAGE_SIZE,
    MAX_VOUCHER_CODE_VALUE_LENGTH,
    VOUCHER_CODES_ADD,
    VOUCHER_CODES_DELETE,
    VOUCHER_CODES_GET_ALL,
    VOUCHERS_ADD,
    VOUCHERS_DELETE,
    VOUCHERS_GET_ALL,
    VOUCHERS_UPDATE,
)
from mews_vouchers.testing import Fault, MewsSimulator, RecordedRequest
from mews_vouchers.testing import Hotel as SeededHotel
from mews_vouchers.testing._reader import months_later, utf16_length
from mews_vouchers.testing._standalone import build_parser, main, serve

pytestmark = pytest.mark.anyio

T0 = datetime(2024, 5, 1, 12, 0, 0, 654321, tzinfo=UTC)
T0_TEXT = "2024-05-01T12:00:00Z"
VOUCHER_KEYS = {
    "Id",
    "ServiceId",
    "EnterpriseId",
    "Name",
    "CreatedUtc",
    "UpdatedUtc",
    "Type",
    "ActivityState",
    "CompanyId",
    "TravelAgencyId",
    "OccupiableIntervalStartUtc",
    "OccupiableIntervalEndUtc",
    "ExternalIdentifier",
    "IsActive",
}
CODE_KEYS = {
    "Id",
    "VoucherId",
    "Value",
    "ValidityStartUtc",
    "ValidityEndUtc",
    "CreatedUtc",
    "UpdatedUtc",
    "ActivityState",
    "IsActive",
}
ALL_EXTENTS = {
    "Vouchers": True,
    "VoucherAssignments": True,
    "Rates": True,
    "VoucherCodes": True,
    "Companies": True,
}


class Clocks:
    """A fake monotonic clock and a fake wall clock, both moved by hand."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.wall = T0

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return self.wall


@attrs.frozen
class Hotel:
    enterprise_id: uuid.UUID
    service_id: uuid.UUID
    rate_ids: tuple[uuid.UUID, uuid.UUID]
    company_id: uuid.UUID
    agency_id: uuid.UUID

    @property
    def eid(self) -> str:
        return str(self.enterprise_id)

    @property
    def sid(self) -> str:
        return str(self.service_id)


@attrs.frozen
class Answer:
    status: int
    body: Any
    headers: Mapping[str, str]


def _hotel(sim: MewsSimulator, name: str) -> Hotel:
    enterprise_id = sim.add_enterprise(name=f"Hotel {name}")
    service_id = sim.add_service(enterprise_id, name="Accommodation")
    return Hotel(
        enterprise_id=enterprise_id,
        service_id=service_id,
        rate_ids=(sim.add_rate(service_id, name="Best"), sim.add_rate(service_id, name="Flex")),
        company_id=sim.add_company(enterprise_id, name=f"ACME {name}"),
        agency_id=sim.add_company(enterprise_id, name=f"Agency {name}", travel_agency=True),
    )


def voucher(hotel: Hotel, name: str = "Voucher", **extra: Any) -> dict[str, Any]:
    return {"ServiceId": hotel.sid, "Name": name, "Type": "Public", **extra}


@attrs.define
class World:
    sim: MewsSimulator
    http: aiohttp.ClientSession
    clocks: Clocks
    a: Hotel
    b: Hotel

    async def call(
        self,
        operation: str,
        *,
        token: str | None = None,
        omit: Iterable[str] = (),
        give_up_after: float | None = None,
        **fields: Any,
    ) -> Answer:
        body = {
            "ClientToken": self.sim.client_token,
            "AccessToken": token or self.sim.access_token,
            "Client": "simulator tests 1.0",
            **fields,
        }
        for key in omit:
            body.pop(key, None)
        return await self.post_raw(operation, orjson.dumps(body), give_up_after=give_up_after)

    async def post_raw(
        self, path: str, data: bytes, *, give_up_after: float | None = None
    ) -> Answer:
        url = path if path.startswith("http") else f"{self.sim.base_url}{API_PREFIX}/{path}"
        client_timeout = aiohttp.ClientTimeout(total=give_up_after)
        async with self.http.post(url, data=data, timeout=client_timeout) as response:
            raw = await response.read()
            return Answer(response.status, orjson.loads(raw) if raw else None, response.headers)

    async def add(
        self, *params: dict[str, Any], hotel: Hotel | None = None
    ) -> list[dict[str, Any]]:
        answer = await self.call(
            VOUCHERS_ADD, EnterpriseId=(hotel or self.a).eid, VoucherParameters=list(params)
        )
        assert answer.status == 200, answer.body
        return list(answer.body["Vouchers"])

    async def add_codes(self, *params: dict[str, Any], hotel: Hotel | None = None) -> list[Any]:
        answer = await self.call(
            VOUCHER_CODES_ADD,
            EnterpriseId=(hotel or self.a).eid,
            VoucherCodeParameters=list(params),
        )
        assert answer.status == 200, answer.body
        return list(answer.body["VoucherCodes"])

    async def get_all(
        self, *, service_ids: Iterable[str] | None = None, count: int = 100, **fields: Any
    ) -> Answer:
        fields.setdefault("Extent", {"Vouchers": True})
        fields.setdefault("Limitation", {"Count": count})
        return await self.call(
            VOUCHERS_GET_ALL,
            ServiceIds=list(service_ids) if service_ids is not None else [self.a.sid],
            **fields,
        )

    async def names(self, **fields: Any) -> list[str]:
        answer = await self.get_all(**fields)
        assert answer.status == 200, answer.body
        return [v["Name"] for v in answer.body["Vouchers"]]


@contextlib.asynccontextmanager
async def world_of(**options: Any) -> AsyncIterator[World]:
    clocks = Clocks()
    async with (
        MewsSimulator(clock=clocks.monotonic, now=clocks.now, **options) as sim,
        aiohttp.ClientSession() as http,
    ):
        yield World(sim=sim, http=http, clocks=clocks, a=_hotel(sim, "A"), b=_hotel(sim, "B"))


@pytest.fixture
async def w() -> AsyncIterator[World]:
    async with world_of() as world:
        yield world


class Notepad(io.StringIO):
    """A text buffer that tells when something was written to it."""

    def __init__(self) -> None:
        super().__init__()
        self.written = asyncio.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        self.written.set()
        return written


def paths(answer: Answer) -> list[str]:
    details = answer.body["Details"]
    assert isinstance(details, str)  # the docs show Details as a string
    return [line.partition(": ")[0] for line in details.splitlines()]


# -- transport, authentication, error shape --------------------------------------


async def test_base_url_and_tokens(w: World) -> None:
    """The simulator serves on loopback and hands out long, distinct tokens."""
    assert w.sim.base_url.startswith("http://127.0.0.1:")
    assert len(w.sim.client_token) >= 32
    assert len(w.sim.access_token) >= 32
    assert w.sim.client_token != w.sim.access_token


async def test_every_answer_carries_a_request_id(w: World) -> None:
    """Successes and errors alike carry a Request-Id header; errors repeat it in the body."""
    ok = await w.get_all()
    bad = await w.get_all(count=0)
    assert ok.status == 200 and ok.headers["Request-Id"]
    assert bad.status == 400
    assert set(bad.body) == {"Message", "RequestId", "Details"}
    assert bad.body["RequestId"] == bad.headers["Request-Id"] != ok.headers["Request-Id"]
    # The docs type Details as a string (or absent): never an object.
    assert isinstance(bad.body["Details"], str) and "Limitation.Count" in bad.body["Details"]


@pytest.mark.parametrize(
    "path",
    [
        f"{API_PREFIX}/vouchers/GetAll",
        f"{API_PREFIX}/vouchers/getAll/",
        f"{API_PREFIX}/voucherCodes/update",
        f"{API_PREFIX}/rates/getAll",
        "/api/connector/v2/vouchers/getAll",
    ],
)
async def test_wrong_path_is_404(w: World, path: str) -> None:
    """Paths are exact and case-sensitive: anything else is a 404 with the error body."""
    answer = await w.post_raw(f"{w.sim.base_url}{path}", b"{}")
    assert answer.status == 404
    assert answer.body["RequestId"] == answer.headers["Request-Id"]
    assert w.sim.requests[-1].operation == path


async def test_other_methods_are_405(w: World) -> None:
    """An operation path answers 405 to anything but POST."""
    async with w.http.get(f"{w.sim.base_url}{API_PREFIX}/{VOUCHERS_GET_ALL}") as response:
        assert response.status == 405
        assert response.headers["Allow"] == "POST"
        assert response.headers["Request-Id"]


@pytest.mark.parametrize("data", [b"", b"{not json", b"[1, 2]", b"null", b'"text"'])
async def test_body_that_is_no_json_object_is_400(w: World, data: bytes) -> None:
    """A body that is not a JSON object is refused with 400."""
    answer = await w.post_raw(VOUCHERS_GET_ALL, data)
    assert answer.status == 400
    assert answer.body["Message"]


@pytest.mark.parametrize("field", ["ClientToken", "AccessToken", "Client"])
async def test_missing_credentials_are_400(w: World, field: str) -> None:
    """ClientToken, AccessToken and Client are required non-empty strings."""
    assert (await w.get_all(omit=[field])).status == 400
    blank: dict[str, Any] = {field: ""}
    empty = await w.call(VOUCHERS_GET_ALL, **blank)
    assert empty.status == 400
    assert paths(empty) == [field]


async def test_wrong_tokens_are_401_without_echoing_them(w: World) -> None:
    """An unknown ClientToken or AccessToken is a 401 whose message names no token."""
    wrong_client = await w.get_all(ClientToken="X" * 40)
    wrong_access = await w.get_all(token="Y" * 40)
    assert (wrong_client.status, wrong_access.status) == (401, 401)
    assert "X" * 40 not in wrong_client.body["Message"]
    assert "Y" * 40 not in wrong_access.body["Message"]


async def test_language_code_needs_culture_code(w: World) -> None:
    """LanguageCode and CultureCode are given both or neither."""
    assert (await w.get_all(LanguageCode="en-US")).status == 400
    assert (await w.get_all(LanguageCode="en-US", CultureCode="en-US")).status == 200


async def test_max_body_bytes_is_enforced_with_413() -> None:
    """A body over max_body_bytes is refused with 413, logged with its items; the rest pass."""
    async with world_of(max_body_bytes=600) as w:
        small = await w.call(VOUCHERS_ADD, EnterpriseId=w.a.eid, VoucherParameters=[voucher(w.a)])
        big = await w.call(VOUCHERS_ADD, EnterpriseId=w.a.eid, VoucherParameters=[voucher(w.a)] * 6)
        assert (small.status, big.status) == (200, 413)
        assert big.body["Message"]
        assert [(r.status, r.items) for r in w.sim.requests] == [(200, 1), (413, 6)]
        assert len(w.sim.vouchers()) == 1


async def test_not_transient_faults_are_drawn_only_when_named() -> None:
    """Random faults leave 409 and 413 out unless they are named."""
    async with world_of(fault_rate=1.0, seed=5, slow_delay=0.0) as w:
        statuses = set()
        for _ in range(60):
            w.clocks.t += 2.0  # past any 429 burst
            try:
                statuses.add((await w.get_all()).status)
            except aiohttp.ServerDisconnectedError:
                statuses.add(0)
        assert statuses == {0, 200, 408, 429, 500}  # 200: SLOW
    async with world_of(fault_rate=1.0, faults=[Fault.CONFLICT, Fault.TOO_LARGE]) as w:
        assert {(await w.get_all()).status for _ in range(20)} == {409, 413}


async def test_body_too_large_is_413(w: World) -> None:
    """A body far above any valid request is refused with 413."""
    url = f"{w.sim.base_url}{API_PREFIX}/{VOUCHERS_ADD}"
    async with w.http.post(url, data=io.BytesIO(b" " * (17 * 1024 * 1024))) as response:
        assert response.status == 413
        assert (await response.json())["Message"]


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


# -- portfolio and single-enterprise tokens -----------------------------------------


async def test_portfolio_write_needs_enterprise_id(w: World) -> None:
    """With a portfolio token a write without EnterpriseId is a 400."""
    answer = await w.call(VOUCHERS_ADD, VoucherParameters=[voucher(w.a)])
    malformed = await w.call(VOUCHERS_ADD, EnterpriseId="A", VoucherParameters=[voucher(w.a)])
    assert (answer.status, malformed.status) == (400, 400)
    assert paths(answer) == ["EnterpriseId"]


@pytest.mark.parametrize(
    ("operation", "field", "item"),
    [
        (VOUCHERS_ADD, "VoucherParameters", {"Name": "V", "Type": "Public"}),
        (VOUCHERS_UPDATE, "VoucherUpdates", {"VoucherId": str(uuid.uuid4())}),
        (VOUCHERS_DELETE, "VoucherIds", str(uuid.uuid4())),
        (
            VOUCHER_CODES_ADD,
            "VoucherCodeParameters",
            {"VoucherId": str(uuid.uuid4()), "Value": "V"},
        ),
        (VOUCHER_CODES_DELETE, "VoucherCodeIds", str(uuid.uuid4())),
    ],
)
async def test_every_write_needs_enterprise_id_with_a_portfolio_token(
    w: World, operation: str, field: str, item: Any
) -> None:
    """All five writes refuse a portfolio token without EnterpriseId, and an empty main list."""
    one: dict[str, Any] = {field: [item]}
    none: dict[str, Any] = {field: [], "EnterpriseId": w.a.eid}
    missing = await w.call(operation, **one)
    empty = await w.call(operation, **none)
    assert (missing.status, empty.status) == (400, 400)
    assert paths(missing)[0] == "EnterpriseId"
    assert paths(empty) == [field]
    assert w.sim.requests[-1].items == 0


async def test_portfolio_write_outside_scope_is_403(w: World) -> None:
    """EnterpriseId must be within the token's scope."""
    hotel_c = w.sim.add_enterprise("Hotel C")
    token = w.sim.add_access_token([w.a.enterprise_id, w.b.enterprise_id])
    for enterprise_id in (hotel_c, uuid.uuid4()):
        answer = await w.call(
            VOUCHERS_ADD,
            token=token,
            EnterpriseId=str(enterprise_id),
            VoucherParameters=[voucher(w.a)],
        )
        assert answer.status == 403
        assert paths(answer) == ["EnterpriseId"]


async def test_portfolio_write_items_must_belong_to_the_enterprise(w: World) -> None:
    """Every item of a write must belong to its EnterpriseId: a service of another is a 400."""
    answer = await w.call(VOUCHERS_ADD, EnterpriseId=w.a.eid, VoucherParameters=[voucher(w.b)])
    assert answer.status == 400
    assert paths(answer) == ["VoucherParameters[0].ServiceId"]
    (in_b,) = await w.add(voucher(w.b), hotel=w.b)
    delete = await w.call(VOUCHERS_DELETE, EnterpriseId=w.a.eid, VoucherIds=[in_b["Id"]])
    assert delete.status == 400


async def test_single_enterprise_token_ignores_enterprise_id(w: World) -> None:
    """A single-enterprise token writes to its enterprise, whatever EnterpriseId says."""
    token = w.sim.add_access_token([w.a.enterprise_id])
    for enterprise_id in (None, w.b.eid, "garbage"):
        answer = await w.call(
            VOUCHERS_ADD, token=token, EnterpriseId=enterprise_id, VoucherParameters=[voucher(w.a)]
        )
        assert answer.status == 200, answer.body
        assert answer.body["Vouchers"][0]["EnterpriseId"] == w.a.eid
    refused = await w.call(VOUCHERS_ADD, token=token, VoucherParameters=[voucher(w.b)])
    assert refused.status == 400


async def test_get_all_is_scoped_to_the_token(w: World) -> None:
    """getAll covers the token's enterprises; EnterpriseIds narrows it; outside the scope is 403."""
    await w.add(voucher(w.a, "in A"))
    await w.add(voucher(w.b, "in B"), hotel=w.b)
    both = [w.a.sid, w.b.sid]
    token = w.sim.add_access_token([w.a.enterprise_id])
    assert await w.names(service_ids=both) == ["in B", "in A"]
    assert await w.names(service_ids=both, token=token) == ["in A"]
    assert await w.names(service_ids=both, EnterpriseIds=[w.b.eid]) == ["in B"]
    outside = await w.get_all(service_ids=both, token=token, EnterpriseIds=[w.b.eid])
    assert outside.status == 403
    assert paths(outside) == ["EnterpriseIds[0]"]
    too_many = await w.get_all(EnterpriseIds=[str(uuid.uuid4())] * (MAX_ITEMS_PER_REQUEST + 1))
    assert too_many.status == 400


async def test_portfolio_token_reaches_enterprises_added_later(w: World) -> None:
    """The simulator's own access token covers enterprises added after it was made."""
    late = w.sim.add_enterprise("Late")
    service = w.sim.add_service(late)
    answer = await w.call(
        VOUCHERS_ADD,
        EnterpriseId=str(late),
        VoucherParameters=[{"ServiceId": str(service), "Name": "Late", "Type": "Public"}],
    )
    assert answer.status == 200


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


# -- voucher codes ------------------------------------------------------------------


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


# -- the request limit ------------------------------------------------------------------


async def test_rate_limit_is_a_sliding_window_per_token() -> None:
    """A token over its limit gets 429 and Retry-After until its oldest request has left."""
    async with world_of(rate_limit=RateLimit(3, 10.0)) as w:
        other = w.sim.add_access_token([w.a.enterprise_id])
        for t in (0.0, 1.0, 2.0):
            w.clocks.t = 1000.0 + t
            assert (await w.get_all()).status == 200
        refused = await w.get_all()
        assert refused.status == 429
        assert refused.headers["Retry-After"] == "8"
        assert refused.body["RequestId"] == refused.headers["Request-Id"]
        assert (await w.get_all(token=other)).status == 200
        w.clocks.t = 1009.5
        assert (await w.get_all()).headers["Retry-After"] == "1"
        w.clocks.t = 1010.0
        assert (await w.get_all()).status == 200
        w.clocks.t = 1011.0
        # Requests answered with an error count too: this 400 fills the window again.
        assert (await w.get_all(count=0)).status == 400
        again = await w.get_all()
        assert (again.status, again.headers["Retry-After"]) == (429, "1")
        assert [r.status for r in w.sim.requests][-3:] == [200, 400, 429]
        assert w.sim.requests[-1].fault is None


async def test_rate_limited_write_is_not_applied() -> None:
    """A write refused by the limit changes nothing."""
    async with world_of(rate_limit=RateLimit(1, 30.0)) as w:
        await w.add(voucher(w.a, "first"))
        refused = await w.call(VOUCHERS_ADD, EnterpriseId=w.a.eid, VoucherParameters=[voucher(w.a)])
        assert refused.status == 429
        assert [v["Name"] for v in w.sim.vouchers()] == ["first"]


# -- faults -----------------------------------------------------------------------------


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


# -- seeding, reproducibility, inspection, the request log -------------------------------


async def test_add_hotel_seeds_a_hotel_in_one_call(w: World) -> None:
    """add_hotel: an enterprise, its service, the rates asked for, a company for any type."""
    grand = w.sim.add_hotel("Grand", rates=3)
    assert isinstance(grand, SeededHotel) and len(set(grand.rate_ids)) == 3
    agency = {
        "ServiceId": str(grand.service_id),
        "Name": "Agency deal",
        "Type": "TravelAgency",
        "CompanyId": str(grand.company_id),
        "AssignedRateIds": [str(r) for r in grand.rate_ids],
    }
    answer = await w.call(
        VOUCHERS_ADD, EnterpriseId=str(grand.enterprise_id), VoucherParameters=[agency]
    )
    assert answer.status == 200, answer.body
    [added] = answer.body["Vouchers"]
    assert (added["ServiceId"], added["TravelAgencyId"]) == (
        str(grand.service_id),
        str(grand.company_id),
    )
    assert {a["RateId"] for a in w.sim.assignments()} == {str(r) for r in grand.rate_ids}
    assert w.sim.add_hotel(rates=0).rate_ids == ()
    with pytest.raises(ValueError, match="rates must be >= 0"):
        w.sim.add_hotel(rates=-1)


async def test_seed_vouchers_inserts_directly(w: World) -> None:
    """seed_vouchers inserts numbered public vouchers, with optional external ids and time."""
    when = datetime(2023, 1, 2, 3, 4, 5, tzinfo=UTC)
    ids = w.sim.seed_vouchers(
        w.a.service_id, 3, name_prefix="S-", external_identifier_prefix="X-", updated_utc=when
    )
    stored = w.sim.vouchers()
    assert [uuid.UUID(v["Id"]) for v in stored] == ids
    assert [(v["Name"], v["ExternalIdentifier"]) for v in stored] == [
        ("S-0", "X-0"),
        ("S-1", "X-1"),
        ("S-2", "X-2"),
    ]
    assert {(v["CreatedUtc"], v["UpdatedUtc"], v["Type"], v["IsActive"]) for v in stored} == {
        ("2023-01-02T03:04:05Z", "2023-01-02T03:04:05Z", "Public", True)
    }
    assert await w.names(ExternalIdentifiers=["X-1"]) == ["S-1"]
    with pytest.raises(ValueError, match="unknown service"):
        w.sim.seed_vouchers(uuid.uuid4(), 1)
    with pytest.raises(ValueError, match="aware"):
        w.sim.seed_vouchers(w.a.service_id, 1, updated_utc=datetime(2024, 1, 1))


async def test_same_seed_same_tokens_and_ids() -> None:
    """Tokens and every generated id follow from the seed."""

    async def run(seed: int) -> tuple[str, str, list[str]]:
        async with world_of(seed=seed) as w:
            added = await w.add(voucher(w.a))
            seeded = w.sim.seed_vouchers(w.a.service_id, 2)
            return w.sim.client_token, w.sim.access_token, [added[0]["Id"], *map(str, seeded)]

    first, again, other = await run(1), await run(1), await run(2)
    assert first == again
    assert first[0] != other[0] and first[2] != other[2]


async def test_inspection_filters_by_enterprise(w: World) -> None:
    """vouchers() and voucher_codes() list oldest first, by enterprise and activity."""
    (in_a,) = await w.add(voucher(w.a, "a"))
    (in_b,) = await w.add(voucher(w.b, "b"), hotel=w.b)
    await w.add_codes({"VoucherId": in_b["Id"], "Value": "B"}, hotel=w.b)
    assert [v["Name"] for v in w.sim.vouchers()] == ["a", "b"]
    assert w.sim.vouchers(enterprise_id=w.b.enterprise_id) == [in_b]
    assert w.sim.vouchers(enterprise_id=w.a.eid) == [in_a]
    assert [c["Value"] for c in w.sim.voucher_codes(enterprise_id=w.b.enterprise_id)] == ["B"]
    assert w.sim.voucher_codes(enterprise_id=w.a.enterprise_id) == []
    w.sim.vouchers()[0]["Name"] = "mutated"
    assert w.sim.vouchers()[0]["Name"] == "a"


async def test_request_log_records_what_was_received(w: World) -> None:
    """Each request is logged in arrival order with operation, body, status, items and time."""
    w.clocks.t = 42.0
    await w.add(voucher(w.a), voucher(w.a))
    await w.get_all(count=7, EnterpriseIds=[w.a.eid])
    await w.post_raw(VOUCHERS_DELETE, b"{oops")
    add, get_all, broken = w.sim.requests
    assert isinstance(add, RecordedRequest)
    assert (add.operation, add.status, add.items, add.enterprise_id, add.at) == (
        VOUCHERS_ADD,
        200,
        2,
        w.a.eid,
        42.0,
    )
    assert add.body is not None and add.body["VoucherParameters"][0]["Name"] == "Voucher"
    assert add.fault is None and add.request_id
    assert (get_all.operation, get_all.items, get_all.enterprise_id) == (
        VOUCHERS_GET_ALL,
        7,
        w.a.eid,
    )
    assert (broken.operation, broken.body, broken.status, broken.items) == (
        VOUCHERS_DELETE,
        None,
        400,
        0,
    )
    w.sim.reset_requests()
    assert w.sim.requests == []


async def test_setup_methods_check_their_arguments() -> None:
    """Bad constructor arguments and unknown ids raise at once."""
    with pytest.raises(ValueError, match="fault_rate"):
        MewsSimulator(fault_rate=1.5)
    with pytest.raises(ValueError, match="faults"):
        MewsSimulator(faults=[])
    with pytest.raises(ValueError, match="latency"):
        MewsSimulator(latency=-1)
    sim = MewsSimulator()
    with pytest.raises(ValueError, match="unknown enterprise"):
        sim.add_service(uuid.uuid4())
    with pytest.raises(ValueError, match="unknown enterprise"):
        sim.add_access_token(["not-a-uuid"])
    with pytest.raises(ValueError, match="at least one"):
        sim.add_access_token([])
    with pytest.raises(ValueError, match="unknown operation"):
        sim.inject(Fault.TIMEOUT, operation="vouchers/getall")
    with pytest.raises(ValueError, match="times"):
        sim.inject(Fault.TIMEOUT, times=0)


async def test_start_and_aclose_without_context_manager() -> None:
    """start() and aclose() work without `async with`; aclose twice is harmless."""
    sim = MewsSimulator()
    await sim.start()
    try:
        with pytest.raises(RuntimeError):
            await sim.start()
        async with aiohttp.ClientSession() as http, http.post(f"{sim.base_url}/x") as response:
            assert response.status == 404
    finally:
        await sim.aclose()
        await sim.aclose()


# -- standalone ---------------------------------------------------------------------------


def test_parser_reads_every_option() -> None:
    """The standalone command line parses port, seeding, limit, latency, faults and seed."""
    args = build_parser().parse_args(
        [
            "--port",
            "8080",
            "--enterprises",
            "3",
            "--rate-limit",
            "200/30",
            "--latency",
            "0.1",
            "--fault-rate",
            "0.2",
            "--seed",
            "5",
        ]
    )
    assert (args.port, args.enterprises, args.latency, args.fault_rate, args.seed) == (
        8080,
        3,
        0.1,
        0.2,
        5,
    )
    assert args.rate_limit == RateLimit(200, 30.0)
    defaults = build_parser().parse_args([])
    assert (defaults.port, defaults.enterprises, defaults.rate_limit) == (0, 2, None)


@pytest.mark.parametrize(
    "argv",
    [
        ["--rate-limit", "200"],
        ["--rate-limit", "0/30"],
        ["--fault-rate", "2"],
        ["--latency", "-1"],
        ["--enterprises", "x"],
    ],
)
def test_main_refuses_bad_arguments(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Bad arguments end with the usual argparse exit status 2."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "usage:" in capsys.readouterr().err


async def test_serve_seeds_and_prints_how_to_connect() -> None:
    """serve() seeds the enterprises, prints URL, tokens and ids, and serves until stopped."""
    out, stop = Notepad(), asyncio.Event()
    async with anyio.create_task_group() as group:
        group.start_soon(functools.partial(serve, enterprises=1, out=out, stop=stop))
        with anyio.fail_after(5):
            await out.written.wait()
        text = out.getvalue()
        base_url = text.split()[4]
        client_token = text.split("ClientToken:")[1].split()[0]
        access_token = text.split("AccessToken:")[1].split()[0]
        service_id = text.split("ServiceId:")[1].split()[0]
        body = {
            "ClientToken": client_token,
            "AccessToken": access_token,
            "Client": "t",
            "ServiceIds": [service_id],
            "Extent": {"Vouchers": True},
            "Limitation": {"Count": 1},
        }
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{base_url}{API_PREFIX}/{VOUCHERS_GET_ALL}", json=body) as r,
        ):
            assert r.status == 200
        stop.set()
    assert text.count("Enterprise ") == 1 and "RateIds:" in text


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_module_runs_until_interrupted() -> None:
    """`python -m mews_vouchers.testing` prints its address and exits 0 on Ctrl-C."""
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    with subprocess.Popen(
        [sys.executable, "-m", "mews_vouchers.testing", "--port", "0", "--enterprises", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as process:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        assert first_line.startswith("Mews voucher simulator at http://127.0.0.1:")
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=10)
        assert process.returncode == 0, errors


def test_module_runs_without_rich() -> None:
    """`python -m mews_vouchers.testing` runs without the [cli] extra, so without rich."""
    hide_rich = (
        "import runpy, sys\n"
        "sys.modules['rich'] = None  # import rich now fails, as without the extra\n"
        "sys.argv = ['mews_vouchers.testing', '--rate-limit', '20/2', '--help']\n"
        "runpy.run_module('mews_vouchers.testing', run_name='__main__')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", hide_rich], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "--rate-limit REQUESTS/SECONDS" in done.stdout


# -- independence from the SDK ----------------------------------------------------------

SIMULATOR_DIR = Path(__file__).resolve().parents[2] / "mews_vouchers" / "testing"


def _sdk_imports(path: Path) -> list[tuple[str, str]]:
    """Return (module, name) for every import of an SDK module (outside testing/) in *path*."""
    found: list[tuple[str, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, "*") for a in node.names if a.name.startswith("mews_vouchers")]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 1 or (node.level == 0 and not node.module):
                continue  # within testing/, or not ours
            module = node.module or ""
            if node.level == 0:
                if not module.startswith("mews_vouchers") or module.startswith(
                    "mews_vouchers.testing"
                ):
                    continue
                module = module.removeprefix("mews_vouchers").lstrip(".")
            found += [(module, alias.name) for alias in node.names]
    return found


# The command line's argument types read what a person typed when starting the standalone
# simulator (a count, a probability, REQUESTS/SECONDS); they judge no request, so sharing
# them with the CLI shares no API rule.
COMMAND_LINE_ARGUMENTS = "cli._args"


def test_simulator_imports_only_constants_and_the_rate_limit_type() -> None:
    """The simulator shares no logic with the SDK: named limits, RateLimit, argument types."""
    files = sorted(SIMULATOR_DIR.glob("*.py"))
    assert len(files) >= 5
    for path in files:
        for module, name in _sdk_imports(path):
            if module == "_constants":
                assert not callable(getattr(constants, name)), f"{path.name}: {name} is logic"
            elif module == COMMAND_LINE_ARGUMENTS:
                assert path.name == "_standalone.py", f"{path.name}: {module}.{name}"
            else:
                assert (module, name) == ("_config", "RateLimit"), f"{path.name}: {module}.{name}"


def _oracle_months_later(moment: datetime, months: int) -> datetime | None:
    """The same month shift by trial: the latest valid day not after the start's day."""
    year, index = divmod(moment.year * 12 + moment.month - 1 + months, 12)
    if year > 9999:
        return None
    for day in range(moment.day, 27, -1):
        try:
            date(year, index + 1, day)
        except ValueError:
            continue
        return moment.replace(year=year, month=index + 1, day=day)
    return moment.replace(year=year, month=index + 1)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (datetime(2024, 1, 31, 5, tzinfo=UTC), datetime(2024, 4, 30, 5, tzinfo=UTC)),
        (datetime(2023, 11, 30, tzinfo=UTC), datetime(2024, 2, 29, tzinfo=UTC)),
        (datetime(2022, 11, 30, tzinfo=UTC), datetime(2023, 2, 28, tzinfo=UTC)),
        (datetime(1900, 11, 29, tzinfo=UTC), datetime(1901, 2, 28, tzinfo=UTC)),
        (datetime(2000, 11, 29, tzinfo=UTC), datetime(2001, 2, 28, tzinfo=UTC)),
        (
            datetime(2024, 12, 15, 1, 2, 3, 4, tzinfo=UTC),
            datetime(2025, 3, 15, 1, 2, 3, 4, tzinfo=UTC),
        ),
        (datetime(9999, 9, 30, tzinfo=UTC), datetime(9999, 12, 30, tzinfo=UTC)),
        (datetime(9999, 10, 1, tzinfo=UTC), None),
    ],
)
def test_simulator_calendar_months(start: datetime, end: datetime | None) -> None:
    """The simulator's 3-month rule ends on the same day three months on, clamped to the month."""
    assert months_later(start, 3) == end


@given(st.datetimes(timezones=st.just(UTC)), st.integers(min_value=0, max_value=24))
def test_simulator_calendar_matches_an_oracle(start: datetime, months: int) -> None:
    """The simulator's month arithmetic agrees with a trial-and-error oracle everywhere."""
    assert months_later(start, months) == _oracle_months_later(start, months)


@given(st.text())
def test_simulator_counts_utf16_units(text: str) -> None:
    """The simulator counts text as .NET does: one unit per BMP character, two beyond it."""
    expected = len(text.encode("utf-16-le", "surrogatepass")) // 2
    assert utf16_length(text) == expected
