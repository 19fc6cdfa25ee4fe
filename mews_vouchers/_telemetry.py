"""Telemetry for operators: OpenTelemetry spans and events, and WARNING log lines.

With ``opentelemetry-api`` installed (extra ``[otel]``) each public call is a span
(``mews vouchers.add``) and each HTTP request a child span (``mews vouchers/add``) with
``mews.operation``, ``mews.items``, ``mews.attempt``, ``mews.request_id`` and
``http.response.status_code``; waits for the rate limit and 429 pauses are span events.
Without it every function here is a no-op that costs a function call.  The spans go to
whatever tracer provider the application configured (none: the API's no-op tracer).

No attribute ever holds a token: the SDK never passes one, and every text attribute is
also scrubbed of anything shaped like one (a run of 24 or more letters and digits; ids,
UUIDs and operation names are shorter) before it is set.

429 pauses and ambiguous chunks are also logged at WARNING on the ``mews_vouchers``
logger, with ``extra={"operation": ..., "request_id": ...}`` for structured pipelines.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from typing import Any, Final

from ._constants import MAX_ATTRIBUTE_LENGTH
from ._secrets import mask

try:
    from opentelemetry import trace as _trace
except ImportError:  # pragma: no cover - exercised only without the extra
    _trace = None  # type: ignore[assignment]

# A proxy: it follows the tracer provider the application sets, even after this import.
_TRACER: Final = None if _trace is None else _trace.get_tracer("mews_vouchers")

logger = logging.getLogger("mews_vouchers")

ENABLED: Final = _trace is not None
"""Whether opentelemetry-api is installed (spans are made; exported if an SDK is set up)."""

# The least wait worth an event: a slot granted at once still costs an acquire (a Redis
# round trip for RedisRateLimit); a wait for the window or a pause is longer.
_LEAST_WAIT: Final = 0.01
_CAMEL: Final = re.compile(r"(?<!^)(?=[A-Z])")
_TOKEN_SHAPED: Final = re.compile(r"[A-Za-z0-9_]{24,}")
_NULL: Final = contextlib.nullcontext()

# Event names (low cardinality; the numbers are attributes).
RATE_LIMIT_WAIT: Final = "mews.rate_limit.wait"
RATE_LIMIT_PAUSE: Final = "mews.rate_limit.pause"
AMBIGUOUS_CHUNK: Final = "mews.chunk.ambiguous"


def call_name(operation: str) -> str:
    """Return the method called for *operation* (``vouchers/getAll``: ``vouchers.get_all``)."""
    return ".".join(_CAMEL.sub("_", part).lower() for part in operation.split("/"))


def scrub(value: object) -> bool | int | float | str:
    """Return *value* as an attribute value: numbers as they are, text without token shapes."""
    if isinstance(value, bool | int | float):
        return value
    text = str(value)[:MAX_ATTRIBUTE_LENGTH]
    return _TOKEN_SHAPED.sub(lambda match: mask(match.group()), text)


def _attributes(attributes: dict[str, object]) -> dict[str, bool | int | float | str]:
    """Scrub *attributes*, dropping None; bare keys get the ``mews.`` namespace."""
    return {
        (key if "." in key else f"mews.{key}"): scrub(value)
        for key, value in attributes.items()
        if value is not None
    }


class RequestSpan:
    """The span of one HTTP request: say how it ended, and it records that."""

    __slots__ = ("_span",)

    def __init__(self, span: Any) -> None:
        self._span = span

    def answered(self, status: int, request_id: str | None) -> None:
        """Record the HTTP status and the API's RequestId; 4xx and 5xx mark the span failed."""
        span = self._span
        if span is None or not span.is_recording():
            return
        span.set_attribute("http.response.status_code", status)
        if request_id:
            span.set_attribute("mews.request_id", scrub(request_id))
        if status >= 400:
            span.set_attribute("error.type", str(status))
            span.set_status(_trace.Status(_trace.StatusCode.ERROR))

    def failed(self, error: BaseException) -> None:
        """Record a request that got no HTTP answer (or an unreadable one)."""
        span = self._span
        if span is None or not span.is_recording():
            return
        span.set_attribute("error.type", type(error).__name__)
        span.set_status(_trace.Status(_trace.StatusCode.ERROR, str(scrub(error))))


