"""The simulator over raw HTTP: transport, authentication, errors, token scopes, request limit."""

from __future__ import annotations

import io
import uuid
from typing import Any

import aiohttp
import pytest

from mews_vouchers._config import RateLimit
from mews_vouchers._constants import (
    API_PREFIX,
    MAX_ITEMS_PER_REQUEST,
    VOUCHER_CODES_ADD,
    VOUCHER_CODES_DELETE,
    VOUCHERS_ADD,
    VOUCHERS_DELETE,
    VOUCHERS_GET_ALL,
    VOUCHERS_UPDATE,
)
from mews_vouchers.testing import Fault
from tests.support.raw_http import World, paths, voucher, world_of

pytestmark = pytest.mark.anyio


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
    # Named by operation: an id made of a random UUID is a new test id on every run.
    ids=[VOUCHERS_ADD, VOUCHERS_UPDATE, VOUCHERS_DELETE, VOUCHER_CODES_ADD, VOUCHER_CODES_DELETE],
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
