"""Every error status maps to the documented exception, with what a person needs to act."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from conftest import Hotel, make_client
from hostile import ScriptedServer, answer

from mews_vouchers import (
    AuthenticationError,
    BadRequestError,
    BulkOperationError,
    ForbiddenError,
    MewsApiError,
    MewsClient,
    MewsConnectionError,
    MewsError,
    RateLimitError,
    RequestTimeoutError,
    RetryPolicy,
    ServerError,
    VoucherParameters,
    VoucherType,
)
from mews_vouchers.testing import Fault, MewsSimulator

pytestmark = pytest.mark.anyio

CLIENT_TOKEN = "E0D439EE522F44368DC78E1BFB03710C-D24FB11DBE31D4621C4817E028D9E1D"
ACCESS_TOKEN = "C66EF7B239D24632943D115EDE9CB810-EA00F8FD8294692C940F6B5A8F9453D"


def scripted_client(server: ScriptedServer, **kw: Any) -> MewsClient:
    return MewsClient(
        client_token=CLIENT_TOKEN,
        access_token=ACCESS_TOKEN,
        client="tests 1.0",
        base_url=server.base_url,
        rate_limit=None,
        retry=RetryPolicy(max_attempts=2, initial_backoff=0.001, max_backoff=0.001),
        **kw,
    )


async def test_bad_token_is_authentication_error(sim: MewsSimulator, hotel: Hotel) -> None:
    """401: an unknown access token; the token is not in the message."""
    async with make_client(sim, access_token="X" * 40) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.vouchers.get_all(service_ids=[hotel.service_id])
    error = info.value
    assert error.status == 401
    assert error.request_id
    assert "X" * 40 not in str(error)


async def test_server_side_validation_is_bad_request(client: MewsClient, hotel: Hotel) -> None:
    """400 with Message, RequestId and Details, for a service the server does not know."""
    unknown = VoucherParameters(
        service_id="00000000-0000-4000-8000-000000000000", name="x", type=VoucherType.PUBLIC
    )
    with pytest.raises(BulkOperationError) as info:
        await client.vouchers.add([unknown], enterprise_id=hotel.enterprise_id)
    error = info.value.failures[0].error
    assert isinstance(error, BadRequestError)
    assert error.status == 400
    assert error.message
    assert error.request_id
    assert error.operation == "vouchers/add"
    assert info.value.__cause__ is None or isinstance(info.value.__cause__, MewsError)


async def test_business_rule_is_forbidden(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """403: a company of another enterprise breaks a business rule."""
    other = sim.add_enterprise(name="Other")
    foreign_company = sim.add_company(other)
    item = VoucherParameters(
        service_id=hotel.service_id,
        name="x",
        type=VoucherType.PARTNER_COMPANY,
        company_id=foreign_company,
    )
    with pytest.raises(BulkOperationError) as info:
        await client.vouchers.add([item], enterprise_id=hotel.enterprise_id)
    assert isinstance(info.value.failures[0].error, ForbiddenError)
    assert info.value.failures[0].error.status == 403


@pytest.mark.parametrize(
    ("fault", "cls", "status"),
    [
        (Fault.TIMEOUT, RequestTimeoutError, 408),
        (Fault.RATE_LIMIT, RateLimitError, 429),
        (Fault.SERVER_ERROR_BEFORE, ServerError, 500),
    ],
)
async def test_retried_statuses_surface_when_attempts_run_out(
    sim: MewsSimulator, hotel: Hotel, fault: Fault, cls: type[MewsApiError], status: int
) -> None:
    """408, 429 and 5xx map to their classes once the retries are spent."""
    sim.inject(fault, times=50, operation="vouchers/getAll")
    async with make_client(
        sim, retry=RetryPolicy(max_attempts=2, initial_backoff=0.001, max_retry_after=0.01)
    ) as client:
        with pytest.raises(cls) as info:
            await client.vouchers.get_all(
                service_ids=[hotel.service_id],
            )
    assert info.value.status == status
    if isinstance(info.value, RateLimitError):
        assert info.value.retry_after == 1.0  # the server's "1" in full, over max_retry_after


async def test_wrong_path_is_an_api_error(sim: MewsSimulator, hotel: Hotel) -> None:
    """A base URL with a wrong prefix meets 404, a plain MewsApiError."""
    async with make_client(sim, base_url=sim.base_url + "/nope") as client:
        with pytest.raises(MewsApiError) as info:
            await client.vouchers.get_all(service_ids=[hotel.service_id])
    assert info.value.status == 404


async def test_connection_refused_is_a_connection_error(hotel: Hotel) -> None:
    """Nothing listening: MewsConnectionError, known not to have reached a server."""
    client = MewsClient(
        client_token="c" * 20,
        access_token="a" * 20,
        client="t",
        base_url="http://127.0.0.1:9",
        retry=RetryPolicy(max_attempts=2, initial_backoff=0.001),
        rate_limit=None,
    )
    async with client:
        with pytest.raises(MewsConnectionError) as info:
            await client.vouchers.get_all(service_ids=[hotel.service_id])
    assert info.value.ambiguous is False
    assert isinstance(info.value.__cause__, Exception)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, b"<html><body>Gateway</body></html>", "not JSON"),
        (200, b'{"Vouchers": [', "not JSON"),
        (200, b"[1, 2]", "expected a JSON object"),
        (200, b'{"Vouchers": [{"Id": 5}]}', "malformed"),
        (200, b'{"Vouchers": "lots"}', "malformed"),
        (200, b'{"Vouchers": [{"Id": "not-a-uuid", "ServiceId": "x"}]}', "malformed"),
        (502, b"<html>Bad gateway</html>", "Bad gateway"),
        (400, b'{"Message": 12}', "no error message"),
    ],
)
async def test_malformed_bodies_are_clear_api_errors(
    status: int, body: bytes, expected: str
) -> None:
    """A body that is not the API's is a MewsApiError naming the problem, never a parse error."""
    async with ScriptedServer(answer(status, body)) as server, scripted_client(server) as client:
        with pytest.raises(MewsApiError, match=expected) as info:
            await client.vouchers.get_all(service_ids=["bd26d8db-86da-4f96-9efc-e5a4654a4a94"])
    assert info.value.status == status


