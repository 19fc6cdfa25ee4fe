"""Every error status maps to the documented exception, with what a person needs to act."""

from __future__ import annotations

import logging
import traceback
from typing import Any

import pytest

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
from mews_vouchers._secrets import scrub
from mews_vouchers.testing import Fault, Hotel, MewsSimulator
from tests.conftest import make_client
from tests.support.hostile import ScriptedServer, answer

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
    foreign_company = sim.add_hotel("Other").company_id
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


@pytest.mark.parametrize("details", ["at Mews.Vouchers.Add()\n  inner: x", {"Rule": "x"}, None])
async def test_request_id_from_header_when_body_has_none(details: object) -> None:
    """RequestId comes from the body, else the header; Details as sent (a string, or an object)."""
    handler = answer(
        403,
        {"Message": "No.", "RequestId": None, "Details": details},
        {"Request-Id": "hdr-123"},
    )
    async with ScriptedServer(handler) as server, scripted_client(server) as client:
        with pytest.raises(ForbiddenError) as info:
            await client.vouchers.get_all(service_ids=["bd26d8db-86da-4f96-9efc-e5a4654a4a94"])
    assert info.value.request_id == "hdr-123"
    assert info.value.details == details
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


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_is_a_refusal_not_a_doubt(status: int) -> None:
    """A 3xx is not followed nor applied: an add fails once, not ambiguous, naming the target."""
    elsewhere = "https://api.mews.com/api/connector/v1/vouchers/add"
    handler = answer(status, b"", {"Location": elsewhere})
    params = [
        VoucherParameters(
            service_id="bd26d8db-86da-4f96-9efc-e5a4654a4a94",
            name="V",
            type=VoucherType.PUBLIC,
            external_identifier="x-1",
        )
    ]
    async with ScriptedServer(handler) as server, scripted_client(server) as client:
        with pytest.raises(BulkOperationError) as info:
            await client.vouchers.add(params, enterprise_id="bd26d8db-86da-4f96-9efc-e5a4654a4a94")
        with pytest.raises(MewsApiError) as read:
            await client.vouchers.get_all(service_ids=["bd26d8db-86da-4f96-9efc-e5a4654a4a94"])
    [failure] = info.value.failures
    assert not failure.ambiguous
    assert isinstance(failure.error, MewsApiError) and failure.error.status == status
    assert elsewhere in failure.error.message and "base_url" in failure.error.message
    assert "may have been applied" not in str(info.value)
    assert read.value.status == status
    assert len(server.received) == 2  # neither retried nor looked up


def everything_shown(error: BaseException) -> str:
    """Every text a person could read off *error*: traceback, chain, arguments, attributes."""
    texts = ["".join(traceback.format_exception(error))]
    stack, seen = [error], set()
    while stack:
        exc = stack.pop()
        if id(exc) in seen:
            continue
        seen.add(id(exc))
        texts += [str(exc), repr(exc.args), repr(vars(exc))]
        stack += [e for e in (exc.__cause__, exc.__context__) if e is not None]
        if isinstance(exc, BaseExceptionGroup):
            stack += exc.exceptions
    return "\n".join(texts)


def leaks(text: str, token: str) -> bool:
    """Whether *text* shows more of *token* than its mask does (any 9 characters in a row)."""
    return any(token[i : i + 9] in text for i in range(len(token) - 8))


VOUCHER_ECHO = {
    "Id": "bd26d8db-86da-4f96-9efc-e5a4654a4a94",
    "ServiceId": "bd26d8db-86da-4f96-9efc-e5a4654a4a94",
    "Name": "x",
    "Type": "Public",
    "IsActive": True,
    "CreatedUtc": ACCESS_TOKEN,  # a field the server filled with what it was sent
    "UpdatedUtc": "2024-01-01T00:00:00Z",
}


@pytest.mark.parametrize(
    ("status", "body", "headers"),
    [
        pytest.param(200, {"Vouchers": [VOUCHER_ECHO], "Cursor": None}, {}, id="unreadable-field"),
        # Only the JSON error's document holds it: its stand-in cause has no document.
        pytest.param(200, f'{{"Vouchers": ["{ACCESS_TOKEN}"', {}, id="truncated-json"),
        pytest.param(500, b"x" * 180 + ACCESS_TOKEN.encode() + b"!" * 50, {}, id="no-message-cut"),
        pytest.param(
            403, {"Message": "No.", "Details": f"AccessToken={ACCESS_TOKEN}"}, {}, id="details"
        ),
        pytest.param(400, b"", {"Request-Id": ACCESS_TOKEN}, id="request-id-header"),
        pytest.param(302, b"", {"Location": f"https://x/?t={ACCESS_TOKEN}"}, id="location"),
    ],
)
async def test_a_token_echoed_anywhere_is_masked_everywhere(
    status: int, body: Any, headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """A token the server echoes never shows, whole or in part: message, causes, log."""
    caplog.set_level(logging.DEBUG, logger="mews_vouchers")
    async with (
        ScriptedServer(answer(status, body, headers)) as server,
        scripted_client(server) as client,
    ):
        with pytest.raises(MewsApiError) as info:
            await client.vouchers.get_all(service_ids=["bd26d8db-86da-4f96-9efc-e5a4654a4a94"])
    shown = everything_shown(info.value) + str(info.value.details) + caplog.text
    assert not leaks(shown, ACCESS_TOKEN)
    if isinstance(body, bytes | dict):
        assert "C66E…453D" in shown  # masked, not dropped: the echo is still recognisable
    else:
        assert type(info.value.__cause__).__name__ == "RedactedError"


def test_scrub_replaces_a_group_cause_quoting_a_token_in_a_note() -> None:
    """A cattrs-style group whose member's note quotes the token is replaced, masked."""
    inner = ValueError("bad value")
    inner.add_note(f"Structuring Voucher @ attribute created_utc = {ACCESS_TOKEN!r}")
    error = MewsApiError("malformed response", status=200)
    error.__cause__ = ExceptionGroup("While structuring VouchersResult", [inner])
    clean = MewsApiError("malformed response", status=200)
    clean.__cause__ = ValueError("badly formed hexadecimal UUID string")
    kept = clean.__cause__
    scrub(error, [ACCESS_TOKEN, CLIENT_TOKEN])
    scrub(clean, [ACCESS_TOKEN, CLIENT_TOKEN])
    assert not leaks(everything_shown(error), ACCESS_TOKEN)
    assert "created_utc = 'C66E…453D'" in str(error.__cause__)
    assert clean.__cause__ is kept  # a cause without a token stays what it was
