"""The client: configuration, from_env, lifecycle, session ownership, logging."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import pytest
from conftest import Hotel, make_client

from mews_vouchers import (
    DEMO_URL,
    PRODUCTION_URL,
    MewsClient,
    MewsConfigError,
    MewsConnectionError,
    VoucherParameters,
    VoucherType,
)
from mews_vouchers.testing import MewsSimulator

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
        ({"chunk_size": 0}, "chunk_size"),
        ({"chunk_size": 1001}, "chunk_size"),
        ({"page_size": 1001}, "page_size"),
        ({"page_size": 0}, "page_size"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": "60"}, "timeout"),
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
