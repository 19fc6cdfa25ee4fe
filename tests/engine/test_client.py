"""The client: configuration, from_env, lifecycle, session ownership, logging."""

from __future__ import annotations

import logging
import math
import uuid
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from mews_vouchers import (
    DEMO_URL,
    PRODUCTION_URL,
    BulkOperationError,
    ForbiddenError,
    MewsClient,
    MewsConfigError,
    MewsConnectionError,
    RateLimitError,
    RetryPolicy,
    VoucherParameters,
    VoucherType,
)
from mews_vouchers.testing import Fault, Hotel, MewsSimulator
from tests.conftest import make_client
from tests.support.hostile import ScriptedServer

pytestmark = pytest.mark.anyio

GOOD: dict[str, Any] = {"client_token": "c" * 30, "access_token": "a" * 30, "client": "App 1.0"}


def test_urls() -> None:
    """The documented platform addresses."""
    assert DEMO_URL == "https://api.mews-demo.com"
    assert PRODUCTION_URL == "https://api.mews.com"
    assert MewsClient(**GOOD).base_url == DEMO_URL


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"client_token": ""}, "client_token"),
        ({"access_token": None}, "access_token"),
        ({"client": "  "}, "client"),
        ({"base_url": "api.mews.com"}, "base_url"),
        ({"base_url": "http://127.0.0.1:99999"}, "base_url"),
        ({"base_url": "http://"}, "base_url"),
        ({"base_url": "http://[::1"}, "base_url"),
        ({"base_url": "http://127.0.0.1:0"}, "base_url"),
        ({"base_url": "ftp://api.mews.com"}, "base_url"),
        ({"base_url": "https://api.mews.com/?x=1"}, "base_url"),
        ({"base_url": "https://api .mews.com"}, "base_url"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"chunk_size": 1001}, "chunk_size"),
        ({"page_size": 1001}, "page_size"),
        ({"page_size": 0}, "page_size"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": "60"}, "timeout"),
        ({"timeout": math.nan}, "timeout"),
        ({"timeout": -1.0}, "timeout"),
        ({"timeout": -math.inf}, "timeout"),
        ({"timeout": True}, "timeout"),
        ({"rate_limit": (200, 30)}, "rate_limit"),
        ({"retry": 3}, "retry"),
        ({"session": object()}, "session"),
        ({"language_code": "cs-CZ"}, "language_code and culture_code"),
        ({"culture_code": "cs-CZ"}, "language_code and culture_code"),
        ({"language_code": "", "culture_code": "cs-CZ"}, "language_code"),
        ({"language_code": "cs-CZ", "culture_code": 5}, "culture_code"),
    ],
)
def test_bad_configuration_names_the_parameter(override: dict[str, Any], named: str) -> None:
    """Each bad setting is a MewsConfigError that names it."""
    with pytest.raises(MewsConfigError, match=named):
        MewsClient(**{**GOOD, **override})


@pytest.mark.parametrize(
    "given",
    [
        "https://user:s3cret-pw@api.mews.com",
        "https://user:s3cret-pw@api.mews.com:99999",  # refused for its port first
        "ftp://user:s3cret-pw@api.mews.com",
        "https://:s3cret-pw@api.mews.com/path",
        "https://user:s3cret-pw@[::1",  # does not parse at all
    ],
)
def test_credentials_in_base_url_are_refused_and_never_shown(given: str) -> None:
    """A base_url with a user or password is refused; no message shows the password."""
    with pytest.raises(MewsConfigError, match="base_url") as info:
        MewsClient(**{**GOOD, "base_url": given})
    assert "s3cret-pw" not in str(info.value)
    assert "s3cret-pw" not in repr(info.value)


def test_a_user_without_password_in_base_url_is_refused() -> None:
    """User information alone would be sent as Basic authentication too."""
    with pytest.raises(MewsConfigError, match="user or password"):
        MewsClient(**{**GOOD, "base_url": "https://someone@api.mews.com"})


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("https://api.mews.com/", "https://api.mews.com"),
        (" http://[::1]:8080/proxy/mews/ ", "http://[::1]:8080/proxy/mews"),
        ("http://127.0.0.1:65535", "http://127.0.0.1:65535"),
    ],
)
def test_usable_base_urls_are_kept(given: str, kept: str) -> None:
    """A usable base_url is kept, without surrounding blanks or trailing slashes."""
    assert MewsClient(**GOOD, base_url=given).base_url == kept


