"""The simulator itself: the in-memory Mews voucher API served over HTTP on loopback.

The HTTP layer here does what happens around an operation: routing, the
request limit, faults, latency, the request log and the shape of every answer.
What an operation means lives in ``_operations``; the data in ``_store``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final, Self

import attrs
import orjson
from aiohttp import web

from .._config import RateLimit
from .._constants import (
    API_PREFIX,
    OPERATIONS,
    VOUCHER_CODES_ADD,
    VOUCHER_CODES_DELETE,
    VOUCHERS_ADD,
    VOUCHERS_DELETE,
    VOUCHERS_UPDATE,
)
from ._faults import (
    APPLYING,
    DEFAULT_SLOW_DELAY,
    ON_DEMAND,
    RATE_LIMITING,
    Fault,
    FaultPlan,
    SlidingWindow,
    Strike,
    retry_after_header,
)
from ._operations import Api
from ._reader import ApiError, as_utc
from ._store import Store, code_wire, voucher_wire

logger = logging.getLogger("mews_vouchers.testing")

_ROUTES: Final = {f"{API_PREFIX}/{operation}": operation for operation in OPERATIONS}
# The main list of each write, whose length the request log reports as `items`.
_MAIN_LISTS: Final = {
    VOUCHERS_ADD: "VoucherParameters",
    VOUCHERS_UPDATE: "VoucherUpdates",
    VOUCHERS_DELETE: "VoucherIds",
    VOUCHER_CODES_ADD: "VoucherCodeParameters",
    VOUCHER_CODES_DELETE: "VoucherCodeIds",
}
# Far above the largest valid request (1000 items with every field at its
# maximum is about 1.5 MB), so only a body no client should send is refused.
_MAX_BODY_BYTES: Final = 16 * 1024 * 1024
# Requests still in flight when the simulator closes (a SLOW fault whose client
# gave up, say) are cancelled after this long rather than waited for.
_SHUTDOWN_TIMEOUT: Final = 0.1
_DROPPED: Final = 0
# Stands for a body that is not JSON at all (JSON null is a body, just not an object).
_MALFORMED: Final = object()


@attrs.frozen(kw_only=True)
class RecordedRequest:
    """One request the simulator received, with how it was answered.

    ``status`` is 0 when the connection was dropped without an answer.  ``items``
    is the length of the request's main list (``VoucherParameters``,
    ``VoucherUpdates``, ``VoucherIds``, ``VoucherCodeParameters`` or
    ``VoucherCodeIds``), or ``Limitation.Count`` for a getAll, 0 when absent.
    ``enterprise_id`` is the ``EnterpriseId`` a write carried or, for a getAll,
    the only entry of its ``EnterpriseIds``; otherwise None.  For a path that
    is no operation, ``operation`` is the whole path.
    """

    operation: str
    body: dict[str, Any] | None
    status: int
    fault: Fault | None
    at: float
    items: int
    enterprise_id: str | None
    request_id: str


@attrs.define
class _Arrival:
    """What is known of a request when it arrives; it becomes a record once answered."""

    operation: str
    body: dict[str, Any] | None
    at: float
    request_id: str
    record: RecordedRequest | None = None

    def answer(self, status: int, fault: Fault | None) -> None:
        """Record how the request was answered (status 0: dropped)."""
        self.record = RecordedRequest(
            operation=self.operation,
            body=self.body,
            status=status,
            fault=fault,
            at=self.at,
            items=_items(self.operation, self.body),
            enterprise_id=_enterprise_id(self.body),
            request_id=self.request_id,
        )


def _items(operation: str, body: dict[str, Any] | None) -> int:
    if body is None:
        return 0
    if operation in _MAIN_LISTS:
        main = body.get(_MAIN_LISTS[operation])
        return len(main) if isinstance(main, list) else 0
    limitation = body.get("Limitation")
    count = limitation.get("Count") if isinstance(limitation, dict) else None
    return count if isinstance(count, int) and not isinstance(count, bool) else 0


def _enterprise_id(body: dict[str, Any] | None) -> str | None:
    if body is None:
        return None
    enterprise_id = body.get("EnterpriseId")
    if isinstance(enterprise_id, str):
        return enterprise_id
    enterprise_ids = body.get("EnterpriseIds")
    if isinstance(enterprise_ids, list) and len(enterprise_ids) == 1:
        only = enterprise_ids[0]
        return only if isinstance(only, str) else None
    return None


@attrs.frozen(kw_only=True)
class Hotel:
    """The ids of a hotel seeded by :meth:`MewsSimulator.add_hotel`."""

    enterprise_id: uuid.UUID
    service_id: uuid.UUID
    rate_ids: tuple[uuid.UUID, ...]
    company_id: uuid.UUID


def _rate_name(number: int) -> str:
    return ("Best price", "Flexible")[number] if number < 2 else f"Rate {number + 1}"


def _new_token(rng: random.Random) -> str:
    """Return a token shaped like the Mews ones: 32 hex digits, a dash, 31 more."""
    return f"{rng.getrandbits(128):032X}-{rng.getrandbits(124):031X}"


class MewsSimulator:
    """An in-memory Mews voucher API served over HTTP on loopback, for tests and demos.

    Use it as an async context manager (or call :meth:`start` and
    :meth:`aclose`).  It validates requests as the API documents them, pages
    with cursors, enforces a request limit and can inject latency and faults.
    All randomness (ids, tokens, faults) comes from *seed*, so a run is
    reproducible.

    The data can be set up and inspected directly at any time, started or not:
    :meth:`add_hotel` (an enterprise with a service, rates and a company in one call),
    :meth:`add_enterprise`, :meth:`add_service`, :meth:`add_rate`, :meth:`add_company`,
    :meth:`seed_vouchers`; :meth:`vouchers`, :meth:`voucher_codes`, :meth:`assignments`
    and :attr:`requests`.

    :param rate_limit: a sliding-window limit per ``AccessToken``; requests over it
        get 429 with ``Retry-After`` in whole seconds.  Every admitted request
        counts, whatever it is answered; refused ones do not.
    :param latency: seconds to wait before answering each request.
    :param fault_rate: probability that a request gets a random fault.
    :param seed: seeds ids, tokens and faults.
    :param faults: the kinds random faults are drawn from (default: all but the 409 and
        413 ones, which are not transient; name them to have them drawn too).
    :param clock: monotonic clock of the rate limit and of random 429 bursts.
    :param now: wall clock (aware) for ``CreatedUtc`` and ``UpdatedUtc``.
    :param host: the address to listen on.
    :param port: the port to listen on; 0 picks a free one.
    :param slow_delay: seconds a :attr:`Fault.SLOW` waits unless injected with its own.
    :param max_body_bytes: a larger request body is answered 413.  The docs give no
        limit; the default is far above the largest valid request.
    """

    def __init__(
        self,
        *,
        rate_limit: RateLimit | None = None,
        latency: float = 0.0,
        fault_rate: float = 0.0,
        seed: int = 0,
        faults: Iterable[Fault] | None = None,
        clock: Callable[[], float] | None = None,
        now: Callable[[], datetime] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        slow_delay: float = DEFAULT_SLOW_DELAY,
        max_body_bytes: int = _MAX_BODY_BYTES,
    ) -> None:
        if latency < 0:
            raise ValueError(f"latency must be >= 0, got {latency!r}")
        if not 0.0 <= fault_rate <= 1.0:
            raise ValueError(f"fault_rate must be within 0..1, got {fault_rate!r}")
        if slow_delay < 0:
            raise ValueError(f"slow_delay must be >= 0, got {slow_delay!r}")
        if max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be >= 1, got {max_body_bytes!r}")
        kinds = (
            [f for f in Fault if f not in ON_DEMAND]
            if faults is None
            else list(dict.fromkeys(Fault(f) for f in faults))
        )
        if not kinds:
            raise ValueError("faults must name at least one Fault")

        def stream(purpose: str) -> random.Random:
            # Separate streams, so that faults drawn or not do not shift the ids.
            return random.Random(f"mews-simulator:{seed}:{purpose}")

        self._store = Store(stream("ids"))
        self._tokens = stream("tokens")
        self._client_token = _new_token(self._tokens)
        self._access_token = _new_token(self._tokens)
        self._store.add_token(self._access_token, None)
        self._request_ids = stream("requests")
        self._faults = FaultPlan(
            rng=stream("faults"), rate=fault_rate, kinds=kinds, slow_delay=slow_delay
        )
        self._window = None if rate_limit is None else SlidingWindow(rate_limit)
        self._latency = latency
        self._clock = clock or time.monotonic
        self._now = now or (lambda: datetime.now(UTC))
        self._api = Api(self._store, self._client_token, self._now)
        self._host = host
        self._port = port
        self._max_body_bytes = max_body_bytes
        self._log: list[_Arrival] = []
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    # -- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        """Start serving; :attr:`base_url` is known from then on."""
        if self._runner is not None:
            raise RuntimeError("the simulator is already running")
        # Bodies up to the hard cap are read (and logged) even when over max_body_bytes.
        app = web.Application(client_max_size=max(self._max_body_bytes, _MAX_BODY_BYTES))
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=_SHUTDOWN_TIMEOUT
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        host, port = runner.addresses[0][:2]
        self._runner = runner
        self._base_url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    async def aclose(self) -> None:
        """Stop serving and close every connection; requests still in flight are cancelled."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- what a client needs --------------------------------------------------

    @property
    def base_url(self) -> str:
        """The address to send requests to, like ``http://127.0.0.1:54321``."""
        if self._base_url is None:
            raise RuntimeError("the simulator has not been started")
        return self._base_url

    @property
    def client_token(self) -> str:
        """The one ``ClientToken`` the simulator accepts."""
        return self._client_token

    @property
    def access_token(self) -> str:
        """A portfolio ``AccessToken`` over every enterprise, including ones added later."""
        return self._access_token

    # -- setting up data ------------------------------------------------------

    def add_enterprise(self, name: str = "Hotel") -> uuid.UUID:
        """Add an enterprise (a property) and return its id."""
        return self._store.add_enterprise(name).id

    def add_service(self, enterprise_id: uuid.UUID | str, name: str = "Accommodation") -> uuid.UUID:
        """Add a service to an enterprise and return its id."""
        return self._store.add_service(self._store.enterprise(enterprise_id), name).id

    def add_rate(self, service_id: uuid.UUID | str, name: str = "Best price") -> uuid.UUID:
        """Add a rate to a service and return its id."""
        now = as_utc(self._now())
        return self._store.add_rate(self._store.service(service_id), name, now).id

    def add_company(
        self, enterprise_id: uuid.UUID | str, name: str = "ACME", *, travel_agency: bool = False
    ) -> uuid.UUID:
        """Add a company to an enterprise and return its id.

        Only a company with *travel_agency* set can be the company of a
        ``TravelAgency`` voucher.
        """
        enterprise = self._store.enterprise(enterprise_id)
        now = as_utc(self._now())
        return self._store.add_company(enterprise, name, travel_agency=travel_agency, now=now).id

    def add_hotel(self, name: str = "Hotel", *, rates: int = 2) -> Hotel:
        """Add an enterprise with a service, *rates* rates and a company; return their ids.

        The one call to seed a hotel for a test, a demo or a benchmark.  The rates are
        named "Best price", "Flexible", then "Rate 3" and on; the company (ACME) has a
        travel agency contract, so it can be the company of a voucher of any type.
        """
        if rates < 0:
            raise ValueError(f"rates must be >= 0, got {rates!r}")
        enterprise_id = self.add_enterprise(name)
        service_id = self.add_service(enterprise_id)
        return Hotel(
            enterprise_id=enterprise_id,
            service_id=service_id,
            rate_ids=tuple(self.add_rate(service_id, _rate_name(n)) for n in range(rates)),
            company_id=self.add_company(enterprise_id, travel_agency=True),
        )

    def add_access_token(self, enterprise_ids: Iterable[uuid.UUID | str]) -> str:
        """Create an access token over exactly these enterprises and return it.

        With one enterprise it is a single-enterprise token: writes ignore
        ``EnterpriseId`` and use that enterprise.  With several it is a portfolio
        token: writes must name their ``EnterpriseId``.
        """
        ids = frozenset(self._store.enterprise(e).id for e in enterprise_ids)
        if not ids:
            raise ValueError("an access token needs at least one enterprise")
        return self._store.add_token(_new_token(self._tokens), ids).value

    def seed_vouchers(
        self,
        service_id: uuid.UUID | str,
        count: int,
        name_prefix: str = "Seed",
        external_identifier_prefix: str | None = None,
        updated_utc: datetime | None = None,
    ) -> list[uuid.UUID]:
        """Insert *count* active public vouchers straight into the store and return their ids.

        Far faster than the API (a million is a matter of seconds), for setting
        up large data.  Voucher *i* (from 0) is named ``f"{name_prefix}{i}"``
        and, given a prefix, has the external identifier
        ``f"{external_identifier_prefix}{i}"``.  Created and updated at
        *updated_utc* (aware), or now.
        """
        when = as_utc(self._now() if updated_utc is None else updated_utc)
        return self._store.seed_vouchers(
            self._store.service(service_id),
            count,
            name_prefix=name_prefix,
            external_identifier_prefix=external_identifier_prefix,
            when=when,
        )

    def inject(
        self,
        fault: Fault,
        times: int = 1,
        operation: str | None = None,
        retry_after: str | None = None,
        delay: float | None = None,
    ) -> None:
        """Make the next *times* requests of *operation* (None: any) suffer *fault*.

        Injections are used in the order they were made, before any random
        fault.  *retry_after* is the raw ``Retry-After`` of a
        :attr:`Fault.RATE_LIMIT` (default ``"1"``); *delay* the seconds of a
        :attr:`Fault.SLOW`.
        """
        fault = Fault(fault)
        if times < 1:
            raise ValueError(f"times must be >= 1, got {times}")
        if operation is not None and operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; expected one of {OPERATIONS}")
        if delay is not None and delay < 0:
            raise ValueError(f"delay must be >= 0, got {delay!r}")
        self._faults.inject(
            fault, times=times, operation=operation, retry_after=retry_after, delay=delay
        )

    # -- inspecting -----------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every answered request in arrival order (requests still in flight are left out)."""
        return [arrival.record for arrival in self._log if arrival.record is not None]

    def reset_requests(self) -> None:
        """Forget the requests received so far."""
        self._log.clear()

    def vouchers(
        self, enterprise_id: uuid.UUID | str | None = None, include_deleted: bool = True
    ) -> list[dict[str, Any]]:
        """Return vouchers oldest first, as getAll would return them (PascalCase dicts)."""
        enterprise = None if enterprise_id is None else self._store.enterprise(enterprise_id).id
        return [
            dict(voucher_wire(v)) for v in self._store.iter_vouchers(enterprise, include_deleted)
        ]

    def voucher_codes(
        self, enterprise_id: uuid.UUID | str | None = None, include_deleted: bool = True
    ) -> list[dict[str, Any]]:
        """Return voucher codes oldest first, as getAll would return them."""
        enterprise = None if enterprise_id is None else self._store.enterprise(enterprise_id).id
        return [dict(code_wire(c)) for c in self._store.iter_codes(enterprise, include_deleted)]

    def assignments(self) -> list[dict[str, str]]:
        """Return every voucher-rate assignment as ``{"VoucherId", "RateId"}`` wire dicts."""
        return [
            {"VoucherId": str(v.id), "RateId": str(rate_id)}
            for v in self._store.vouchers.values()
            for rate_id in v.rate_ids
        ]

    # -- serving --------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        at = self._clock()
        request_id = str(uuid.UUID(int=self._request_ids.getrandbits(128), version=4))
        operation = _ROUTES.get(request.path)
        if operation is None:
            arrival = self._arrive(request.path, None, at, request_id)
            return await self._error(arrival, 404, f"No operation at {request.path}.")
        if request.method != "POST":
            arrival = self._arrive(operation, None, at, request_id)
            return await self._error(
                arrival, 405, f"{request.method} is not allowed: use POST.", {"Allow": "POST"}
            )
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            arrival = self._arrive(operation, None, at, request_id)
            return await self._error(arrival, 413, "The request body is too large.")
        try:
            body: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = _MALFORMED
        arrival = self._arrive(operation, body if isinstance(body, dict) else None, at, request_id)
        if len(raw) > self._max_body_bytes:
            return await self._error(arrival, 413, "The request body is too large.")

        token = arrival.body.get("AccessToken") if arrival.body is not None else None
        if not isinstance(token, str) or not token:
            # Nothing to count it against; it will be refused with a 400 or 401 anyway.
            token = None
        burst = self._faults.refusal(token, at)
        if burst is not None:
            return await self._strike(request, arrival, burst)
        if self._window is not None and token is not None:
            wait = self._window.admit(token, at)
            if wait is not None:
                return await self._limited(arrival, self._window.limit, wait)
        strike = self._faults.draw(operation, token, at)
        if strike is not None and strike.fault not in APPLYING:
            return await self._strike(request, arrival, strike)

        if self._latency:
            await asyncio.sleep(self._latency)
        status, payload = self._run(operation, body, request_id)
        if strike is None:
            arrival.answer(status, None)
        elif strike.fault is Fault.SLOW:
            await asyncio.sleep(strike.delay)
            arrival.answer(status, strike.fault)
        else:
            return await self._strike(request, arrival, strike, latency=False)
        return self._response(status, payload, request_id)

    def _arrive(
        self, operation: str, body: dict[str, Any] | None, at: float, request_id: str
    ) -> _Arrival:
        arrival = _Arrival(operation=operation, body=body, at=at, request_id=request_id)
        self._log.append(arrival)
        return arrival

    def _run(self, operation: str, body: Any, request_id: str) -> tuple[int, dict[str, Any]]:
        """Run the operation and return its status and body, errors included."""
        try:
            if body is _MALFORMED:
                raise ApiError(400, "The request body is not valid JSON.")
            return 200, self._api.handle(operation, body)
        except ApiError as error:
            return error.status, _error_body(error.message, request_id, error.details)
        except Exception as error:
            # A bug of the simulator: answer like the API would, but say so loudly.
            logger.exception("simulator failed on %s", operation)
            return 500, _error_body(f"Simulator internal error: {error!r}", request_id)

    async def _limited(self, arrival: _Arrival, limit: RateLimit, wait: float) -> web.Response:
        """Refuse a request over the rate limit (not a fault, so recorded without one)."""
        message = (
            f"Too many requests: at most {limit.requests} requests per"
            f" {limit.per_seconds:g} seconds per access token."
        )
        return await self._error(arrival, 429, message, {"Retry-After": retry_after_header(wait)})

    async def _strike(
        self, request: web.Request, arrival: _Arrival, strike: Strike, *, latency: bool = True
    ) -> web.StreamResponse:
        """Answer a request as its fault says, or drop it without an answer."""
        fault = strike.fault
        if fault in (Fault.DROP_BEFORE, Fault.DROP_AFTER):
            if latency and self._latency:
                await asyncio.sleep(self._latency)
            arrival.answer(_DROPPED, fault)
            if request.transport is not None:
                request.transport.close()
            # aiohttp cannot write this to the closed transport and lets it go.
            return web.Response()
        headers: dict[str, str] = {}
        if fault in RATE_LIMITING:
            status, message = 429, "Too many requests (simulated)."
            if strike.retry_after is not None:
                headers["Retry-After"] = strike.retry_after
        elif fault is Fault.TIMEOUT:
            status = 408
            message = "The request took too long to process (simulated); ask for less data."
        elif fault is Fault.CONFLICT:
            status, message = 409, "The data has changed (simulated); refresh and resubmit."
        elif fault is Fault.TOO_LARGE:
            status, message = 413, "The request body is too large (simulated)."
        else:
            status, message = 500, "Internal server error (simulated)."
        return await self._error(arrival, status, message, headers, fault=fault, latency=latency)

    async def _error(
        self,
        arrival: _Arrival,
        status: int,
        message: str,
        headers: dict[str, str] | None = None,
        *,
        fault: Fault | None = None,
        latency: bool = True,
    ) -> web.Response:
        if latency and self._latency:
            await asyncio.sleep(self._latency)
        arrival.answer(status, fault)
        body = _error_body(message, arrival.request_id)
        return self._response(status, body, arrival.request_id, headers)

    @staticmethod
    def _response(
        status: int,
        payload: dict[str, Any],
        request_id: str,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        return web.Response(
            body=orjson.dumps(payload),
            status=status,
            content_type="application/json",
            headers={"Request-Id": request_id, **(headers or {})},
        )


def _error_body(message: str, request_id: str, details: str | None = None) -> dict[str, Any]:
    """Return the documented error body."""
    return {"Message": message, "RequestId": request_id, "Details": details}
