"""Telemetry: spans, events and WARNING lines, read back with the OpenTelemetry SDK's exporter."""

from __future__ import annotations

import logging
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mews_vouchers import (
    BulkOperationError,
    MewsConnectionError,
    RateLimit,
    RateLimitError,
    VoucherParameters,
    VoucherType,
)
from mews_vouchers import _telemetry as telemetry
from mews_vouchers.testing import Fault, Hotel, MewsSimulator
from tests.conftest import make_client
from tests.support.fakes import FakeClock

otel_sdk = pytest.importorskip("opentelemetry.sdk.trace", reason="needs the dev extra")

from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult  # noqa: E402
from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402

TOKEN = "C66EF7B239D24632943D115EDE9CB810-EA00F8FD8294692C940F6B5A8F9453D"


class _Switch(Sampler):
    """Records spans only while a telemetry test runs: the provider is global, set once."""

    on = False

    def should_sample(
        self,
        parent_context: Any,
        trace_id: int,
        name: str,
        kind: Any = None,
        attributes: Any = None,
        *args: Any,
        **kwargs: Any,
    ) -> SamplingResult:
        # The SDK gives a sampled span the attributes the sampler returns.
        if not self.on:
            return SamplingResult(Decision.DROP)
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)

    def get_description(self) -> str:
        return "on only within tests/engine/test_telemetry.py"


_SWITCH = _Switch()
_EXPORTER = InMemorySpanExporter()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The global tracer provider records into an in-memory exporter during the test."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider(sampler=_SWITCH)
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        trace.set_tracer_provider(provider)
    _EXPORTER.clear()
    _SWITCH.on = True
    try:
        yield _EXPORTER
    finally:
        _SWITCH.on = False
        _EXPORTER.clear()