def test_from_env_reads_the_four_variables() -> None:
    """from_env takes MEWS_* variables; keyword arguments override and add."""
    env = {
        "MEWS_CLIENT_TOKEN": "ct" * 10,
        "MEWS_ACCESS_TOKEN": "at" * 10,
        "MEWS_CLIENT": "Env 2.0",
        "MEWS_BASE_URL": "http://127.0.0.1:1",
    }
    client = MewsClient.from_env(env, chunk_size=10, client="Override 3.0")
    assert client.base_url == "http://127.0.0.1:1"
    assert client.client_name == "Override 3.0"
    assert client.chunk_size == 10
    defaulted = MewsClient.from_env({k: v for k, v in env.items() if k != "MEWS_BASE_URL"})
    assert defaulted.base_url == DEMO_URL


@pytest.mark.parametrize("missing", ["MEWS_CLIENT_TOKEN", "MEWS_ACCESS_TOKEN", "MEWS_CLIENT"])
def test_from_env_names_a_missing_variable(missing: str) -> None:
    """A missing required variable is a MewsConfigError naming it."""
    env = {"MEWS_CLIENT_TOKEN": "x" * 20, "MEWS_ACCESS_TOKEN": "y" * 20, "MEWS_CLIENT": "c"}
    del env[missing]
    with pytest.raises(MewsConfigError, match=missing):
        MewsClient.from_env(env)


