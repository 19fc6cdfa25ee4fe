"""What the SDK is compared with: the floor (aiohttp + orjson, no models) and a pydantic peer.

The pydantic peer is written the way generated SDKs are: ``BaseModel`` classes with
PascalCase aliases, a page model parsed in one ``model_validate_json`` call, and request
bodies from ``model_dump_json(by_alias=True, exclude_none=True)`` (pydantic's fastest
route from models to JSON).  Both contenders speak to the same simulator over the same
aiohttp session setup and page through cursors exactly as the SDK does, one page at a
time.  :func:`fetch_pages_concurrently` is the plain client of figure 2: the same chains
as the SDK's fan-out, written the obvious way (a task per chain, a semaphore).
"""

from __future__ import annotations

import asyncio
import enum
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import aiohttp
import orjson
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_pascal

from ._common import CLIENT_NAME, Served

GET_ALL_PATH = "/api/connector/v1/vouchers/getAll"
ADD_PATH = "/api/connector/v1/vouchers/add"
HEADERS = {"Content-Type": "application/json"}
# The extent the SDK sends by default (VoucherExtent()): every flag, vouchers only.
EXTENT = {
    "Vouchers": True,
    "VoucherAssignments": False,
    "Rates": False,
    "VoucherCodes": False,
    "Companies": False,
}


# --- the pydantic peer's models -------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_pascal, populate_by_name=True, extra="ignore")


class PdVoucherType(enum.Enum):
    """``VoucherType`` of the pydantic peer."""

    PUBLIC = "Public"
    PARTNER_COMPANY = "PartnerCompany"
    TRAVEL_AGENCY = "TravelAgency"


class PdActivityState(enum.Enum):
    """``ActivityState`` of the pydantic peer."""

    ACTIVE = "Active"
    DELETED = "Deleted"


class PdVoucher(_Model):
    """A voucher, as a generated pydantic SDK would model it."""

    id: uuid.UUID
    service_id: uuid.UUID
    name: str
    created_utc: datetime
    updated_utc: datetime
    type: PdVoucherType
    is_active: bool
    enterprise_id: uuid.UUID | None = None
    activity_state: PdActivityState | None = None
    company_id: uuid.UUID | None = None
    travel_agency_id: uuid.UUID | None = None
    occupiable_interval_start_utc: datetime | None = None
    occupiable_interval_end_utc: datetime | None = None
    external_identifier: str | None = None


class PdVouchersPage(_Model):
    """A page of ``vouchers/getAll``."""

    vouchers: list[PdVoucher] | None = None
    cursor: uuid.UUID | None = None


class PdVoucherParameters(_Model):
    """One voucher to add."""

    service_id: uuid.UUID
    name: str
    type: PdVoucherType
    company_id: uuid.UUID | None = None
    assigned_rate_ids: list[uuid.UUID] | None = None
    occupiable_interval_start_utc: datetime | None = None
    occupiable_interval_end_utc: datetime | None = None
    external_identifier: str | None = None


class PdAddRequest(_Model):
    """The body of ``vouchers/add``, tokens included."""

    client_token: str
    access_token: str
    client: str
    enterprise_id: uuid.UUID | None = None
    voucher_parameters: list[PdVoucherParameters]


class PdWriteResult(_Model):
    """The answer of ``vouchers/add``."""

    vouchers: list[PdVoucher]


# --- the loops ---------------------------------------------------------------------------------


def _auth(served: Served) -> dict[str, Any]:
    return {
        "ClientToken": served.client_token,
        "AccessToken": served.access_token,
        "Client": CLIENT_NAME,
    }


async def _post(session: aiohttp.ClientSession, url: str, body: bytes) -> bytes:
    async with session.post(url, data=body, headers=HEADERS) as response:
        payload = await response.read()
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}: {payload[:200]!r}")
        return payload


async def fetch_pages(
    served: Served,
    enterprise_ids: list[uuid.UUID],
    service_ids: list[uuid.UUID],
    page_size: int,
    parse: Callable[[bytes], tuple[int, str | None]],
) -> int:
    """Page through each enterprise in turn, one request at a time; return the items read.

    *parse* turns a page body into (items on the page, cursor); the loop ends a chain on
    a short page or a null cursor, as the SDK does.
    """
    url = served.base_url + GET_ALL_PATH
    auth = _auth(served)
    total = 0
    async with aiohttp.ClientSession() as session:
        for enterprise_id in enterprise_ids:
            cursor: str | None = None
            while True:
                body = {
                    **auth,
                    "ServiceIds": [str(s) for s in service_ids],
                    "EnterpriseIds": [str(enterprise_id)],
                    "Extent": EXTENT,
                    "Limitation": {"Count": page_size, "Cursor": cursor},
                }
                items, cursor = parse(await _post(session, url, orjson.dumps(body)))
                total += items
                if cursor is None or items < page_size:
                    break
    return total