async def test_request_id_from_header_when_body_has_none() -> None:
    """RequestId comes from the body, else from the Request-Id header."""
    handler = answer(
        403,
        {"Message": "No.", "RequestId": None, "Details": {"Rule": "x"}},
        {"Request-Id": "hdr-123"},
    )
    async with ScriptedServer(handler) as server, scripted_client(server) as client:
        with pytest.raises(ForbiddenError) as info:
            await client.vouchers.get_all(service_ids=["bd26d8db-86da-4f96-9efc-e5a4654a4a94"])
    assert info.value.request_id == "hdr-123"
    assert info.value.details == {"Rule": "x"}
    assert info.value.message == "No."


async def test_tokens_quoted_by_the_server_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    """A token quoted by the server never shows whole: not in str, repr, details or logs."""
    handler = answer(
        401,
        {
            "Message": f"Invalid AccessToken {ACCESS_TOKEN} for client {CLIENT_TOKEN}",
            "RequestId": "r1",
            "Details": {"Token": ACCESS_TOKEN},
        },
    )
    caplog.set_level(logging.DEBUG, logger="mews_vouchers")
    async with ScriptedServer(handler) as server, scripted_client(server) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.vouchers.get_all(service_ids=["bd26d8db-86da-4f96-9efc-e5a4654a4a94"])
        shown = " ".join(
            [
                str(info.value),
                repr(info.value),
                repr(client),
                info.value.message,
                str(info.value.details),
                caplog.text,
            ]
        )
    for token in (ACCESS_TOKEN, CLIENT_TOKEN):
        assert token not in shown
    assert "C66E…453D" in info.value.message
    assert "C66E…453D" in repr(client)
    # ...while the request itself carried the real tokens.
    assert server.received[0]["AccessToken"] == ACCESS_TOKEN
