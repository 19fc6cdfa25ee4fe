"""The HTTP transport: one method that POSTs bytes and returns status, headers and body.

Everything above it (encoding, retries, rate limits, error mapping) is the requester's;
this module knows aiohttp and nothing of the API.  A failure on the network becomes a
:class:`MewsConnectionError` that says whether the request may have reached the server.
"""

from __future__ import annotations

import asyncio
import math
import warnings
from collections.abc import AsyncGenerator
from typing import Protocol, runtime_checkable

import aiohttp
import aiohttp.abc
import aiohttp.payload
import anyio
import attrs

from ._constants import CONNECT_TIMEOUT, DEFAULT_MAX_BODY, DEFAULT_MAX_CONCURRENCY, USER_AGENT
from ._errors import MewsConfigError, MewsConnectionError, MewsTimeoutError
from ._loops import LoopBinding


def request_timeout(seconds: float) -> aiohttp.ClientTimeout:
    """Return aiohttp's timeouts for a request that may wait *seconds* once it is sent.

    aiohttp's ``total`` and ``connect`` both count the wait for a free connection in the
    session's pool: a request still waiting there was not sent, so it must neither spend
    its timeout nor fail as "may have been applied".  So they stay unset; ``sock_connect``
    bounds opening a connection (never ambiguous) and ``sock_read``, which starts once the
    request is written, bounds the wait for the answer and between its parts.
    ``math.inf`` is no limit.
    """
    limit = None if math.isinf(seconds) else seconds
    return aiohttp.ClientTimeout(
        total=None, connect=None, sock_connect=min(seconds, CONNECT_TIMEOUT), sock_read=limit
    )


@attrs.frozen(kw_only=True)
class RawResponse:
    """What came back for one request, before any interpretation.

    ``request_id``, ``retry_after`` and ``location`` are the raw ``Request-Id``,
    ``Retry-After`` and ``Location`` headers, None when absent.
    """

    status: int
    body: bytes
    request_id: str | None = None
    retry_after: str | None = None
    location: str | None = None


@runtime_checkable
class Transport(Protocol):
    """Sends one request: the only interface between the client and the network.

    ``MewsClient(transport=...)`` takes any object with these two methods (the default
    sends with aiohttp).  Everything above it, the encoding, the retries, the rate limit
    and the reading of errors, stays the client's.  A request that gets no answer raises
    :class:`~mews_vouchers.MewsConnectionError`, whose ``ambiguous`` says whether it may
    have reached the server (:class:`~mews_vouchers.MewsTimeoutError` when no answer came
    within *timeout*); any HTTP answer, an error status included, is returned.
    """

    async def post(self, path: str, body: bytes, *, timeout: float) -> RawResponse:  # noqa: ASYNC109 (aiohttp applies it per request)
        """POST *body* (JSON) to *path* below the base URL and return the raw response."""
        ...

    async def aclose(self) -> None:
        """Release what the transport owns."""
        ...


# The body goes out in parts this size (aiohttp's own point for waiting on the socket).
_BODY_PART = 1 << 16


class _Body(aiohttp.payload.BytesPayload):
    """A request body that the server must keep taking: *timeout* with no progress ends it.

    aiohttp's ``sock_read`` starts once the body is written, and nothing bounds the
    writing: a server (or a proxy) that stops reading a body larger than the sockets'
    buffers would hang the request for ever.  Each part must leave within *timeout*;
    when one does not, ``stalled`` is set and the request fails, certainly not applied
    (the server never had the whole body).
    """

    def __init__(self, body: bytes, timeout: float | None) -> None:
        super().__init__(body, content_type="application/json")
        self._timeout = timeout
        self.stalled = False

    async def write(self, writer: aiohttp.abc.AbstractStreamWriter) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(
        self, writer: aiohttp.abc.AbstractStreamWriter, content_length: int | None
    ) -> None:
        body = memoryview(self._value)[:content_length]
        for start in range(0, len(body), _BODY_PART):
            try:
                # asyncio's own timeout: this runs in aiohttp's writing task, not ours.
                async with asyncio.timeout(self._timeout):
                    await writer.write(body[start : start + _BODY_PART])
            except TimeoutError:
                self.stalled = True
                raise