async def fetch_pages_concurrently(
    served: Served,
    enterprise_ids: list[uuid.UUID],
    service_ids: list[uuid.UUID],
    page_size: int,
    concurrency: int,
    *,
    keep: bool,
) -> int:
    """Page through every enterprise at once, *concurrency* requests in flight; return the items.

    One task per enterprise follows its cursor; a semaphore holds the requests in flight
    to *concurrency* (asyncio's is first come, first served), and a page is decoded with
    ``orjson.loads`` once its slot is free again.  With *keep* the decoded pages are kept
    to the end, as ``get_all`` keeps its vouchers; without, each is dropped once counted,
    as a loop over ``iter_all`` would.
    """
    url = served.base_url + GET_ALL_PATH
    auth = _auth(served)
    services = [str(s) for s in service_ids]
    slots = asyncio.Semaphore(concurrency)
    kept: list[Any] = []
    total = 0

    async def chain(session: aiohttp.ClientSession, enterprise_id: uuid.UUID) -> None:
        nonlocal total
        cursor: str | None = None
        while True:
            body = {
                **auth,
                "ServiceIds": services,
                "EnterpriseIds": [str(enterprise_id)],
                "Extent": EXTENT,
                "Limitation": {"Count": page_size, "Cursor": cursor},
            }
            async with slots:
                raw = await _post(session, url, orjson.dumps(body))
            page = orjson.loads(raw)
            vouchers = page["Vouchers"] or ()
            total += len(vouchers)
            if keep:
                kept.append(page)
            cursor = page["Cursor"]
            if cursor is None or len(vouchers) < page_size:
                return

    async with aiohttp.ClientSession() as session, asyncio.TaskGroup() as tasks:
        for enterprise_id in enterprise_ids:
            tasks.create_task(chain(session, enterprise_id))
    return total


def parse_floor(raw: bytes) -> tuple[int, str | None]:
    """The floor: decode the page to dicts and nothing more."""
    page = orjson.loads(raw)
    return len(page["Vouchers"] or ()), page["Cursor"]


def parse_pydantic(raw: bytes) -> tuple[int, str | None]:
    """The pydantic peer: validate the page into models in one call."""
    page = PdVouchersPage.model_validate_json(raw)
    cursor = None if page.cursor is None else str(page.cursor)
    return len(page.vouchers or ()), cursor


async def add_floor(
    served: Served, enterprise_id: uuid.UUID, service_id: uuid.UUID, total: int, chunk: int
) -> int:
    """Add *total* vouchers from hand-built dicts with orjson, chunk by chunk."""
    url = served.base_url + ADD_PATH
    auth = _auth(served)
    service = str(service_id)
    enterprise = str(enterprise_id)
    added = 0
    async with aiohttp.ClientSession() as session:
        for start in range(0, total, chunk):
            items = [
                {
                    "ServiceId": service,
                    "Name": f"F{n}",
                    "Type": "Public",
                    "ExternalIdentifier": f"f{n}",
                }
                for n in range(start, min(start + chunk, total))
            ]
            body = orjson.dumps({**auth, "EnterpriseId": enterprise, "VoucherParameters": items})
            added += len(orjson.loads(await _post(session, url, body))["Vouchers"])
    return added


async def add_pydantic(
    served: Served, enterprise_id: uuid.UUID, service_id: uuid.UUID, total: int, chunk: int
) -> int:
    """Add *total* vouchers from pydantic models, chunk by chunk."""
    url = served.base_url + ADD_PATH
    added = 0
    async with aiohttp.ClientSession() as session:
        for start in range(0, total, chunk):
            request = PdAddRequest(
                client_token=served.client_token,
                access_token=served.access_token,
                client=CLIENT_NAME,
                enterprise_id=enterprise_id,
                voucher_parameters=[
                    PdVoucherParameters(
                        service_id=service_id,
                        name=f"P{n}",
                        type=PdVoucherType.PUBLIC,
                        external_identifier=f"p{n}",
                    )
                    for n in range(start, min(start + chunk, total))
                ],
            )
            body = request.model_dump_json(by_alias=True, exclude_none=True).encode()
            result = PdWriteResult.model_validate_json(await _post(session, url, body))
            added += len(result.vouchers)
    return added
