"""The simulator's setup and inspection: seeding, reproducibility, the request log."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import aiohttp
import pytest

from mews_vouchers._constants import VOUCHERS_ADD, VOUCHERS_DELETE, VOUCHERS_GET_ALL
from mews_vouchers.testing import Fault, MewsSimulator, RecordedRequest
from mews_vouchers.testing import Hotel as SeededHotel
from tests.support.raw_http import World, voucher, world_of

pytestmark = pytest.mark.anyio


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
