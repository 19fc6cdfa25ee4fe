"""One API call: encode, wait for a rate-limit slot, send, read, map errors, retry, log.

The requester is shared by every request of a client.  It knows the tokens (and keeps
them out of every message), the retry policy, the rate limiter and the concurrency limit.
Callers that need to know whether a failed write may have been applied pass an
:class:`AttemptRecord`.
"""

from __future__ import annotations

import logging
import random
import time
import typing
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
import attrs
import orjson

from . import _telemetry as telemetry
from ._config import RetryPolicy
from ._constants import API_PREFIX, ERROR_SNIPPET_LENGTH
from ._converter import encode
from ._errors import (
    MewsApiError,
    MewsConnectionError,
    MewsError,
    MewsValidationError,
    RateLimitError,
    RequestTimeoutError,
    error_class_for,
)
from ._loops import LoopBinding
from ._ratelimit import Limiter
from ._retry import (
    may_have_applied,
    parse_retry_after,
    rate_limit_delay,
    retry_delay,
    should_retry,
)
from ._secrets import redact, scrub
from ._timing import Timer
from ._transport import RawResponse, Transport

logger = logging.getLogger("mews_vouchers")
T = TypeVar("T")


@attrs.define
class ClientStats:
    """Counters of what a client has sent and met, for progress summaries and tests."""

    requests: int = 0
    """HTTP requests sent (every attempt counts)."""
    retries: int = 0
    """Attempts that were retries of an earlier one."""
    rate_limited: int = 0
    """429 answers met."""
    failed: int = 0
    """Attempts that ended in an error of any kind."""
    resolved_ambiguous: int = 0
    """Ambiguous add chunks settled by looking their items up (vouchers and codes)."""


@attrs.define
class AttemptRecord:
    """What the attempts of one logical request did: how many, and whether any may have applied."""

    attempts: int = 0
    maybe_applied: bool = False


