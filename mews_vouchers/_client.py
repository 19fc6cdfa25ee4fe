"""The client: configuration, lifecycle, and the resources ``vouchers`` and ``voucher_codes``."""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import aiohttp
import anyio
import yarl

from ._config import RateLimit, RetryPolicy
from ._constants import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_PAGE_SIZE,
    DEFAULT_TIMEOUT,
    DEMO_URL,
    ENV_ACCESS_TOKEN,
    ENV_BASE_URL,
    ENV_CLIENT,
    ENV_CLIENT_TOKEN,
    MAX_ITEMS_PER_REQUEST,
    MAX_PAGE_SIZE,
    MIN_PAGE_SIZE,
    VERSION,
)
from ._context import Context, Settings
from ._errors import MewsConfigError
from ._ratelimit import LimitPolicy, RateLimiter
from ._requester import ClientStats, Requester
from ._secrets import mask
from ._timing import Clock, Sleep, Timer
from ._transport import AiohttpTransport, Transport
from .resources import VoucherCodes, Vouchers

# The command line takes these names from here too.
__all__ = [
    "ENV_ACCESS_TOKEN",
    "ENV_BASE_URL",
    "ENV_CLIENT",
    "ENV_CLIENT_TOKEN",
    "MewsClient",
    "__version__",
]

__version__ = VERSION


def _require_text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MewsConfigError(f"{name} must be a non-empty string")
    return value


