"""Figure 1: write throughput under a rate limit, against the least time the window permits.

A bulk ``vouchers.add`` of N chunks runs against a simulator that enforces a sliding
window of R requests per W seconds, with a client configured with the same limit.

The least time.  However requests are scheduled, no R+1 of them may arrive within one
window, so request ``k`` (from 0) cannot arrive earlier than ``floor(k / R) * W`` after
the first.  The last request, ``N - 1``, therefore arrives at least
``floor((N - 1) / R) * W`` after the first, and the call cannot end before that request
has been served: ``least = floor((N - 1) / R) * W + s``, with ``s`` that last request's
own service time (from its arrival at the simulator to the call's return).  The measured
time runs from the first request's arrival to the call's return.  The simulator runs in
its own process (so its work does not slow the client's event loop) and reports its
request log (``RecordedRequest.at``) on exit; both ends are read on
``time.monotonic()``, one clock for every process of a Linux machine.
``measured - least`` is then exactly the time the client lost between the first and the
last arrival, beyond what the window forced.
"""

from __future__ import annotations

import gc
import time

import anyio
import attrs

from mews_vouchers import MewsClient, RateLimit, VoucherParameters, VoucherType

from ._common import CLIENT_NAME, Row, Served, ServerProcess, Target, ratio


@attrs.frozen(kw_only=True)
class ThrottleSize:
    """How big figure 1 runs."""

    items: int
    chunk_size: int
    limit: RateLimit
    latency: float


FULL = ThrottleSize(items=10_000, chunk_size=100, limit=RateLimit(20, 2.0), latency=0.05)
QUICK = ThrottleSize(items=90, chunk_size=10, limit=RateLimit(4, 0.25), latency=0.01)


def least_time(requests: int, limit: RateLimit, service: float) -> float:
    """Return the least time for *requests* requests under *limit* (see the module docstring)."""
    return ((requests - 1) // limit.requests) * limit.per_seconds + service


async def _bulk_add(served: Served, size: ThrottleSize) -> tuple[int, float]:
    """Add ``size.items`` vouchers; return how many came back and when the call returned."""
    hotel = served.hotels[0]
    params = [
        VoucherParameters(
            service_id=hotel.service_id,
            name=f"Gift {n}",
            type=VoucherType.PUBLIC,
            external_identifier=f"gift-{n}",
        )
        for n in range(size.items)
    ]
    gc.collect()
    client = MewsClient(
        client_token=served.client_token,
        access_token=served.access_token,
        client=CLIENT_NAME,
        base_url=served.base_url,
        rate_limit=size.limit,
        chunk_size=size.chunk_size,
    )
    async with client:
        vouchers = await client.vouchers.add(params, enterprise_id=hotel.enterprise_id)
        # time.monotonic() is the clock the simulator stamps arrivals with (one clock for
        # every process of the machine on Linux).
        return len(vouchers), time.monotonic()


def run(quick: bool) -> list[Row]:
    """Measure figure 1 and return its rows."""
    size = QUICK if quick else FULL
    limit = (size.limit.requests, size.limit.per_seconds)
    server = ServerProcess(enterprises=1, vouchers=0, latency=size.latency, rate_limit=limit)
    with server as served:
        added, ended = anyio.run(_bulk_add, served, size, backend="asyncio")
    if added != size.items:
        raise AssertionError(f"added {added} vouchers, expected {size.items}")
    log = server.log
    chunks = -(-size.items // size.chunk_size)
    arrivals = sorted(r.at for r in log)
    first, last = arrivals[0], arrivals[-1]
    service = ended - last
    measured = ended - first
    least = least_time(chunks, size.limit, service)
    refused = sum(1 for r in log if r.status == 429)
    window = f"{size.limit.requests}/{size.limit.per_seconds:g} s"
    return [
        Row(
            figure="1a bulk add under a rate limit: time / least",
            measured=measured,
            baseline=least,
            unit="s",
            result=ratio(measured, least),
            target=Target(op="<=", value=1.1),
            note=(
                f"{chunks} requests of {size.chunk_size} items, limit {window}, simulator latency"
                f" {size.latency:g} s; least = floor(({chunks}-1)/{size.limit.requests})"
                f"*{size.limit.per_seconds:g} s + last request's service {service:.3f} s"
            ),
        ),
        Row(
            figure="1b bulk add under a rate limit: 429 share",
            measured=refused,
            baseline=len(log),
            unit="req",
            result=100.0 * ratio(refused, len(log)),
            result_unit="%",
            target=Target(op="<=", value=1.0),
        ),
    ]
