"""Hostile servers: every bad answer ends in one clear MewsError, never a hang or a bare error.

Each case is served by :class:`hostile.ScriptedServer` (or, for the body limit, a
transport with a small ``max_body``).  Every call runs under ``anyio.fail_after``, so a
hang or an endless loop fails the test instead of stalling the suite.  For writes, the
failure must carry the right ambiguity: an answer that was a success (2xx/3xx) whose body
cannot be read, a 408, a 5xx, a lost connection and a timeout may all have been applied
(``ambiguous=True``); a 4xx other than 408 was refused (``ambiguous=False``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import anyio
import anyio.to_thread
import orjson
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mews_vouchers import (
    BulkOperationError,
    MewsApiError,
    MewsClient,
    MewsConnectionError,
    MewsError,
    MewsTimeoutError,
    PaginationError,
    RetryPolicy,
    ServerError,
    VoucherCodeParameters,
    VoucherParameters,
    VoucherType,
    VoucherUpdate,
)
from mews_vouchers._transport import AiohttpTransport
from tests.support.hostile import Handler, ScriptedServer, answer

pytestmark = pytest.mark.anyio

SERVICE = "bd26d8db-86da-4f96-9efc-e5a4654a4a94"
ENTERPRISE = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
VOUCHER_ID = "fe568bbd-1ecb-4bb2-bf77-96c3698de20d"
# Nothing here may take long: a hang is a failure, not a slow pass.
LIMIT = 5.0
# Retries that cost nothing, and a 429's Retry-After (of any size) waited for 10 ms at most.
QUICK = RetryPolicy(max_attempts=2, initial_backoff=0.001, max_backoff=0.001, max_retry_after=0.01)

VOUCHER: dict[str, Any] = {
    "Id": VOUCHER_ID,
    "ServiceId": SERVICE,
    "EnterpriseId": ENTERPRISE,
    "Name": "Weekend",
    "CreatedUtc": "2024-01-01T00:00:00Z",
    "UpdatedUtc": "2024-01-02T00:00:00Z",
    "Type": "Public",
    "ActivityState": "Active",
    "CompanyId": None,
    "TravelAgencyId": None,
    "OccupiableIntervalStartUtc": None,
    "OccupiableIntervalEndUtc": None,
    "ExternalIdentifier": "ext-0",
    "IsActive": True,
}


def voucher(n: int = 0, **changes: Any) -> dict[str, Any]:
    """A valid wire voucher, the n-th of a made-up series, with *changes* applied."""
    return {**VOUCHER, "Id": str(uuid.UUID(int=n + 1, version=4)), **changes}


def scripted_client(server: ScriptedServer, **kw: Any) -> MewsClient:
    options: dict[str, Any] = {
        "client_token": "c" * 20,
        "access_token": "a" * 20,
        "client": "hostile tests 1.0",
        "base_url": server.base_url,
        "rate_limit": None,
        "retry": QUICK,
        "timeout": 2.0,
    }
    options.update(kw)
    return MewsClient(**options)


@contextlib.asynccontextmanager
async def serving(handler: Handler, **kw: Any) -> AsyncIterator[tuple[ScriptedServer, MewsClient]]:
    async with ScriptedServer(handler) as server, scripted_client(server, **kw) as client:
        yield server, client


def params(n: int, *, ext: bool = False) -> list[VoucherParameters]:
    return [
        VoucherParameters(
            service_id=SERVICE,
            name=f"H{i}",
            type=VoucherType.PUBLIC,
            external_identifier=f"ext-{i}" if ext else None,
        )
        for i in range(n)
    ]


# --- one call of each kind, and what its failure must look like -------------------------------

Call = Callable[[MewsClient], Awaitable[object]]


async def _iter_all(client: MewsClient) -> object:
    async with client.vouchers.iter_all(service_ids=[SERVICE]) as vouchers:
        return [v async for v in vouchers]


async def _iter_codes(client: MewsClient) -> object:
    async with client.voucher_codes.iter_all(voucher_ids=[VOUCHER_ID]) as codes:
        return [c async for c in codes]


READS: dict[str, Call] = {
    "vouchers.get_all": lambda c: c.vouchers.get_all(service_ids=[SERVICE]),
    "vouchers.iter_all": _iter_all,
    "voucher_codes.get_all": lambda c: c.voucher_codes.get_all(voucher_ids=[VOUCHER_ID]),
    "voucher_codes.iter_all": _iter_codes,
}
WRITES: dict[str, Call] = {
    "vouchers.add": lambda c: c.vouchers.add(params(2), enterprise_id=ENTERPRISE),
    "vouchers.update": lambda c: c.vouchers.update(
        [VoucherUpdate(voucher_id=VOUCHER_ID, name="New")], enterprise_id=ENTERPRISE
    ),
    "vouchers.delete": lambda c: c.vouchers.delete([VOUCHER_ID], enterprise_id=ENTERPRISE),
    "voucher_codes.add": lambda c: c.voucher_codes.add(
        [VoucherCodeParameters(voucher_id=VOUCHER_ID, value="CODE")], enterprise_id=ENTERPRISE
    ),
    "voucher_codes.delete": lambda c: c.voucher_codes.delete(
        [VOUCHER_ID], enterprise_id=ENTERPRISE
    ),
}


async def outcome_of(client: MewsClient, call: Call) -> object:
    """Run *call* quickly; return its result or the MewsError it raised (nothing else)."""
    with anyio.fail_after(LIMIT):
        try:
            return await call(client)
        except MewsError as exc:
            return exc


async def failure_of(client: MewsClient, call: Call) -> MewsError:
    """Run *call*; it must fail, quickly, with a MewsError (and nothing else)."""
    with anyio.fail_after(LIMIT):
        try:
            result = await call(client)
        except MewsError as exc:
            return exc
    raise AssertionError(f"expected a MewsError, got a result: {result!r}")


def single_failure(error: MewsError) -> tuple[MewsError, bool]:
    """The error and ambiguity of the failed chunk of a write (or of its halves, after a 413)."""
    assert isinstance(error, BulkOperationError), repr(error)
    failure, *halves = error.failures
    assert isinstance(failure.error, MewsError)
    assert all(r is None for r in error.results)
    for half in halves:
        assert (type(half.error), half.ambiguous) == (type(failure.error), failure.ambiguous)
    return failure.error, failure.ambiguous


# --- hand-written hostile answers, for every operation -------------------------------------------

DEEP = b"[" * 5000 + b"]" * 5000
HTML = b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1>nginx</body></html>"

# (id, status, body, headers, error class, ambiguous for a write)
ANSWERS: list[tuple[str, int, bytes, dict[str, str], type[MewsError], bool]] = [
    ("truncated-json", 200, b'{"Vouchers": [{"Id": "fe56', {}, MewsApiError, True),
    ("html-200", 200, HTML, {"Content-Type": "text/html"}, MewsApiError, True),
    ("html-502", 502, HTML, {"Content-Type": "text/html"}, ServerError, True),
    ("empty-503", 503, b"", {}, ServerError, True),
    ("empty-200", 200, b"", {}, MewsApiError, True),
    ("non-utf8-200", 200, b"\xff\xfe{\x00\x80\x81}", {}, MewsApiError, True),
    ("non-utf8-500", 500, b"\xff\xfe{\x00\x80\x81}", {}, ServerError, True),
    ("null-200", 200, b"null", {}, MewsApiError, True),
    ("array-200", 200, b"[{}]", {}, MewsApiError, True),
    ("string-200", 200, b'"Vouchers"', {}, MewsApiError, True),
    ("too-deep-200", 200, DEEP, {}, MewsApiError, True),
    ("nan-200", 200, b'{"Vouchers": NaN}', {}, MewsApiError, True),
    ("redirect-302", 302, b"", {"Location": "http://127.0.0.1:9/elsewhere"}, MewsApiError, False),
    ("html-400", 400, HTML, {}, MewsApiError, False),
    ("html-404", 404, HTML, {}, MewsApiError, False),
    ("garbage-401", 401, b"\x00\x01nope", {}, MewsApiError, False),
    ("html-413", 413, HTML, {}, MewsApiError, False),
    ("429-bad-retry-after", 429, b"{}", {"Retry-After": "soon, maybe"}, MewsApiError, False),
    ("429-huge-retry-after", 429, b"{}", {"Retry-After": "99999999999"}, MewsApiError, False),
    ("408-html", 408, HTML, {}, MewsApiError, True),
]


@pytest.mark.parametrize(
    ("status", "body", "headers", "cls"),
    [pytest.param(*case[1:5], id=case[0]) for case in ANSWERS],
)
@pytest.mark.parametrize("operation", list(READS))
async def test_bad_answers_to_reads_are_clear_errors(
    operation: str, status: int, body: bytes, headers: dict[str, str], cls: type[MewsError]
) -> None:
    """Every read facing a bad answer raises the mapped MewsError with the HTTP status."""
    async with serving(answer(status, body, headers)) as (_, client):
        error = await failure_of(client, READS[operation])
    assert isinstance(error, cls), repr(error)
    assert isinstance(error, MewsApiError)
    assert error.status == status


@pytest.mark.parametrize(
    ("status", "body", "headers", "cls", "ambiguous"),
    [pytest.param(*case[1:], id=case[0]) for case in ANSWERS],
)
@pytest.mark.parametrize("operation", list(WRITES))
async def test_bad_answers_to_writes_carry_the_right_ambiguity(
    operation: str,
    status: int,
    body: bytes,
    headers: dict[str, str],
    cls: type[MewsError],
    ambiguous: bool,
) -> None:
    """Every write facing a bad answer reports its chunk failed, ambiguous iff maybe applied."""
    async with serving(answer(status, body, headers)) as (server, client):
        error, flagged = single_failure(await failure_of(client, WRITES[operation]))
    assert isinstance(error, cls), repr(error)
    assert flagged is ambiguous
    if ambiguous and operation.endswith(".add"):
        # An add that may have applied is never re-sent (a read to look it up is fine).
        adds = [
            b for b in server.received if "VoucherParameters" in b or "VoucherCodeParameters" in b
        ]
        assert len(adds) == 1


# --- update answers matched by voucher id ---------------------------------------------------------


def update_answer(reply: Callable[[list[str]], list[str]]) -> Handler:
    """Answer an update with the vouchers whose ids *reply* picks from the request's ids."""

    async def handler(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        asked = [u["VoucherId"] for u in body["VoucherUpdates"]]
        vouchers = [{**VOUCHER, "Id": i, "Name": f"for {i}"} for i in reply(asked)]
        return web.json_response({"Vouchers": vouchers})

    return handler


def update_ids(n: int) -> list[VoucherUpdate]:
    return [VoucherUpdate(voucher_id=uuid.UUID(int=i + 1, version=4), name="x") for i in range(n)]


async def test_update_results_follow_the_input_not_the_answers_order() -> None:
    """The docs promise no order: results are matched to the input by voucher id."""
    async with serving(update_answer(lambda ids: ids[::-1])) as (server, client):
        updated = await client.vouchers.update(update_ids(4), enterprise_id=ENTERPRISE)
    assert [v.id for v in updated] == [u.voucher_id for u in update_ids(4)]
    assert [v.name for v in updated] == [f"for {u.voucher_id}" for u in update_ids(4)]
    assert len(server.received) == 1


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        (lambda ids: ids[1:], "1 missing"),
        (lambda ids: [*ids[:-1], ids[0]], "1 repeated"),
        (lambda ids: [*ids, str(uuid.uuid4())], "1 unexpected"),
        (lambda ids: [*ids[:-1], str(uuid.uuid4())], "1 unexpected"),
    ],
    ids=["missing", "repeated", "extra", "swapped"],
)
async def test_update_answer_not_covering_the_input_is_a_doubt(
    reply: Callable[[list[str]], list[str]], why: str
) -> None:
    """An answer missing, repeating or adding a voucher is re-sent, then reported ambiguous."""
    async with serving(update_answer(reply)) as (server, client):
        error = await failure_of(client, lambda c: c.vouchers.update(update_ids(3)))
    failed, ambiguous = single_failure(error)
    assert isinstance(failed, MewsApiError)
    assert failed.status == 200
    assert why in str(failed)
    assert ambiguous is True
    assert len(server.received) == QUICK.max_attempts  # idempotent: sent again, never trusted