def _require_int(name: str, value: object, low: int, high: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise MewsConfigError(f"{name} must be an integer >= {low}, got {value!r}")
    if high is not None and value > high:
        raise MewsConfigError(f"{name} must be {low}..{high}, got {value!r}")
    return value


# The password of a URL's user information, up to the "@" that ends it.
_URL_PASSWORD = re.compile(r"(//[^/?#@:]*):[^/?#]*@")


def _require_base_url(value: object) -> str:
    """Return *value* without trailing slashes if it is a URL requests can be sent to."""
    given = _require_text("base_url", value).strip()
    # A password is a secret: no message shows it, even of a URL that does not parse.
    shown = _URL_PASSWORD.sub(r"\1:***@", given)
    try:
        url = yarl.URL(given)
        port = url.port  # yarl checks the range when parsing; 0 is no port to connect to
    except ValueError as exc:
        raise MewsConfigError(f"base_url is not a valid URL ({exc}): {shown!r}") from None
    if url.scheme not in ("http", "https"):
        raise MewsConfigError(f"base_url must start with http:// or https://, got {shown!r}")
    host = url.raw_host
    if not host or any(char.isspace() for char in host):
        raise MewsConfigError(f"base_url has no valid host: {shown!r}")
    if port is None or not 0 < port < 65536:
        raise MewsConfigError(f"base_url has a port outside 1..65535: {shown!r}")
    if url.query_string or url.fragment:
        raise MewsConfigError(f"base_url must not have a query or fragment: {shown!r}")
    if url.raw_user is not None or url.raw_password is not None:
        # aiohttp would send them as Basic authentication, which the API does not take,
        # and the URL is shown in reprs, logs and spans: refused rather than kept.
        raise MewsConfigError(
            "base_url must not hold a user or password (the API authenticates by the "
            f"tokens in each request's body): {shown!r}"
        )
    return given.rstrip("/")


class MewsClient:
    """An asyncio client for the voucher operations of the Mews Connector API.

    Use it as ``async with MewsClient(...) as client:`` or close it with ``aclose()``.
    One client holds one access token; its requests share one rate limiter, one
    concurrency limit and one HTTP session (yours, if you pass *session*: it is never
    closed by the client).  It may be used from many tasks at once.

    Three keywords serve tests: *transport* replaces the HTTP layer (any
    :class:`Transport`), and *clock* and *sleep* replace ``time.monotonic`` and
    ``anyio.sleep`` in every wait of the client (retries, the rate limit, an add in
    doubt), so that a test with a fake clock is exact and instant.
    """

    def __init__(
        self,
        *,
        client_token: str,
        access_token: str,
        client: str,
        base_url: str = DEMO_URL,
        session: aiohttp.ClientSession | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        rate_limit: LimitPolicy | None = RateLimit(),
        retry: RetryPolicy = RetryPolicy(),
        timeout: float = DEFAULT_TIMEOUT,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        page_size: int = DEFAULT_PAGE_SIZE,
        language_code: str | None = None,
        culture_code: str | None = None,
        transport: Transport | None = None,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        self._client_token = _require_text("client_token", client_token)
        self._access_token = _require_text("access_token", access_token)
        self.client_name = _require_text("client", client)
        self.base_url = _require_base_url(base_url)
        settings = Settings(
            max_concurrency=_require_int("max_concurrency", max_concurrency, 1),
            chunk_size=_require_int("chunk_size", chunk_size, 1, MAX_ITEMS_PER_REQUEST),
            page_size=_require_int("page_size", page_size, MIN_PAGE_SIZE, MAX_PAGE_SIZE),
            retry=retry,
        )
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not timeout > 0:
            raise MewsConfigError(f"timeout must be a number of seconds > 0, got {timeout!r}")
        if rate_limit is not None and not isinstance(rate_limit, LimitPolicy):
            raise MewsConfigError(
                f"rate_limit must be a RateLimit, a RedisRateLimit or None, got {rate_limit!r}"
            )
        if not isinstance(retry, RetryPolicy):
            raise MewsConfigError(f"retry must be a RetryPolicy, got {retry!r}")
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise MewsConfigError("session must be an aiohttp.ClientSession")
        if transport is not None and not isinstance(transport, Transport):
            raise MewsConfigError(f"transport must be a Transport, got {transport!r}")
        if transport is not None and session is not None:
            raise MewsConfigError("give a session or a transport, not both: a transport sends")
        if (language_code is None) != (culture_code is None):
            # The API ignores one without the other: say so rather than send it in vain.
            raise MewsConfigError(
                "language_code and culture_code go together: give both or neither, got"
                f" language_code={language_code!r}, culture_code={culture_code!r}"
            )
        language = None
        if language_code is not None and culture_code is not None:
            language = (
                _require_text("language_code", language_code),
                _require_text("culture_code", culture_code),
            )
        self.language_code = language_code
        self.culture_code = culture_code
        self.timeout = float(timeout)
        self.rate_limit = rate_limit
        timer = Timer(clock or time.monotonic, sleep or anyio.sleep)
        limiter = (
            RateLimiter(None, clock=timer.clock, sleep=timer.sleep)
            if rate_limit is None
            else rate_limit.limiter(
                access_token=self._access_token, clock=timer.clock, sleep=timer.sleep
            )
        )
        requester = Requester(
            transport=transport
            or AiohttpTransport(
                self.base_url,
                session=session,
                connections=settings.max_concurrency,
            ),
            client_token=self._client_token,
            access_token=self._access_token,
            client=self.client_name,
            language=language,
            retry=retry,
            limiter=limiter,
            capacity=anyio.CapacityLimiter(settings.max_concurrency),
            timeout=self.timeout,
            timer=timer,
            rng=random.Random(),
        )
        self._context = Context(requester=requester, settings=settings, timer=timer)
        self.voucher_codes = VoucherCodes(self._context)
        """The ``voucherCodes/*`` operations."""
        self.vouchers = Vouchers(self._context, codes=self.voucher_codes)
        """The ``vouchers/*`` operations."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> MewsClient:
        """Build a client from ``MEWS_CLIENT_TOKEN``, ``MEWS_ACCESS_TOKEN``, ``MEWS_CLIENT``
        and ``MEWS_BASE_URL``; keyword arguments override them and set everything else.
        """
        env = os.environ if environ is None else environ
        names = {
            "client_token": ENV_CLIENT_TOKEN,
            "access_token": ENV_ACCESS_TOKEN,
            "client": ENV_CLIENT,
            "base_url": ENV_BASE_URL,
        }
        kwargs = dict(overrides)
        for param, var in names.items():
            if param in kwargs:
                continue
            value = env.get(var, "").strip()
            if value:
                kwargs[param] = value
            elif param != "base_url":
                raise MewsConfigError(f"environment variable {var} is not set (needed for {param})")
        return cls(**kwargs)

    @property
    def stats(self) -> ClientStats:
        """Return the counters of requests, retries and 429s of this client so far."""
        return self._context.stats

    @property
    def closed(self) -> bool:
        """Return whether ``aclose()`` was called."""
        return self._context.closed

    @property
    def max_concurrency(self) -> int:
        """Return how many requests this client keeps in flight at most."""
        return self._context.settings.max_concurrency

    @property
    def chunk_size(self) -> int:
        """Return the items per write request."""
        return self._context.settings.chunk_size

    @property
    def page_size(self) -> int:
        """Return the ``Limitation.Count`` of each getAll request."""
        return self._context.settings.page_size

    @property
    def retry(self) -> RetryPolicy:
        """Return the retry policy."""
        return self._context.settings.retry

    def __repr__(self) -> str:
        return (
            f"MewsClient(base_url={self.base_url!r}, client={self.client_name!r}, "
            f"client_token={mask(self._client_token)!r}, "
            f"access_token={mask(self._access_token)!r})"
        )

    async def __aenter__(self) -> MewsClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """End every call still running on this client, then close what the client owns."""
        await self._context.aclose()
