"""Figure 2: getAll fan-out over many enterprises, against the ideal, a loop and a plain client.

The simulator (in its own process) holds E enterprises of V vouchers each and answers
every request after a fixed latency L.  ``get_all(enterprise_ids=...)`` with
``max_concurrency=C`` is timed (wall clock, best of a few runs) and compared with:

- the ideal ``requests * L / C``: every request waits L, at most C wait at once, and
  nothing else costs time.  ``requests`` is what the protocol needs: a chain of V items
  in pages of P ends on a short page, so it takes ``V // P + 1`` requests (a last empty
  page when P divides V, since a full page cannot tell it is the last);
- a plain sequential loop written here with aiohttp and orjson (no models), one
  enterprise after the other, one page after the other: what the SDK saves a user who
  would otherwise write that loop;
- a plain concurrent client (``_peers.fetch_pages_concurrently``): aiohttp and orjson,
  a task per enterprise and a semaphore of C, the same requests as the SDK.  What the
  SDK's scheduling costs is the wall time above it: ``get_all`` is measured against the
  client keeping its decoded pages, ``iter_all`` against it dropping each once counted.

The SDK and the plain client run interleaved (a, b, c, d, a, b, ...), best of a few each.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

import anyio
import attrs

from mews_vouchers import MewsClient, RateLimit

from ._common import CLIENT_NAME, Row, Served, ServerProcess, Target, ratio
from ._peers import fetch_pages, fetch_pages_concurrently, parse_floor


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
    enterprises=20, vouchers=5000, page_size=1000, latency=0.1, concurrency=8, repeat=5
)
QUICK = FanoutSize(
    enterprises=4, vouchers=300, page_size=100, latency=0.02, concurrency=8, repeat=1
)


def protocol_requests(size: FanoutSize) -> int:
    """Return the requests a cursor walk of every enterprise needs (see the module docstring)."""
    return size.enterprises * (size.vouchers // size.page_size + 1)


def _client(served: Served, size: FanoutSize) -> MewsClient:
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
    return client


async def _get_all(served: Served, size: FanoutSize) -> tuple[float, int, int]:
    """Return the wall time of one get_all, the vouchers it returned, the requests it sent."""
    async with _client(served, size) as client:
        start = time.perf_counter()
        result = await client.vouchers.get_all(
            service_ids=[h.service_id for h in served.hotels],
            enterprise_ids=[h.enterprise_id for h in served.hotels],
        )
        wall = time.perf_counter() - start
        return wall, len(result.vouchers), client.stats.requests


async def _iter_all(served: Served, size: FanoutSize) -> tuple[float, int, int]:
    """Return the wall time of one loop over iter_all, the vouchers seen, the requests sent."""
    async with _client(served, size) as client:
        start = time.perf_counter()
        count = 0
        async with client.vouchers.iter_all(
            service_ids=[h.service_id for h in served.hotels],
            enterprise_ids=[h.enterprise_id for h in served.hotels],
        ) as vouchers:
            async for _ in vouchers:
                count += 1
        wall = time.perf_counter() - start
        return wall, count, client.stats.requests


async def _plain(served: Served, size: FanoutSize, keep: bool) -> tuple[float, int, int]:
    start = time.perf_counter()
    total = await fetch_pages_concurrently(
        served,
        [h.enterprise_id for h in served.hotels],
        [h.service_id for h in served.hotels],
        size.page_size,
        size.concurrency,
        keep=keep,
    )
    return time.perf_counter() - start, total, protocol_requests(size)


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


def _spread(walls: list[float]) -> str:
    return f"{min(walls):.2f}-{max(walls):.2f} s"


def _without_collector(
    run: Callable[[Served], tuple[float, int, int]],
) -> Callable[[Served], tuple[float, int, int]]:
    """Return *run* with the garbage collector off while it runs (figure 2e only)."""

    def measured(served: Served) -> tuple[float, int, int]:
        gc.disable()
        try:
            return run(served)
        finally:
            gc.enable()

    return measured


def run(quick: bool) -> list[Row]:
    """Measure figure 2 and return its rows."""
    size = QUICK if quick else FULL
    expected = size.enterprises * size.vouchers
    contenders: dict[str, Callable[[Served], tuple[float, int, int]]] = {
        "get_all": lambda served: anyio.run(_get_all, served, size, backend="asyncio"),
        "plain, kept": lambda served: anyio.run(_plain, served, size, True, backend="asyncio"),
        "iter_all": lambda served: anyio.run(_iter_all, served, size, backend="asyncio"),
        "plain, dropped": lambda served: anyio.run(_plain, served, size, False, backend="asyncio"),
    }
    # What is left of 2c once the collector is out of both: scheduling and the rest.
    contenders["get_all, no collector"] = _without_collector(contenders["get_all"])
    contenders["plain, kept, no collector"] = _without_collector(contenders["plain, kept"])
    walls: dict[str, list[float]] = {name: [] for name in contenders}
    sent = 0
    with ServerProcess(
        enterprises=size.enterprises, vouchers=size.vouchers, latency=size.latency
    ) as served:
        for _ in range(size.repeat):
            for name, contender in contenders.items():
                gc.collect()
                wall, count, requests = contender(served)
                if count != expected:
                    raise AssertionError(f"{name} read {count} vouchers, expected {expected}")
                walls[name].append(wall)
                if name == "get_all":
                    sent = requests
        # The sequential loop is latency-bound (requests * L); once is enough.
        sequential, count = anyio.run(_sequential, served, size, backend="asyncio")
        if count != expected:
            raise AssertionError(f"the sequential loop read {count} vouchers, expected {expected}")
    best = {name: min(times) for name, times in walls.items()}
    needed = protocol_requests(size)
    ideal = needed * size.latency / size.concurrency
    shape = (
        f"{size.enterprises} enterprises x {size.vouchers} vouchers, page {size.page_size},"
        f" latency {size.latency:g} s, max_concurrency {size.concurrency}; best of"
        f" {size.repeat}, interleaved"
    )
    return [
        Row(
            figure="2a getAll fan-out: time / ideal",
            measured=best["get_all"],
            baseline=ideal,
            unit="s",
            result=ratio(best["get_all"], ideal),
            target=Target(op="<=", value=1.2),
            note=(
                f"{shape}; ideal = {needed} requests x {size.latency:g} s / {size.concurrency};"
                f" the SDK sent {sent} requests"
            ),
        ),
        Row(
            figure="2b getAll fan-out: sequential loop / SDK (speed-up)",
            measured=best["get_all"],
            baseline=sequential,
            unit="s",
            result=ratio(sequential, best["get_all"]),
            target=Target(op=">=", value=5.0),
            note="the baseline: one aiohttp request at a time, orjson, no models",
        ),
        Row(
            figure="2c getAll fan-out: get_all / plain concurrent client",
            measured=best["get_all"],
            baseline=best["plain, kept"],
            unit="s",
            result=ratio(best["get_all"], best["plain, kept"]),
            target=Target(op="<=", value=1.05),
            note=(
                "the baseline: a task per enterprise, a semaphore of max_concurrency,"
                f" aiohttp + orjson, pages kept; runs: SDK {_spread(walls['get_all'])},"
                f" plain {_spread(walls['plain, kept'])}"
            ),
        ),
        Row(
            figure="2d getAll fan-out: iter_all / plain concurrent client",
            measured=best["iter_all"],
            baseline=best["plain, dropped"],
            unit="s",
            result=ratio(best["iter_all"], best["plain, dropped"]),
            target=Target(op="<=", value=1.05),
            note=(
                f"the same plain client, each page dropped once counted; runs: SDK"
                f" {_spread(walls['iter_all'])}, plain {_spread(walls['plain, dropped'])}"
            ),
        ),
        Row(
            figure="2e getAll fan-out: get_all / plain concurrent client, collector off",
            measured=best["get_all, no collector"],
            baseline=best["plain, kept, no collector"],
            unit="s",
            result=ratio(best["get_all, no collector"], best["plain, kept, no collector"]),
            note=(
                "2c with gc.disable() in both: the collector walking the ~200,000 objects"
                " get_all keeps (a model and its id per voucher; CPython leaves the plain"
                " client's dicts of strings untracked) is the difference"
            ),
        ),
    ]