class AiohttpTransport:
    """The aiohttp transport: one session per client, or the caller's, which it never closes."""

    def __init__(
        self,
        base_url: str,
        *,
        session: aiohttp.ClientSession | None = None,
        connections: int = DEFAULT_MAX_CONCURRENCY,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._session = session
        self._owns_session = session is None
        self._connections = connections
        self._headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        self._max_body = max_body
        self._closed = False
        # The event loop the session belongs to, and (for our own session) what closes it.
        self._loop = LoopBinding()
        self._closer: AsyncGenerator[None, None] | None = None

    async def _ensure_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise MewsConnectionError("the client is closed", ambiguous=False)
        if not self._owns_session:
            assert self._session is not None
            if self._loop.bound and not self._loop.is_current():
                raise MewsConfigError(
                    "the aiohttp session given to MewsClient belongs to another event loop:"
                    " make the session (and the client) in the loop that uses them"
                )
            self._loop.moved()
            if self._session.closed:
                raise MewsConfigError("the aiohttp session given to MewsClient is closed")
            return self._session
        if self._loop.moved() or self._session is None or self._session.closed:
            # Created on first use in each event loop, as aiohttp requires (a client used
            # by two asyncio.run calls gets one session in each).  The previous loop's
            # session was closed as that loop shut down, by _close_with_loop.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections, limit_per_host=0),
            )
            self._closer = _close_with_loop(self._session)
            await anext(self._closer)
        return self._session

    async def post(self, path: str, body: bytes, *, timeout: float) -> RawResponse:  # noqa: ASYNC109 (aiohttp applies it per request)
        """POST *body* to ``base_url + path``; map network failures to MewsConnectionError."""
        session = await self._ensure_session()
        url = self._base_url + path
        limit = None if math.isinf(timeout) else timeout
        sending = _Body(body, limit)
        try:
            async with session.post(
                url,
                data=sending,
                headers=self._headers,
                timeout=request_timeout(timeout),
                allow_redirects=False,
                # A caller's session may default otherwise: an error status is ours to
                # read (a 429 is no network failure), and the body is JSON, not gzip.
                raise_for_status=False,
                auto_decompress=True,
            ) as response:
                # The answer has begun; a server dripping it out still gets *timeout* only.
                with anyio.fail_after(limit):
                    payload = await self._read(response)
                return RawResponse(
                    status=response.status,
                    body=payload,
                    request_id=response.headers.get("Request-Id"),
                    retry_after=response.headers.get("Retry-After"),
                    location=response.headers.get("Location"),
                )
        except aiohttp.ClientConnectorError as exc:
            raise MewsConnectionError(
                f"cannot connect to {self._base_url}: {exc}", ambiguous=False
            ) from exc
        except aiohttp.ConnectionTimeoutError as exc:
            raise MewsConnectionError(
                f"timed out connecting to {self._base_url}", ambiguous=False
            ) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            if sending.stalled:
                raise MewsTimeoutError(
                    f"{url} took no part of the request for {timeout:g} s: it was not sent"
                    " whole, so it was not applied",
                    ambiguous=False,
                ) from exc
            if not isinstance(exc, TimeoutError):
                raise MewsConnectionError(
                    f"connection to {self._base_url} failed: {type(exc).__name__}: {exc}",
                    ambiguous=True,
                ) from exc
            raise MewsTimeoutError(
                f"no answer from {url} within {timeout:g} s of sending the request"
            ) from exc

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        length = response.content_length
        if length is not None and length > self._max_body:
            raise MewsConnectionError(
                f"response body of {length} bytes is over the {self._max_body} byte limit",
                ambiguous=True,
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(1 << 16):
            size += len(chunk)
            if size > self._max_body:
                raise MewsConnectionError(
                    f"response body is over the {self._max_body} byte limit", ambiguous=True
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def __del__(self) -> None:
        # The session itself is closed as its loop finalizes _close_with_loop, but a client
        # dropped without aclose() is a bug to report, as aiohttp reports its own sessions.
        session = self._session
        if self._owns_session and not self._closed and session is not None and not session.closed:
            warnings.warn(
                "Unclosed client session of a MewsClient: close it with aclose() or async with",
                ResourceWarning,
                stacklevel=1,
                source=self,
            )

    async def aclose(self) -> None:
        """Close the session if this transport created it; a caller's session stays open."""
        self._closed = True
        if not self._owns_session:
            return
        closer, self._closer = self._closer, None
        self._session = None
        if closer is not None and self._loop.is_current():
            await closer.aclose()  # closes the session
        # A session of another loop cannot be closed from here: its loop closes it as it
        # shuts down, or when it runs again after this generator is collected.


async def _close_with_loop(session: aiohttp.ClientSession) -> AsyncGenerator[None, None]:
    """Close *session* when its event loop shuts down, if nothing closed it before.

    A session must be closed in its own loop, and a client may outlive the loop
    (``asyncio.run`` called twice on one client).  An async generator started in the
    loop is closed by the loop's ``shutdown_asyncgens()`` (which ``asyncio.run`` calls)
    or, if dropped first, by the loop's finalizer: either way in the right loop.
    """
    try:
        yield
    finally:
        await session.close()