# --- wrong types, missing keys and nulls in a voucher -----------------------------------------

ABSENT = object()
REQUIRED = {"Id", "ServiceId", "Name", "CreatedUtc", "UpdatedUtc", "Type"}
ENUMS = {"Type", "ActivityState"}
STRINGS = {"Name", "ExternalIdentifier"}
WRONG: list[object] = [ABSENT, None, 5, 1.5, True, [], {}, "garbage", [VOUCHER_ID]]


def accepted(key: str, value: object) -> bool:
    """Whether the SDK may read *value* in *key* (else the page is malformed)."""
    if value is ABSENT or value is None:
        # IsActive is derived from ActivityState (present here) when it is absent.
        return key not in REQUIRED
    if value == "garbage":
        # Strings are strings; an enum value added by the API later reads as a stand-in.
        return key in STRINGS or key in ENUMS
    if value is True:
        return key == "IsActive"
    return False


@pytest.mark.parametrize("key", list(VOUCHER))
async def test_every_voucher_field_with_a_wrong_type(key: str) -> None:
    """Each wrong value in each field is read or is a malformed-response MewsApiError."""
    holder: dict[str, Any] = {}

    async def handler(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        return web.json_response(holder["page"])

    async with serving(handler) as (_, client):
        for value in WRONG:
            bad = voucher()
            if value is ABSENT:
                del bad[key]
            else:
                bad[key] = value
            holder["page"] = {"Vouchers": [bad], "Cursor": None}
            result = await outcome_of(client, READS["vouchers.get_all"])
            if accepted(key, value):
                assert not isinstance(result, MewsError), f"{key}={value!r} refused: {result}"
            else:
                assert isinstance(result, MewsApiError), f"{key}={value!r} read: {result}"
                assert result.status == 200
                assert "malformed" in result.message
                assert result.__cause__ is not None


@pytest.mark.parametrize(
    "page",
    [
        {"Vouchers": [None]},
        {"Vouchers": [voucher()], "VoucherAssignments": [None]},
        {"Vouchers": [voucher()], "VoucherCodes": [None]},
        {"Vouchers": [voucher()], "Rates": [None]},
        {"Vouchers": [voucher()], "Companies": [None]},
        {"Vouchers": [voucher()], "Cursor": {}},
        {"Vouchers": {"Id": VOUCHER_ID}},
        {"Vouchers": [voucher()], "Rates": [{"Id": SERVICE, "Names": ["en-US"]}]},
        {"Vouchers": [[voucher()]]},
        {"Vouchers": [voucher(Type=None)]},
    ],
    ids=lambda page: orjson.dumps(page)[:50].decode(),
)
async def test_null_or_wrong_shape_where_an_object_belongs(page: dict[str, Any]) -> None:
    """null (or a list) where an object belongs is a malformed response, not a TypeError."""
    async with serving(answer(200, page)) as (_, client):
        error = await failure_of(client, READS["vouchers.get_all"])
    assert isinstance(error, MewsApiError)
    assert "malformed" in error.message


# --- bodies that are too big, cut short, or never come -----------------------------------------


def _big(request: web.Request, chunked: bool) -> Awaitable[web.StreamResponse]:
    async def respond() -> web.StreamResponse:
        filler = orjson.dumps({"Vouchers": [voucher(n) for n in range(200)]})
        if not chunked:
            return web.Response(body=filler, content_type="application/json")
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(filler), 1000):
            await response.write(filler[start : start + 1000])
        await response.write_eof()
        return response

    return respond()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("operation", ["vouchers.get_all", "vouchers.add"])