def named(finished: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [span for span in finished if span.name == name]


def test_call_span_names_the_public_call_and_namespaces_attributes(
    spans: InMemorySpanExporter,
) -> None:
    """call_span("vouchers.add", items=3) is an INTERNAL span `mews vouchers.add`, mews.items=3."""
    with telemetry.call_span("vouchers.add", items=3, enterprise=None):
        pass
    (span,) = spans.get_finished_spans()
    assert span.name == "mews vouchers.add"
    assert span.kind is SpanKind.INTERNAL
    assert dict(span.attributes or {}) == {"mews.items": 3}


def test_call_span_records_the_exception_that_ends_the_call(spans: InMemorySpanExporter) -> None:
    """An error leaving the call marks its span failed and records the exception."""
    with (
        pytest.raises(MewsConnectionError),
        telemetry.call_span("vouchers.get_all"),
    ):
        raise MewsConnectionError("down", ambiguous=False)
    (span,) = spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert [event.name for event in span.events] == ["exception"]


def test_request_span_is_a_client_child_with_the_documented_attributes(
    spans: InMemorySpanExporter,
) -> None:
    """A request span sits under its call, with operation, items, attempt, status, RequestId."""
    with (
        telemetry.call_span("vouchers.add"),
        telemetry.request_span("vouchers/add", items=100, attempt=2) as request,
    ):
        request.answered(200, "1b5e1e6e-9c3e-4c4e-8f4e-1f1f1f1f1f1f")
    (call,) = named(spans.get_finished_spans(), "mews vouchers.add")
    (http,) = named(spans.get_finished_spans(), "mews vouchers/add")
    assert http.kind is SpanKind.CLIENT
    assert http.parent is not None and http.parent.span_id == call.context.span_id
    assert dict(http.attributes or {}) == {
        "mews.operation": "vouchers/add",
        "mews.items": 100,
        "mews.attempt": 2,
        "http.request.method": "POST",
        "http.response.status_code": 200,
        "mews.request_id": "1b5e1e6e-9c3e-4c4e-8f4e-1f1f1f1f1f1f",
    }
    assert http.status.status_code is StatusCode.UNSET


@pytest.mark.parametrize("status", [400, 429, 500])
def test_request_span_with_an_error_status_is_failed(
    spans: InMemorySpanExporter, status: int
) -> None:
    """An HTTP error status marks the request span failed, error.type the status."""
    with telemetry.request_span("vouchers/getAll", items=1000, attempt=1) as request:
        request.answered(status, None)
    (span,) = spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == str(status)
    assert "mews.request_id" not in (span.attributes or {})


def test_request_span_without_an_answer_names_the_error(spans: InMemorySpanExporter) -> None:
    """A request that got no answer is failed with error.type the exception's class."""
    with (
        pytest.raises(MewsConnectionError),
        telemetry.request_span("vouchers/add", items=5, attempt=1),
    ):
        raise MewsConnectionError("connection reset", ambiguous=True)
    (span,) = spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "connection reset"
    assert (span.attributes or {})["error.type"] == "MewsConnectionError"


def test_events_land_on_the_current_span(spans: InMemorySpanExporter) -> None:
    """A rate-limit wait and a 429 pause are events of the span current at the time."""
    with telemetry.call_span("vouchers.update"):
        telemetry.rate_limit_waited("vouchers/update", 0.25)
        telemetry.rate_limit_waited("vouchers/update", 0.002)  # a slot at once: no event
        telemetry.rate_limit_paused("vouchers/update", 2.0, "rid-1")
    telemetry.add_event("outside any span")  # nothing current: nothing happens
    (span,) = spans.get_finished_spans()
    assert [(e.name, dict(e.attributes or {})) for e in span.events] == [
        (
            "mews.rate_limit.wait",
            {"mews.operation": "vouchers/update", "mews.wait_seconds": 0.25},
        ),
        (
            "mews.rate_limit.pause",
            {
                "mews.operation": "vouchers/update",
                "mews.pause_seconds": 2.0,
                "mews.request_id": "rid-1",
            },
        ),
    ]


def test_429_pause_and_ambiguous_chunk_are_warnings_with_structured_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Both log at WARNING on mews_vouchers, with operation and request_id as record fields."""
    caplog.set_level(logging.WARNING, logger="mews_vouchers")
    telemetry.rate_limit_paused("vouchers/add", 3.0, "rid-429")
    error = RateLimitError("slow down", status=429, request_id="rid-500", operation="vouchers/add")
    telemetry.chunk_ambiguous("vouchers/add", 1000, error)
    paused, ambiguous = caplog.records
    assert paused.levelno == ambiguous.levelno == logging.WARNING
    assert (paused.operation, paused.request_id) == ("vouchers/add", "rid-429")  # type: ignore[attr-defined]
    assert (ambiguous.operation, ambiguous.request_id) == ("vouchers/add", "rid-500")  # type: ignore[attr-defined]
    assert "1000 items" in ambiguous.getMessage()


def test_no_attribute_ever_holds_a_token(spans: InMemorySpanExporter) -> None:
    """A token handed in by mistake (attribute, RequestId, error) is masked everywhere."""
    with telemetry.call_span("vouchers.add", note=f"token {TOKEN}"):
        with telemetry.request_span("vouchers/add", items=1, attempt=1) as request:
            request.answered(401, TOKEN)
        with telemetry.request_span("vouchers/add", items=1, attempt=2) as request:
            request.failed(MewsConnectionError(f"bad {TOKEN}", ambiguous=False))
        telemetry.add_event("x", token=TOKEN)
    text = repr(
        [
            (s.attributes, s.status, [(e.attributes) for e in s.events])
            for s in spans.get_finished_spans()
        ]
    )
    for part in TOKEN.split("-"):
        assert part not in text
    assert "C66E…B810" in text


@pytest.mark.parametrize(
    ("operation", "call"),
    [
        ("vouchers/add", "vouchers.add"),
        ("vouchers/getAll", "vouchers.get_all"),
        ("voucherCodes/getAll", "voucher_codes.get_all"),
        ("voucherCodes/delete", "voucher_codes.delete"),
    ],
)
def test_call_name_is_the_python_method(operation: str, call: str) -> None:
    """A call span is named after the method a user calls, not the wire operation."""
    assert telemetry.call_name(operation) == call


@given(
    token=st.text(alphabet="0123456789ABCDEFabcdef", min_size=24, max_size=80),
    before=st.text(max_size=20),
    after=st.text(max_size=20),
)
def test_scrub_masks_anything_shaped_like_a_token(token: str, before: str, after: str) -> None:
    """Any run of 24+ letters and digits, wherever it sits in a text, is masked."""
    assert token not in str(telemetry.scrub(f"{before} {token} {after}"))


@pytest.mark.parametrize(
    "kept",
    [
        "vouchers/getAll",
        "voucherCodes/add",
        "1b5e1e6e-9c3e-4c4e-8f4e-1f1f1f1f1f1f",
        "MewsTimeoutError",
    ],
)
def test_scrub_keeps_ids_and_names(kept: str) -> None:
    """Operation names, UUIDs (RequestIds) and class names are left as they are."""
    assert telemetry.scrub(kept) == kept


def test_without_opentelemetry_every_call_is_a_no_op() -> None:
    """Without opentelemetry-api the module imports, and spans and events do nothing."""
    code = """
import sys
sys.modules["opentelemetry"] = None  # as if not installed
from mews_vouchers import _telemetry as t
assert not t.ENABLED
assert t.call_span("vouchers.add", items=1) is t.call_span("vouchers.get_all")
with t.call_span("vouchers.add", items=1):
    with t.request_span("vouchers/add", items=1, attempt=1) as r:
        r.answered(200, "rid")
        r.failed(ValueError("x"))
    t.rate_limit_waited("vouchers/add", 1.0)
    t.add_event("e", a=1)
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


# --- through the public API, over loopback ---------------------------------------------------


def attributes_of(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def children(finished: Sequence[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    return sorted(
        (
            s
            for s in finished
            if s.parent is not None and s.parent.span_id == parent.context.span_id
        ),
        key=lambda s: s.start_time or 0,
    )


@pytest.mark.anyio
async def test_each_public_call_is_a_span_and_each_request_its_child(
    spans: InMemorySpanExporter, sim: MewsSimulator, hotel: Hotel
) -> None:
    """add of 3 in chunks of 2: one call span, two request spans with the simulator's ids."""
    params = [
        VoucherParameters(service_id=hotel.service_id, name=f"v{n}", type=VoucherType.PUBLIC)
        for n in range(3)
    ]
    async with make_client(sim, chunk_size=2, max_concurrency=1) as client:
        await client.vouchers.add(params, enterprise_id=hotel.enterprise_id)
        await client.voucher_codes.get_all(voucher_ids=[uuid.uuid4()])
    finished = spans.get_finished_spans()
    (add,) = named(finished, "mews vouchers.add")
    (codes,) = named(finished, "mews voucher_codes.get_all")
    requests = children(finished, add)
    assert [attributes_of(r)["mews.items"] for r in requests] == [2, 1]
    for request, recorded in zip(requests, sim.requests, strict=False):
        assert request.name == "mews vouchers/add" and request.kind is SpanKind.CLIENT
        assert attributes_of(request) == {
            "mews.operation": "vouchers/add",
            "mews.items": recorded.items,
            "mews.attempt": 1,
            "http.request.method": "POST",
            "http.response.status_code": 200,
            "mews.request_id": recorded.request_id,
        }
    (read,) = children(finished, codes)
    assert read.name == "mews voucherCodes/getAll"
    assert add.status.status_code is codes.status.status_code is StatusCode.UNSET


@pytest.mark.anyio
async def test_a_429_is_a_failed_request_span_a_pause_event_and_a_warning(
    spans: InMemorySpanExporter,
    sim: MewsSimulator,
    hotel: Hotel,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The 429's span fails; the call gets a pause event; the log a WARNING with its fields."""
    caplog.set_level(logging.WARNING, logger="mews_vouchers")
    clock = FakeClock()
    sim.inject(Fault.RATE_LIMIT, times=1, retry_after="3")
    async with make_client(sim, clock=clock, sleep=clock.sleep) as client:
        await client.vouchers.get_all(service_ids=[hotel.service_id])
    limited = sim.requests[0]
    finished = spans.get_finished_spans()
    (call,) = named(finished, "mews vouchers.get_all")
    first, second = children(finished, call)
    assert attributes_of(first)["http.response.status_code"] == 429
    assert attributes_of(first)["mews.request_id"] == limited.request_id
    assert first.status.status_code is StatusCode.ERROR
    assert (attributes_of(second)["mews.attempt"], second.status.status_code) == (
        2,
        StatusCode.UNSET,
    )
    pauses = [e for e in call.events if e.name == "mews.rate_limit.pause"]
    assert [dict(e.attributes or {}) for e in pauses] == [
        {
            "mews.operation": "vouchers/getAll",
            "mews.pause_seconds": 3.0,
            "mews.request_id": limited.request_id,
        }
    ]
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.operation == "vouchers/getAll"  # type: ignore[attr-defined]
    assert warning.request_id == limited.request_id  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_a_wait_for_the_rate_limit_is_an_event_of_the_call(
    spans: InMemorySpanExporter, sim: MewsSimulator, hotel: Hotel
) -> None:
    """With one request per 5 s, the second request's wait of about 5 s is a span event."""
    clock = FakeClock()
    params = [
        VoucherParameters(service_id=hotel.service_id, name=f"v{n}", type=VoucherType.PUBLIC)
        for n in range(2)
    ]
    async with make_client(
        sim, rate_limit=RateLimit(1, 5.0), chunk_size=1, clock=clock, sleep=clock.sleep
    ) as client:
        await client.vouchers.add(params, enterprise_id=hotel.enterprise_id)
    (call,) = named(spans.get_finished_spans(), "mews vouchers.add")
    (wait,) = [e for e in call.events if e.name == "mews.rate_limit.wait"]
    attributes = dict(wait.attributes or {})
    assert attributes["mews.operation"] == "vouchers/add"
    assert 5.0 <= float(attributes["mews.wait_seconds"]) < 5.5


@pytest.mark.anyio
async def test_an_ambiguous_chunk_is_a_warning_and_an_event(
    spans: InMemorySpanExporter,
    sim: MewsSimulator,
    hotel: Hotel,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An add answered 500 after applying, without identifiers to look up: WARNING and event."""
    caplog.set_level(logging.WARNING, logger="mews_vouchers")
    sim.inject(Fault.SERVER_ERROR_AFTER, times=1)
    params = [VoucherParameters(service_id=hotel.service_id, name="v", type=VoucherType.PUBLIC)]
    async with make_client(sim) as client:
        with pytest.raises(BulkOperationError):
            await client.vouchers.add(params, enterprise_id=hotel.enterprise_id)
    request_id = sim.requests[0].request_id
    (call,) = named(spans.get_finished_spans(), "mews vouchers.add")
    assert call.status.status_code is StatusCode.ERROR
    (event,) = [e for e in call.events if e.name == "mews.chunk.ambiguous"]
    assert dict(event.attributes or {}) == {
        "mews.operation": "vouchers/add",
        "mews.items": 1,
        "mews.request_id": request_id,
        "error.type": "ServerError",
    }
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "may or may not have been applied" in warning.getMessage()
    assert (warning.operation, warning.request_id) == ("vouchers/add", request_id)  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_a_request_without_an_answer_is_a_failed_span_and_no_token_is_anywhere(
    spans: InMemorySpanExporter, sim: MewsSimulator, hotel: Hotel
) -> None:
    """A dropped connection fails its request span (error.type); nothing holds a token."""
    sim.inject(Fault.DROP_BEFORE, times=1)
    async with make_client(sim) as client:
        await client.vouchers.get_all(service_ids=[hotel.service_id])
    finished = spans.get_finished_spans()
    (call,) = named(finished, "mews vouchers.get_all")
    dropped, answered = children(finished, call)
    assert attributes_of(dropped)["error.type"] == "MewsConnectionError"
    assert "http.response.status_code" not in attributes_of(dropped)
    assert attributes_of(answered)["http.response.status_code"] == 200
    everything = repr(
        [
            (s.name, s.attributes, s.status.description, [e.attributes for e in s.events])
            for s in finished
        ]
    )
    for secret in (sim.access_token, sim.client_token):
        for part in secret.split("-"):
            assert part not in everything