def test_from_env_uses_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a mapping, os.environ is read."""
    monkeypatch.setenv("MEWS_CLIENT_TOKEN", "k" * 20)
    monkeypatch.setenv("MEWS_ACCESS_TOKEN", "l" * 20)
    monkeypatch.setenv("MEWS_CLIENT", "Proc 1.0")
    monkeypatch.delenv("MEWS_BASE_URL", raising=False)
    assert MewsClient.from_env().client_name == "Proc 1.0"


def test_repr_masks_tokens() -> None:
    """repr shows the first and last four characters of each token only."""
    client = MewsClient(
        client_token="E0D439EE522F44368DC78E1BFB03710C-D24FB11DBE31D4621C4817E028D9E1D",
        access_token="C66EF7B239D24632943D115EDE9CB810-EA00F8FD8294692C940F6B5A8F9453D",
        client="App",
    )
    text = repr(client)
    assert "C66E…453D" in text and "E0D4…9E1D" in text
    assert "C66EF7B239D24632943D115EDE9CB810" not in text


async def test_async_with_closes_owned_session(sim: MewsSimulator, hotel: Hotel) -> None:
    """After the block, the client is closed and refuses further calls."""
    async with make_client(sim) as client:
        await client.vouchers.get_all(service_ids=[hotel.service_id])
    assert client.closed
    with pytest.raises(MewsConnectionError, match="closed"):
        await client.vouchers.get_all(service_ids=[hotel.service_id])
    await client.aclose()  # idempotent


async def test_callers_session_is_used_and_never_closed(sim: MewsSimulator, hotel: Hotel) -> None:
    """A session passed in carries the requests and stays open after aclose."""
    async with aiohttp.ClientSession() as session:
        async with make_client(sim, session=session) as client:
            await client.vouchers.get_all(service_ids=[hotel.service_id])
        assert not session.closed
        async with session.get(sim.base_url + "/") as response:
            assert response.status in (404, 405)


async def test_one_debug_line_per_request_without_tokens(
    sim: MewsSimulator, hotel: Hotel, caplog: pytest.LogCaptureFixture
) -> None:
    """Each request logs operation, items, status, duration, RequestId and attempt at DEBUG."""
    caplog.set_level(logging.DEBUG, logger="mews_vouchers")
    async with make_client(sim, chunk_size=2) as client:
        items = [
            VoucherParameters(service_id=hotel.service_id, name=f"n{i}", type=VoucherType.PUBLIC)
            for i in range(5)
        ]
        await client.vouchers.add(items, enterprise_id=hotel.enterprise_id)
    lines = [r.getMessage() for r in caplog.records if r.name == "mews_vouchers"]
    assert len(lines) == 3 == len(sim.requests)
    ids = {r.body["AccessToken"] for r in sim.requests if r.body}
    for line in lines:
        assert line.startswith("vouchers/add items=")
        for field in ("status=200", "duration=", "request_id=", "attempt=1"):
            assert field in line
        assert not any(token in line for token in ids | {sim.client_token})
    assert sorted(int(line.split("items=")[1].split()[0]) for line in lines) == [1, 2, 2]


async def test_stats_count_requests(sim: MewsSimulator, hotel: Hotel) -> None:
    """client.stats counts the requests sent."""
    async with make_client(sim) as client:
        await client.vouchers.get_all(service_ids=[hotel.service_id])
        assert client.stats.requests == 1
        assert client.stats.retries == 0


async def test_callers_session_defaults_do_not_change_the_answers(
    sim: MewsSimulator, hotel: Hotel
) -> None:
    """A session with raise_for_status=True still gives ForbiddenError and RateLimitError."""
    async with aiohttp.ClientSession(raise_for_status=True) as session:
        async with make_client(sim, session=session) as client:
            with pytest.raises(BulkOperationError) as info:
                await client.vouchers.add(
                    [VoucherParameters(service_id=hotel.service_id, name="V", type="Public")],
                    enterprise_id=uuid.uuid4(),  # out of the token's reach: 403
                )
            [failure] = info.value.failures
            assert isinstance(failure.error, ForbiddenError) and not failure.ambiguous
            sim.inject(Fault.RATE_LIMIT, retry_after="0")
            await client.vouchers.get_all(service_ids=[hotel.service_id])
            assert client.stats.rate_limited == 1
        no_patience = RetryPolicy(max_rate_limited=0)
        async with make_client(sim, session=session, retry=no_patience) as client:
            sim.inject(Fault.RATE_LIMIT, retry_after="0")
            with pytest.raises(RateLimitError):
                await client.vouchers.get_all(service_ids=[hotel.service_id])


async def test_callers_session_without_decompression_still_reads_gzip() -> None:
    """A session with auto_decompress=False does not make compressed answers unreadable."""

    async def handler(request: web.Request, _: dict[str, Any]) -> web.StreamResponse:
        response = web.json_response({"Vouchers": [], "Cursor": None})
        response.enable_compression()
        return response

    async with (
        ScriptedServer(handler) as server,
        aiohttp.ClientSession(auto_decompress=False) as session,
    ):
        client = MewsClient(**GOOD, base_url=server.base_url, session=session)
        async with client:
            result = await client.vouchers.get_all(service_ids=[uuid.uuid4()])
    assert result.vouchers == []


@pytest.mark.parametrize("seconds", [math.inf, 1e300])
async def test_an_infinite_timeout_is_no_limit(
    sim: MewsSimulator, hotel: Hotel, seconds: float
) -> None:
    """timeout=math.inf means no per-request limit: calls work, no bare OverflowError."""
    async with make_client(sim, timeout=seconds) as client:
        [voucher] = await client.vouchers.add(
            [VoucherParameters(service_id=hotel.service_id, name="V", type=VoucherType.PUBLIC)],
            enterprise_id=hotel.enterprise_id,
        )
        result = await client.vouchers.get_all(service_ids=[hotel.service_id])
    assert [v.id for v in result.vouchers] == [voucher.id]


async def test_waiting_for_a_pooled_connection_is_not_the_timeout() -> None:
    """Chunks queued behind a one-connection pool wait their turn: none times out in doubt."""
    async with MewsSimulator(latency=0.1) as sim:
        hotel = sim.add_hotel()
        params = [
            VoucherParameters(service_id=hotel.service_id, name=f"V{n}", type=VoucherType.PUBLIC)
            for n in range(8)
        ]
        connector = aiohttp.TCPConnector(limit=1)
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            # Eight chunks at once, each answered after 0.1 s, one connection: the last
            # waits about 0.7 s for it, far beyond its 0.3 s timeout.
            make_client(sim, session=session, timeout=0.3, chunk_size=1) as client,
        ):
            vouchers = await client.vouchers.add(params, enterprise_id=hotel.enterprise_id)
        assert sorted(v.name for v in vouchers) == [p.name for p in params]
        assert client.stats.requests == 8 and client.stats.retries == 0
        assert len(sim.vouchers()) == 8


async def test_a_closed_callers_session_is_a_config_error(sim: MewsSimulator, hotel: Hotel) -> None:
    """A caller's session closed under the client gives MewsConfigError, not a RuntimeError."""
    session = aiohttp.ClientSession()
    await session.close()
    async with make_client(sim, session=session) as client:
        with pytest.raises(MewsConfigError, match=r"session .* is closed"):
            await client.vouchers.get_all(service_ids=[hotel.service_id])
    assert sim.requests == []


async def test_language_and_culture_go_with_every_request(sim: MewsSimulator, hotel: Hotel) -> None:
    """language_code and culture_code are sent as LanguageCode and CultureCode, every time."""
    async with make_client(sim, language_code="cs-CZ", culture_code="cs-CZ") as client:
        [voucher] = await client.vouchers.add(
            [VoucherParameters(service_id=hotel.service_id, name="V", type=VoucherType.PUBLIC)],
            enterprise_id=hotel.enterprise_id,
        )
        await client.vouchers.get_all(service_ids=[hotel.service_id])
        await client.voucher_codes.get_all(voucher_ids=[voucher.id])
        await client.vouchers.delete([voucher.id], enterprise_id=hotel.enterprise_id)
    assert len(sim.requests) == 4
    for request in sim.requests:
        assert request.status == 200
        assert request.body is not None
        assert (request.body["LanguageCode"], request.body["CultureCode"]) == ("cs-CZ", "cs-CZ")
    async with make_client(sim) as client:
        await client.vouchers.get_all(service_ids=[hotel.service_id])
    assert not {"LanguageCode", "CultureCode"} & set(sim.requests[-1].body or {})