async def test_a_body_over_the_limit_is_refused(operation: str, chunked: bool) -> None:
    """A body over the transport's max_body is a MewsConnectionError; an add stays ambiguous."""

    async def handler(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        return await _big(request, chunked)

    async with ScriptedServer(handler) as server:
        transport = AiohttpTransport(server.base_url, max_body=4096)
        async with scripted_client(server, transport=transport) as client:
            error = await failure_of(client, {**READS, **WRITES}[operation])
    if operation == "vouchers.add":
        error, ambiguous = single_failure(error)
        assert ambiguous is True
        assert len(server.received) == 1
    assert isinstance(error, MewsConnectionError)
    assert "byte limit" in str(error)


async def _cut_short(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
    """Promise a long body, send part of it, and hang up."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = 100_000
    await response.prepare(request)
    await response.write(b'{"Vouchers": [{"Id": "')
    assert request.transport is not None
    request.transport.close()
    return response


@pytest.mark.parametrize("operation", ["vouchers.get_all", "vouchers.add", "vouchers.update"])
async def test_a_server_that_hangs_up_mid_body(operation: str) -> None:
    """A connection closed mid-body is an ambiguous MewsConnectionError (reads retry it)."""
    async with serving(_cut_short) as (server, client):
        error = await failure_of(client, {**READS, **WRITES}[operation])
    if operation != "vouchers.get_all":
        error, ambiguous = single_failure(error)
        assert ambiguous is True
    assert isinstance(error, MewsConnectionError)
    assert error.ambiguous is True
    assert isinstance(error.__cause__, Exception)
    # getAll and update are idempotent and retried; add is sent once.
    assert len(server.received) == (1 if operation == "vouchers.add" else QUICK.max_attempts)


@pytest.mark.parametrize("operation", ["vouchers.get_all", "vouchers.add", "voucher_codes.add"])
async def test_a_server_that_never_answers(operation: str) -> None:
    """No answer within the timeout is a MewsTimeoutError; a write stays ambiguous."""
    release = asyncio.Event()

    async def handler(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        await release.wait()
        return web.json_response({})

    async with ScriptedServer(handler) as server:
        try:
            async with scripted_client(server, timeout=0.2) as client:
                error = await failure_of(client, {**READS, **WRITES}[operation])
        finally:
            release.set()  # before the server stops, which waits for its handlers
    if operation != "vouchers.get_all":
        error, ambiguous = single_failure(error)
        assert ambiguous is True
    assert isinstance(error, MewsTimeoutError)


def _small_send_buffer(addr_info: Any) -> socket.socket:
    """A client socket with a fixed 4 KiB send buffer (no autotuning), as on a slow link."""
    family, kind, proto, _, _ = addr_info
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    return sock


@contextlib.asynccontextmanager
async def _never_reading() -> AsyncIterator[str]:
    """A server that accepts connections and never reads from them; yields its base URL."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    listener.bind(("127.0.0.1", 0))
    stop = asyncio.Event()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await stop.wait()
        writer.close()

    server = await asyncio.start_server(hold, sock=listener)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        server.close()
        await server.wait_closed()


# Writes of a full chunk with long texts: bodies of about 300 KB, which neither the two
# sockets' buffers nor asyncio's own take whole.
BIG_WRITES: dict[str, Call] = {
    "vouchers.add": lambda c: c.vouchers.add(
        [
            VoucherParameters(
                service_id=SERVICE,
                name=f"{i:N>120}",
                type=VoucherType.PUBLIC,
                external_identifier=f"{i:0>120}",
            )
            for i in range(1000)
        ],
        enterprise_id=ENTERPRISE,
    ),
    "vouchers.update": lambda c: c.vouchers.update(
        [VoucherUpdate(voucher_id=uuid.UUID(int=i + 1), name=f"{i:N>128}") for i in range(1000)],
        enterprise_id=ENTERPRISE,
    ),
}


@pytest.mark.parametrize("operation", sorted(BIG_WRITES))
async def test_a_server_that_stops_reading_the_request(operation: str) -> None:
    """A request body nobody takes ends after the timeout, certainly not applied.

    The timeout bounds the wait between parts of the body going out, as it bounds the wait
    between parts of the answer: without that, a proxy that stops reading hangs the call.
    """
    connector = aiohttp.TCPConnector(socket_factory=_small_send_buffer)
    async with _never_reading() as base_url, aiohttp.ClientSession(connector=connector) as session:
        client = MewsClient(
            client_token="c" * 20,
            access_token="a" * 20,
            client="hostile tests 1.0",
            base_url=base_url,
            rate_limit=None,
            retry=QUICK,
            timeout=0.3,
            session=session,
        )
        async with client:
            error = await failure_of(client, BIG_WRITES[operation])
    error, ambiguous = single_failure(error)
    assert isinstance(error, MewsTimeoutError)
    assert ambiguous is False
    assert error.ambiguous is False
    assert "not sent whole" in str(error)
    assert client.stats.retries == 1  # not applied, so sent again, once (QUICK)


async def test_an_answer_dripped_out_still_times_out() -> None:
    """A body trickling in, each part within the timeout, still ends in MewsTimeoutError."""
    release = asyncio.Event()

    async def handler(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await response.write(b'{"Vouchers": [')
        while not release.is_set():
            await response.write(b" ")
            await asyncio.sleep(0.05)
        return response

    async with ScriptedServer(handler) as server:
        try:
            with anyio.fail_after(LIMIT):
                async with scripted_client(server, timeout=0.3) as client:
                    error = await failure_of(client, READS["vouchers.get_all"])
        finally:
            release.set()
    assert isinstance(error, MewsTimeoutError)


# --- writes answered with the wrong number of items ---------------------------------------------


@pytest.mark.parametrize("answered", [0, 1, 3])
@pytest.mark.parametrize("ext", [False, True], ids=["no-ext", "ext"])
async def test_add_answered_with_the_wrong_number_of_vouchers(answered: int, ext: bool) -> None:
    """An add of 2 answered with 0, 1 or 3 vouchers is in doubt: ambiguous, never blindly re-sent.

    Without external identifiers nothing more is sent.  With them the chunk is looked up
    and only what the lookup does not find is sent again, within the attempt budget (this
    server's lookups never find anything, so the doubt is never settled).
    """
    strangers = [voucher(n, ExternalIdentifier=f"other-{n}") for n in range(answered)]
    async with serving(answer(200, {"Vouchers": strangers})) as (server, client):
        with anyio.fail_after(LIMIT), pytest.raises(BulkOperationError) as info:
            await client.vouchers.add(params(2, ext=ext), enterprise_id=ENTERPRISE)
    error, ambiguous = single_failure(info.value)
    assert ambiguous is True
    assert f"answered {answered} vouchers for 2" in str(error)
    adds = [b for b in server.received if "VoucherParameters" in b]
    lookups = [b for b in server.received if "ExternalIdentifiers" in b]
    if ext:
        assert lookups
        assert len(adds) <= client.retry.max_attempts
        assert server.received[1] is lookups[0]  # looked up before anything was sent again
    else:
        assert (len(adds), len(lookups)) == (1, 0)


@pytest.mark.parametrize("answered", [0, 2])
async def test_update_answered_with_the_wrong_number_of_vouchers(answered: int) -> None:
    """An update of 1 answered with 0 or 2 vouchers fails ambiguous (the server acted on it)."""
    async with serving(answer(200, {"Vouchers": [voucher(n) for n in range(answered)]})) as (
        _,
        client,
    ):
        error, ambiguous = single_failure(await failure_of(client, WRITES["vouchers.update"]))
    assert ambiguous is True
    assert "does not hold each updated voucher once" in str(error)


async def test_an_unreadable_add_answer_is_settled_by_the_lookup() -> None:
    """A 200 whose body cannot be read was applied: the external identifiers settle it."""
    created = [voucher(n, Name=f"H{n}", ExternalIdentifier=f"ext-{n}") for n in range(3)]

    async def handler(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        if request.path.endswith("/vouchers/add"):
            return web.Response(body=b'{"Vouchers": [', content_type="application/json")
        return web.json_response({"Vouchers": created[::-1], "Cursor": None})

    async with serving(handler) as (server, client):
        with anyio.fail_after(LIMIT):
            added = await client.vouchers.add(params(3, ext=True), enterprise_id=ENTERPRISE)
    assert [v.external_identifier for v in added] == ["ext-0", "ext-1", "ext-2"]
    assert sum("VoucherParameters" in b for b in server.received) == 1
    assert client.stats.resolved_ambiguous == 1


async def test_an_unreadable_add_answer_with_unreadable_lookups_stays_ambiguous() -> None:
    """When the lookups cannot be read either, the chunk is reported ambiguous, not re-sent."""
    async with serving(answer(200, b"<html>maintenance</html>")) as (server, client):
        with anyio.fail_after(LIMIT), pytest.raises(BulkOperationError) as info:
            await client.vouchers.add(params(3, ext=True), enterprise_id=ENTERPRISE)
    _, ambiguous = single_failure(info.value)
    assert ambiguous is True
    assert sum("VoucherParameters" in b for b in server.received) == 1


# --- cursors that repeat or never end -----------------------------------------------------------


def _pages(cursors: Iterator[str | None], size: int, *, cursor_is_last: bool = False) -> Handler:
    """A getAll that always answers a full page of the same vouchers, with the next cursor.

    With *cursor_is_last*, the page's last item has the cursor's id, as the API promises.
    """

    async def handler(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        count = body["Limitation"]["Count"]
        items = [voucher(n) for n in range(min(size, count))]
        cursor = next(cursors)
        if cursor_is_last and cursor is not None:
            items[-1] = {**items[-1], "Id": cursor}
        key = "VoucherCodes" if request.path.endswith("voucherCodes/getAll") else "Vouchers"
        if key == "VoucherCodes":
            items = [
                {"Id": v["Id"], "VoucherId": VOUCHER_ID, "Value": v["Id"], "IsActive": True}
                for v in items
            ]
        return web.json_response({key: items, "Cursor": cursor})

    return handler


@pytest.mark.parametrize("operation", list(READS))
async def test_a_cursor_that_comes_back_after_a_cycle(operation: str) -> None:
    """Cursors A, B, C, A: PaginationError at the first repeat, whatever the cycle length."""
    cycle = itertools.cycle([str(uuid.UUID(int=n, version=4)) for n in (1, 2, 3)])
    async with serving(_pages(cycle, 5, cursor_is_last=True), page_size=5) as (server, client):
        error = await failure_of(client, READS[operation])
    assert isinstance(error, PaginationError)
    assert "twice" in str(error)
    assert len(server.received) == 4


@pytest.mark.parametrize("operation", list(READS))
async def test_a_cursor_that_is_not_the_last_items_id(operation: str) -> None:
    """The API's cursor is the id of the oldest item returned; any other cursor stops paging."""
    other = itertools.repeat(str(uuid.UUID(int=99, version=4)))
    async with serving(_pages(other, 5), page_size=5) as (server, client):
        error = await failure_of(client, READS[operation])
    assert isinstance(error, PaginationError)
    assert "not the id of the page's last item" in str(error)
    assert len(server.received) == 1


@pytest.mark.parametrize("operation", ["vouchers.get_all", "voucher_codes.get_all"])
async def test_a_cursor_that_never_ends(operation: str) -> None:
    """The same full page under a new cursor each time is no progress: PaginationError."""
    fresh = (str(uuid.uuid4()) for _ in itertools.count())
    async with serving(_pages(fresh, 5), page_size=5) as (server, client):
        with anyio.move_on_after(1.0) as scope:
            error = await failure_of(client, READS[operation])
    assert not scope.cancelled_caught, f"still paging after {len(server.received)} pages"
    assert isinstance(error, PaginationError)


# --- known bugs: errors that escape as bare exceptions ------------------------------------------

DEEP_DETAILS = b'{"Message": "no", "RequestId": "r", "Details": ' + b"[" * 300 + b"]" * 300 + b"}"


async def test_deeply_nested_error_details_on_a_read() -> None:
    """A 400 whose Details nests 300 deep is a BadRequestError, not a TypeError."""
    async with serving(answer(400, DEEP_DETAILS)) as (_, client):
        with anyio.fail_after(LIMIT):
            try:
                await READS["vouchers.get_all"](client)
            except MewsError as exc:
                error: BaseException = exc
            except Exception as exc:
                error = exc
    assert isinstance(error, MewsApiError), repr(error)
    assert error.status == 400


async def test_deeply_nested_error_details_on_a_write() -> None:
    """An add refused with a 400 whose Details nests 300 deep fails non-ambiguously."""
    async with serving(answer(400, DEEP_DETAILS)) as (_, client):
        error, ambiguous = single_failure(await failure_of(client, WRITES["vouchers.add"]))
    assert isinstance(error, MewsApiError), repr(error)
    assert ambiguous is False


# --- hypothesis: any body, any status ------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from([VOUCHER_ID, "2024-01-01T00:00:00Z", "Public", "Active"]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from([*VOUCHER, "Vouchers", "Cursor", "Message", "Details", "x"]),
            inner,
            max_size=5,
        )
    ),
    max_leaves=25,
)


@st.composite
def mutated_pages(draw: st.DrawFn) -> dict[str, Any]:
    """A valid page with some of its vouchers' fields replaced by arbitrary JSON."""
    vouchers = [voucher(n) for n in range(draw(st.integers(1, 3)))]
    for v in vouchers:
        for key in draw(st.lists(st.sampled_from(list(VOUCHER)), max_size=3, unique=True)):
            v[key] = draw(json_values)
    return {"Vouchers": vouchers, "Cursor": draw(st.none() | st.just(VOUCHER_ID))}


bodies = st.one_of(
    json_values.map(orjson.dumps),
    mutated_pages().map(orjson.dumps),
    st.binary(max_size=64),
    st.builds(lambda b, n: orjson.dumps(b)[:n], mutated_pages(), st.integers(0, 400)),
)
statuses = st.sampled_from([200, 201, 204, 302, 400, 401, 403, 404, 408, 409, 429, 500, 503])


def may_have_applied(status: int) -> bool:
    """The ambiguity rule: a success, a 408 and a 5xx may have been applied; a redirect not."""
    return 200 <= status < 300 or status == 408 or status >= 500


async def test_any_answer_to_a_read_is_a_result_or_a_mews_error() -> None:
    """Hypothesis: whatever status and body getAll meets, it returns or raises a MewsError."""
    state: dict[str, Any] = {}

    async def handler(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        return web.Response(status=state["status"], body=state["body"])

    async def one() -> None:
        result = await outcome_of(client, READS["vouchers.get_all"])
        if isinstance(result, MewsApiError):
            assert result.status == state["status"]
        elif isinstance(result, MewsError):
            assert isinstance(result, PaginationError), repr(result)  # a full page repeated

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(status=statuses, body=bodies)
    def check(status: int, body: bytes) -> None:
        state.update(status=status, body=body)
        anyio.from_thread.run(one)

    async with serving(handler, page_size=3) as (_, client):
        await anyio.to_thread.run_sync(check)


async def test_any_answer_to_an_add_keeps_the_ambiguity_rule() -> None:
    """Hypothesis: whatever status and body add meets, a failure is ambiguous iff maybe applied."""
    state: dict[str, Any] = {}

    async def handler(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        return web.Response(status=state["status"], body=state["body"])

    async def one() -> None:
        result = await outcome_of(
            client, lambda c: c.vouchers.add(params(1), enterprise_id=ENTERPRISE)
        )
        if isinstance(result, MewsError):
            _, ambiguous = single_failure(result)
            assert ambiguous is may_have_applied(state["status"])
        else:
            assert 200 <= state["status"] < 300

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(status=statuses, body=bodies)
    def check(status: int, body: bytes) -> None:
        state.update(status=status, body=body)
        anyio.from_thread.run(one)

    async with serving(handler) as (_, client):
        await anyio.to_thread.run_sync(check)