class Requester:
    """Sends API calls for one client: auth, encoding, rate limit, retries, error mapping."""

    def __init__(
        self,
        *,
        transport: Transport,
        client_token: str,
        access_token: str,
        client: str,
        retry: RetryPolicy,
        language: tuple[str, str] | None = None,
        limiter: Limiter,
        capacity: anyio.CapacityLimiter,
        timeout: float,
        timer: Timer,
        rng: random.Random | None = None,
    ) -> None:
        self._transport = transport
        self._auth = {"ClientToken": client_token, "AccessToken": access_token, "Client": client}
        if language is not None:
            self._auth["LanguageCode"], self._auth["CultureCode"] = language
        self._secrets = (client_token, access_token)
        self.retry = retry
        self.limiter = limiter
        self.capacity = capacity
        self.timeout = timeout
        self._timer = timer
        self._rng = rng or random.Random()
        self.stats = ClientStats()
        self.closed = False
        """Set by the client's aclose(): every later attempt fails at once, uncounted."""
        # A client kept across asyncio.run calls gets a new concurrency limit in each loop.
        self._loop = LoopBinding()
        # Until then (clock time), the API asked for a longer wait than the policy allows:
        # requests fail at once instead of meeting one 429 after another.
        self._blocked_until = 0.0
        self._blocked_for = 0.0

    async def call(
        self,
        operation: str,
        params: dict[str, Any],
        *,
        items: int,
        idempotent: bool,
        parse: Callable[[bytes], T],
        retry_timeouts: bool = True,
        record: AttemptRecord | None = None,
    ) -> T:
        """Send *operation* with *params* and return ``parse(body)``, retrying per policy.

        *items* is only for the log.  An answer that *parse* cannot read is a malformed
        response (a :class:`MewsApiError` with the success status).  With
        ``retry_timeouts=False`` a 408 is raised at once (getAll retries it itself, with a
        smaller page).  Raises a :class:`MewsError`.
        """
        record = record if record is not None else AttemptRecord()
        try:
            body = encode({**self._auth, **params})
        except orjson.JSONEncodeError as exc:
            # Validation refuses what cannot be encoded; should anything slip through, it
            # fails here, before sending, and so is certainly not applied.
            raise MewsValidationError([(operation, f"cannot be sent as JSON: {exc}")]) from exc
        path = f"{API_PREFIX}/{operation}"
        attempt = 0  # tries that count against max_attempts (a 429 does not)
        rate_limited = 0
        while True:
            self._refuse_while_blocked(operation)
            attempt += 1
            record.attempts += 1
            if attempt + rate_limited > 1:
                self.stats.retries += 1
            tries = attempt + rate_limited
            error, result = await self._attempt(operation, path, body, items, tries, parse)
            if error is None:
                return typing.cast(T, result)
            self.stats.failed += 1
            if may_have_applied(error):
                record.maybe_applied = True
            if isinstance(error, RateLimitError):
                attempt -= 1
                record.attempts -= 1
                rate_limited += 1
                retry_after = error.retry_after
                pause = rate_limit_delay(self.retry, rate_limited, retry_after, rng=self._rng)
                if pause is None:
                    if retry_after is not None and retry_after > self.retry.max_retry_after:
                        self._block(retry_after)
                    raise error
                # The limit is per access token: every request of this client waits.
                telemetry.rate_limit_paused(operation, pause, error.request_id)
                await self.limiter.pause(pause)
                continue
            retryable = should_retry(error, idempotent=idempotent) and not (
                isinstance(error, RequestTimeoutError) and not retry_timeouts
            )
            if not retryable or attempt >= self.retry.max_attempts:
                raise error
            await self._timer.sleep_for(retry_delay(self.retry, attempt, rng=self._rng))

    async def aclose(self) -> None:
        """Close the transport and the rate limiter."""
        await self._transport.aclose()
        await self.limiter.aclose()

    def _block(self, seconds: float) -> None:
        until = self._timer.clock() + seconds
        if until > self._blocked_until:
            self._blocked_until, self._blocked_for = until, seconds

    def _refuse_while_blocked(self, operation: str) -> None:
        """Fail without sending while a Retry-After longer than the policy allows runs."""
        remaining = self._blocked_until - self._timer.clock()
        if remaining > 0:
            raise RateLimitError(
                f"not sent: the API asked to wait {self._blocked_for:g} s (Retry-After), more"
                f" than RetryPolicy.max_retry_after ({self.retry.max_retry_after:g} s);"
                f" {remaining:.0f} s remain",
                status=429,
                retry_after=remaining,
                operation=operation,
            )

    async def _attempt(
        self,
        operation: str,
        path: str,
        body: bytes,
        items: int,
        attempt: int,
        parse: Callable[[bytes], Any],
    ) -> tuple[MewsError | None, Any]:
        if self.closed:
            # Raised, not returned: a closed client is no failure to retry or count.
            raise MewsConnectionError("the client is closed", ambiguous=False)
        if self._loop.moved():
            self.capacity = anyio.CapacityLimiter(self.capacity.total_tokens)
        started = time.perf_counter()
        raw: RawResponse | None = None
        error: MewsError | None = None
        result: Any = None
        async with self.capacity:
            asked = self._timer.clock()
            slot = await self.limiter.acquire()
            telemetry.rate_limit_waited(operation, self._timer.clock() - asked)
            self.stats.requests += 1
            try:
                with telemetry.request_span(operation, items=items, attempt=attempt) as span:
                    raw = await self._transport.post(path, body, timeout=self.timeout)
                    span.answered(raw.status, raw.request_id)
            except MewsConnectionError as exc:
                error = exc
            finally:
                # Given back even when the call is being cancelled: a slot never leaks.
                with anyio.CancelScope(shield=True):
                    await self.limiter.release(slot)
        if raw is not None:
            # The slot is free again: let a request waiting for it go out before this
            # answer is parsed, so that parsing overlaps with the server's work.
            await anyio.lowlevel.checkpoint()
            if 200 <= raw.status < 300:
                try:
                    result = parse(raw.body)
                except orjson.JSONDecodeError as exc:
                    error = self._malformed(operation, raw, f"the body is not JSON ({exc})")
                    error.__cause__ = exc
                except Exception as exc:
                    error = self._malformed(operation, raw, f"{type(exc).__name__}: {exc}")
                    error.__cause__ = exc
            else:
                error = self._api_error(operation, raw)
                if isinstance(error, RateLimitError):
                    self.stats.rate_limited += 1
        if error is not None:
            # Whatever the server echoed (a token in a field it could not read, in a header)
            # is masked before the error or the log line shows it.
            scrub(error, self._secrets)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s items=%d status=%s duration=%.3fs request_id=%s attempt=%d%s",
                operation,
                items,
                raw.status if raw is not None else "-",
                time.perf_counter() - started,
                redact(raw.request_id, self._secrets) if raw and raw.request_id else None,
                attempt,
                f" error={error}" if error is not None else "",
            )
        return error, result

    def _malformed(self, operation: str, raw: RawResponse, why: str) -> MewsApiError:
        return MewsApiError(
            f"malformed response: {why}",
            status=raw.status,
            request_id=raw.request_id,
            operation=operation,
        )

    def _api_error(self, operation: str, raw: RawResponse) -> MewsApiError:
        payload: Any = None
        try:
            payload = orjson.loads(raw.body) if raw.body else None
        except orjson.JSONDecodeError:
            payload = None
        message: str | None = None
        request_id = raw.request_id
        details: Any = None
        if isinstance(payload, dict):
            if isinstance(payload.get("Message"), str):
                message = payload["Message"]
            if isinstance(payload.get("RequestId"), str):
                request_id = payload["RequestId"]
            details = payload.get("Details")
        if 300 <= raw.status < 400:
            # Redirects are never followed (a POST must not be replayed elsewhere), so the
            # request was not applied; the usual cause is a base_url to correct.
            message = f"redirected to {raw.location!r}, not followed: check base_url" + (
                f" ({message})" if message else ""
            )
        if message is None:
            # Masked before it is cut, so a token across the cut cannot show in part.
            longest = max(len(secret.encode()) for secret in self._secrets)
            head = raw.body[: ERROR_SNIPPET_LENGTH + longest].decode("utf-8", "replace")
            snippet = redact(head, self._secrets)[:ERROR_SNIPPET_LENGTH].strip()
            message = f"no error message in the response (body: {snippet!r})"
        message = redact(message, self._secrets)
        if details is not None:
            try:
                dumped = orjson.dumps(details).decode()
            except orjson.JSONEncodeError:
                # Nested deeper than orjson writes (it reads deeper than it writes): too
                # deep to check for tokens, and to be of use to anyone.
                details = "(Details left out: nested too deeply to show)"
            else:
                if any(secret in dumped for secret in self._secrets):
                    details = orjson.loads(redact(dumped, self._secrets))
        cls = error_class_for(raw.status)
        kwargs: dict[str, Any] = {
            "status": raw.status,
            "request_id": request_id,
            "details": details,
            "operation": operation,
        }
        if cls is RateLimitError:
            retry_after = parse_retry_after(raw.retry_after)  # in full: see rate_limit_delay
            return RateLimitError(message, retry_after=retry_after, **kwargs)
        return cls(message, **kwargs)
