"""The simulator driven over raw HTTP (aiohttp posts, no SDK), on fake clocks, with two hotels."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp
import attrs
import orjson

from mews_vouchers._constants import API_PREFIX, VOUCHER_CODES_ADD, VOUCHERS_ADD, VOUCHERS_GET_ALL
from mews_vouchers.testing import MewsSimulator

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


def paths(answer: Answer) -> list[str]:
    details = answer.body["Details"]
    assert isinstance(details, str)  # the docs show Details as a string
    return [line.partition(": ")[0] for line in details.splitlines()]
