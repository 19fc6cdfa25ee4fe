"""The converter workloads, shared by ``bench_converter.py`` (pytest-benchmark) and figure 5.

Each workload comes with its baseline, the least work that produces the same thing:
``orjson.loads`` of the page for reading it into models (the SDK reads the bytes with
msgspec, ``_fastwire``; the converter alone, its fallback, is measured too); for
unstructuring, hand-written dicts
that give the same JSON, ids and datetimes left to ``orjson.dumps``.  The SDK's side of
unstructuring is what its requester does: ``encode(unstructure(request))`` (the
converter leaves ids and datetimes to orjson).  Pydantic doing the same job is a second reference.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import orjson

from mews_vouchers import UNSET, VoucherParameters, VouchersResult, VoucherType, VoucherUpdate
from mews_vouchers._converter import encode, structure, unstructure
from mews_vouchers._envelopes import (
    VoucherAddRequest,
    VoucherUpdateRequest,
)
from mews_vouchers._fastwire import decode
from mews_vouchers.testing import MewsSimulator

from ._peers import PdVouchersPage
from ._server import seed

ITEMS = 1000
START = datetime(2024, 3, 1, tzinfo=UTC)


@cache
def page_bytes() -> bytes:
    """Return a getAll page of 1000 vouchers as the simulator sends it (10 per second)."""
    sim = MewsSimulator(seed=5)
    service = sim.add_hotel("Bench").service_id
    seed(sim, str(service), ITEMS, "B", per_second=10)
    vouchers = sim.vouchers()[::-1]  # newest first, as getAll pages
    page = {
        "Vouchers": vouchers,
        "VoucherCodes": None,
        "VoucherAssignments": None,
        "Rates": None,
        "Companies": None,
        "Cursor": vouchers[-1]["Id"],
    }
    return orjson.dumps(page)


def page_dict() -> dict[str, Any]:
    """Return the page decoded: the input of structuring."""
    return dict(orjson.loads(page_bytes()))


@cache
def voucher_parameters() -> list[VoucherParameters]:
    """Return 1000 typical parameters of an add: half with rates and an interval."""
    rng = uuid.UUID(int=7)
    service = uuid.uuid5(rng, "service")
    rates = (uuid.uuid5(rng, "rate 1"), uuid.uuid5(rng, "rate 2"))
    out = []
    for n in range(ITEMS):
        full = n % 2 == 0
        out.append(
            VoucherParameters(
                service_id=service,
                name=f"Gift card {n}",
                type=VoucherType.PUBLIC,
                assigned_rate_ids=rates if full else None,
                occupiable_interval_start_utc=START if full else None,
                occupiable_interval_end_utc=START + timedelta(days=90) if full else None,
                external_identifier=f"gift-{n}",
            )
        )
    return out


@cache
def voucher_updates() -> list[VoucherUpdate]:
    """Return 1000 updates: a new name, a cleared identifier, a new interval end."""
    rng = uuid.UUID(int=8)
    return [
        VoucherUpdate(
            voucher_id=uuid.uuid5(rng, str(n)),
            name=f"Renamed {n}",
            external_identifier=None,
            occupiable_interval_end_utc=START + timedelta(days=n % 300),
        )
        for n in range(ITEMS)
    ]


# --- the operations ----------------------------------------------------------------------------


def sdk_decode_page(raw: bytes) -> VouchersResult:
    """Read a page's body into models as the SDK's requester does (msgspec, see _fastwire)."""
    return decode(raw, VouchersResult)


def sdk_structure_page(data: dict[str, Any]) -> VouchersResult:
    """Structure a decoded page with the converter alone (the fast path's fallback)."""
    return structure(data, VouchersResult)


def floor_loads_page(raw: bytes) -> Any:
    """The baseline of reading a page: decoding it to dicts, no models."""
    return orjson.loads(raw)


def pydantic_validate_page(raw: bytes) -> PdVouchersPage:
    """Read the same body with the pydantic peer (model_validate_json)."""
    return PdVouchersPage.model_validate_json(raw)


def sdk_unstructure_add(params: list[VoucherParameters]) -> bytes:
    """Unstructure and encode the parameters of an add request as the SDK does."""
    return encode(unstructure(VoucherAddRequest(voucher_parameters=params)))


# The least a hand-written client does: dicts holding the ids and datetimes as they are,
# encoded by orjson with UTC written as "Z" in whole seconds.
ORJSON_WIRE = orjson.OPT_UTC_Z | orjson.OPT_OMIT_MICROSECONDS


def hand_unstructure_add(params: list[VoucherParameters]) -> bytes:
    """Write the same wire data by hand and encode it: the baseline of unstructuring."""
    items = []
    for p in params:
        item: dict[str, Any] = {"ServiceId": p.service_id, "Name": p.name, "Type": p.type.value}
        if p.company_id is not None:
            item["CompanyId"] = p.company_id
        if p.assigned_rate_ids is not None:
            item["AssignedRateIds"] = list(p.assigned_rate_ids)
        if p.occupiable_interval_start_utc is not None:
            item["OccupiableIntervalStartUtc"] = p.occupiable_interval_start_utc
        if p.occupiable_interval_end_utc is not None:
            item["OccupiableIntervalEndUtc"] = p.occupiable_interval_end_utc
        if p.external_identifier is not None:
            item["ExternalIdentifier"] = p.external_identifier
        items.append(item)
    return orjson.dumps({"VoucherParameters": items}, option=ORJSON_WIRE)


def sdk_unstructure_updates(updates: list[VoucherUpdate]) -> bytes:
    """Unstructure and encode update wrappers (``{"Value": ...}`` / null) as the SDK does."""
    return encode(unstructure(VoucherUpdateRequest(voucher_updates=updates)))


def _wrap(value: Any) -> dict[str, Any]:
    if isinstance(value, VoucherType):
        return {"Value": value.value}
    if isinstance(value, tuple):
        return {"Value": list(value)}
    return {"Value": value}


_UPDATE_KEYS = (
    ("name", "Name"),
    ("type", "Type"),
    ("company_id", "CompanyId"),
    ("assigned_rate_ids", "AssignedRateIds"),
    ("occupiable_interval_start_utc", "OccupiableIntervalStartUtc"),
    ("occupiable_interval_end_utc", "OccupiableIntervalEndUtc"),
    ("external_identifier", "ExternalIdentifier"),
)


def hand_unstructure_updates(updates: list[VoucherUpdate]) -> bytes:
    """Write the same update wrappers by hand and encode them: the baseline."""
    items = []
    for u in updates:
        item: dict[str, Any] = {"VoucherId": u.voucher_id}
        for name, key in _UPDATE_KEYS:
            value = getattr(u, name)
            item[key] = None if value is UNSET else _wrap(value)
        items.append(item)
    return orjson.dumps({"VoucherUpdates": items}, option=ORJSON_WIRE)