_NO_REQUEST_SPAN: Final = RequestSpan(None)
_NULL_REQUEST: Final = contextlib.nullcontext(_NO_REQUEST_SPAN)


def call_span(name: str, **attributes: object) -> contextlib.AbstractContextManager[Any]:
    """Return a context manager spanning one public call, ``mews <name>`` (``vouchers.add``).

    Keyword attributes without a dot are namespaced ``mews.`` (``items=3`` sets
    ``mews.items``).  An exception leaving the block is recorded on the span.
    """
    if _trace is None or _TRACER is None:
        return _NULL
    return _TRACER.start_as_current_span(
        f"mews {name}", kind=_trace.SpanKind.INTERNAL, attributes=_attributes(attributes)
    )


@contextlib.contextmanager
def _request_span(operation: str, items: int, attempt: int) -> Iterator[RequestSpan]:
    assert _trace is not None
    assert _TRACER is not None
    attributes: dict[str, bool | int | float | str] = {
        "mews.operation": operation,
        "mews.items": items,
        "mews.attempt": attempt,
        "http.request.method": "POST",
    }
    with _TRACER.start_as_current_span(
        f"mews {operation}",
        kind=_trace.SpanKind.CLIENT,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        handle = RequestSpan(span)
        try:
            yield handle
        except BaseException as exc:
            # No answer (a lost connection, a timeout, a cancellation): the class says which.
            handle.failed(exc)
            raise


def request_span(
    operation: str, *, items: int, attempt: int
) -> contextlib.AbstractContextManager[RequestSpan]:
    """Return a context manager spanning one HTTP request of *operation* (``vouchers/add``).

    It yields a :class:`RequestSpan`: call ``answered(status, request_id)`` on it once
    the answer is in; an exception leaving the block marks the span failed.
    """
    if _trace is None:
        return _NULL_REQUEST
    return _request_span(operation, items, attempt)


def add_event(name: str, **attributes: object) -> None:
    """Add an event to the current span (if one is being recorded)."""
    if _trace is None:
        return
    span = _trace.get_current_span()
    if span.is_recording():
        span.add_event(name, attributes=_attributes(attributes))


def rate_limit_waited(operation: str, seconds: float) -> None:
    """Note that a request of *operation* waited *seconds* for a rate-limit slot (or pause)."""
    if seconds >= _LEAST_WAIT:
        add_event(RATE_LIMIT_WAIT, operation=operation, wait_seconds=seconds)


def rate_limit_paused(operation: str, seconds: float, request_id: str | None) -> None:
    """Log (WARNING) and note a 429 that pauses every request of the token for *seconds*."""
    logger.warning(
        "%s: 429 Too Many Requests; pausing requests for %.3g s (request id %s)",
        operation,
        seconds,
        request_id,
        extra={"operation": operation, "request_id": request_id},
    )
    add_event(RATE_LIMIT_PAUSE, operation=operation, pause_seconds=seconds, request_id=request_id)


def chunk_ambiguous(operation: str, items: int, error: BaseException) -> None:
    """Log (WARNING) and note a chunk of *items* that may have been applied, or not."""
    request_id = getattr(error, "request_id", None)
    logger.warning(
        "%s: a chunk of %d items may or may not have been applied: %s",
        operation,
        items,
        error,
        extra={"operation": operation, "request_id": request_id},
    )
    add_event(
        AMBIGUOUS_CHUNK,
        operation=operation,
        items=items,
        request_id=request_id,
        **{"error.type": type(error).__name__},
    )
