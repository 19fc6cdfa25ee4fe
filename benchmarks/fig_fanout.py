"""Figure 2: getAll fan-out over many enterprises, against the ideal and a sequential loop.

The simulator (in its own process) holds E enterprises of V vouchers each and answers
every request after a fixed latency L.  ``get_all(enterprise_ids=...)`` with
``max_concurrency=C`` is timed (wall clock, best of a few runs) and compared with:

- the ideal ``requests * L / C``: every request waits L, at most C wait at once, and
  nothing else costs time.  ``requests`` is what the protocol needs: a chain of V items
  in pages of P ends on a short page, so it takes ``V // P + 1`` requests (a last empty
  page when P divides V, since a full page cannot tell it is the last);
- a plain sequential loop written here with aiohttp and orjson (no models), one
  enterprise after the other, one page after the other: what the SDK saves a user who
  would otherwise write that loop.
"""

from __future__ import annotations

import time

import anyio
import attrs

from mews_vouchers import MewsClient, RateLimit

from ._common import CLIENT_NAME, Row, Served, ServerProcess, Target, ratio
from ._peers import fetch_pages, parse_floor


@attrs.frozen(kw_only=True)
class FanoutSize:
    """How big figure 2 runs."""

    enterprises: int
    vouchers: int
    page_size: int
    latency: float
    concurrency: int
    repeat: int


FULL = FanoutSize(
    enterprises=20, vouchers=5000, page_size=1000, latency=0.1, concurrency=8, repeat=3
)
QUICK = FanoutSize(
    enterprises=4, vouchers=300, page_size=100, latency=0.02, concurrency=8, repeat=1
)


def protocol_requests(size: FanoutSize) -> int:
    """Return the requests a cursor walk of every enterprise needs (see the module docstring)."""
    return size.enterprises * (size.vouchers // size.page_size + 1)


async def _sdk(served: Served, size: FanoutSize) -> tuple[float, int, int]:
    """Return the wall time of one get_all, the vouchers it returned, the requests it sent."""
    client = MewsClient(
        client_token=served.client_token,
        access_token=served.access_token,
        client=CLIENT_NAME,
        base_url=served.base_url,
        rate_limit=None,
        max_concurrency=size.concurrency,
        page_size=size.page_size,
    )
    limit: RateLimit | None = None
    assert client.rate_limit is limit
    async with client:
        start = time.perf_counter()
        result = await client.vouchers.get_all(
            service_ids=[h.service_id for h in served.hotels],
            enterprise_ids=[h.enterprise_id for h in served.hotels],
        )
        wall = time.perf_counter() - start
        return wall, len(result.vouchers), client.stats.requests


async def _sequential(served: Served, size: FanoutSize) -> tuple[float, int]:
    start = time.perf_counter()
    total = await fetch_pages(
        served,
        [h.enterprise_id for h in served.hotels],
        [h.service_id for h in served.hotels],
        size.page_size,
        parse_floor,
    )
    return time.perf_counter() - start, total


def run(quick: bool) -> list[Row]:
    """Measure figure 2 and return its rows."""
    size = QUICK if quick else FULL
    expected = size.enterprises * size.vouchers
    with ServerProcess(
        enterprises=size.enterprises, vouchers=size.vouchers, latency=size.latency
    ) as served:
        best = float("inf")
        sent = 0
        for _ in range(size.repeat):
            wall, count, sent = anyio.run(_sdk, served, size, backend="asyncio")
            if count != expected:
                raise AssertionError(f"get_all returned {count} vouchers, expected {expected}")
            best = min(best, wall)
        # The sequential loop is latency-bound (requests * L); once is enough.
        sequential, count = anyio.run(_sequential, served, size, backend="asyncio")
        if count != expected:
            raise AssertionError(f"the sequential loop read {count} vouchers, expected {expected}")
    needed = protocol_requests(size)
    ideal = needed * size.latency / size.concurrency
    shape = (
        f"{size.enterprises} enterprises x {size.vouchers} vouchers, page {size.page_size},"
        f" latency {size.latency:g} s, max_concurrency {size.concurrency}; best of"
        f" {size.repeat}"
    )
    return [
        Row(
            figure="2a getAll fan-out: time / ideal",
            measured=best,
            baseline=ideal,
            unit="s",
            result=ratio(best, ideal),
            target=Target(op="<=", value=1.2),
            note=(
                f"{shape}; ideal = {needed} requests x {size.latency:g} s / {size.concurrency};"
                f" the SDK sent {sent} requests"
            ),
        ),
        Row(
            figure="2b getAll fan-out: sequential loop / SDK (speed-up)",
            measured=best,
            baseline=sequential,
            unit="s",
            result=ratio(sequential, best),
            target=Target(op=">=", value=5.0),
            note="the baseline: one aiohttp request at a time, orjson, no models",
        ),
    ]
