"""Figure 8: a portfolio service, many clients in one process: CPU per 1000-voucher request.

A service that syncs a portfolio of hotels holds one client per access token, all in one
process and one event loop.  The API allows each token 200 requests per 30 s; pages and
write chunks hold up to 1000 vouchers.  For one core to serve T tokens at that full
rate, one request of 1000 vouchers may cost at most ``1 s / (T * 200 / 30)`` of CPU: for
T = 45, 3.33 ms.

K clients (one per token; the simulator, in its own process, serves them all) run at
once: each streams ``iter_all`` over the same 5,000 vouchers (reads), or adds 1,000
vouchers in one request (writes).  The client process's CPU time over the whole run,
divided by the 1000-voucher requests it made, is compared with that budget (target
<= 1).  Client set-up (sessions, connections) is done before the clock starts, as a
service does it once.  Least of *repeat* interleaved runs.

The same runs are made again with the garbage collector tuned as a service may choose
to (``gc.freeze()`` after start-up, ``gc.set_threshold(50_000, 20, 10)``), which the
library never does itself: informational rows, to show what that choice buys.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Awaitable, Callable, Iterator

import anyio
import attrs

from mews_vouchers import MewsClient, VoucherParameters, VoucherType

from ._common import CLIENT_NAME, Row, Served, ServerProcess, Target, interleaved_least, ratio

TOKENS = 45
REQUESTS_PER_SECOND = 200 / 30  # the API's limit per access token
BUDGET_MS = 1000 / (TOKENS * REQUESTS_PER_SECOND)
TUNED = (50_000, 20, 10)


@attrs.frozen(kw_only=True)
class PortfolioSize:
    """How big figure 8 runs."""

    clients: int
    read: int
    add: int
    page: int
    repeat: int


FULL = PortfolioSize(clients=TOKENS, read=5000, add=1000, page=1000, repeat=3)
QUICK = PortfolioSize(clients=3, read=300, add=100, page=100, repeat=1)


@contextlib.contextmanager
def tuned_gc(tuned: bool) -> Iterator[None]:
    """Run with the collector as a service may tune it (when *tuned*), then restore it."""
    if not tuned:
        yield
        return
    before = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*TUNED)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


def _clients(served: Served, size: PortfolioSize) -> list[MewsClient]:
    return [
        MewsClient(
            client_token=served.client_token,
            access_token=served.access_token,
            client=CLIENT_NAME,
            base_url=served.base_url,
            rate_limit=None,
            page_size=size.page,
            chunk_size=size.page,
        )
        for _ in range(size.clients)
    ]


async def _portfolio(
    served: Served, size: PortfolioSize, work: Callable[[MewsClient, int], Awaitable[int]]
) -> float:
    """Return the CPU seconds K clients spend on *work* at once (set-up excluded)."""
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(c) for c in _clients(served, size)]
        # One request each first: sessions and connections exist before the clock starts.
        async with anyio.create_task_group() as group:
            for client in clients:
                group.start_soon(_touch, served, client)
        counts: list[int] = []

        async def run(client: MewsClient, n: int) -> None:
            counts.append(await work(client, n))

        started = time.process_time()
        async with anyio.create_task_group() as group:
            for n, client in enumerate(clients):
                group.start_soon(run, client, n)
        spent = time.process_time() - started
    if len(counts) != size.clients or any(c <= 0 for c in counts):
        raise AssertionError(f"portfolio work came back short: {counts}")
    return spent


async def _touch(served: Served, client: MewsClient) -> None:
    hotel = served.hotels[0]
    await client.vouchers.get_all(
        service_ids=[hotel.service_id], voucher_ids=[hotel.service_id]
    )  # an id that matches nothing: one small request


def _reader(served: Served, size: PortfolioSize) -> Callable[[MewsClient, int], Awaitable[int]]:
    hotel = served.hotels[0]

    async def read(client: MewsClient, _: int) -> int:
        count = 0
        stream = client.vouchers.iter_all(
            service_ids=[hotel.service_id], enterprise_ids=[hotel.enterprise_id]
        )
        async with stream as vouchers:
            async for _voucher in vouchers:
                count += 1
        if count != size.read:
            raise AssertionError(f"read {count} vouchers, expected {size.read}")
        return count

    return read


def _writer(served: Served, size: PortfolioSize) -> Callable[[MewsClient, int], Awaitable[int]]:
    hotel = served.hotels[1]
    runs = iter(range(1_000_000))

    async def write(client: MewsClient, n: int) -> int:
        tag = f"P{next(runs)}-{n}-"
        params = [
            VoucherParameters(
                service_id=hotel.service_id,
                name=f"{tag}{i}",
                type=VoucherType.PUBLIC,
                external_identifier=f"{tag}{i}",
            )
            for i in range(size.add)
        ]
        vouchers = await client.vouchers.add(params, enterprise_id=hotel.enterprise_id)
        return len(vouchers)

    return write


def measure(size: PortfolioSize) -> dict[str, float]:
    """Return the least CPU milliseconds per 1000-voucher request of each run."""
    with ServerProcess(enterprises=2, vouchers=f"{size.read},0") as served:
        reader, writer = _reader(served, size), _writer(served, size)

        def timed(work: Callable[[MewsClient, int], Awaitable[int]], tuned: bool) -> float:
            with tuned_gc(tuned):
                return anyio.run(_portfolio, served, size, work, backend="asyncio")

        runs: dict[str, Callable[[], float]] = {
            "read": lambda: timed(reader, False),
            "write": lambda: timed(writer, False),
            "read tuned": lambda: timed(reader, True),
            "write tuned": lambda: timed(writer, True),
        }
        spent: dict[str, float] = {}

        def record(name: str) -> Callable[[], None]:
            def run() -> None:
                seconds = runs[name]()
                spent[name] = min(spent.get(name, float("inf")), seconds)

            return run

        for run in runs.values():
            run()  # warm up
        interleaved_least({name: record(name) for name in runs}, size.repeat)
    # Requests of `page` vouchers each; reads also need a last, empty page per client.
    requests = {
        "read": size.clients * (size.read // size.page + 1),
        "write": size.clients * -(-size.add // size.page),
    }
    per_thousand = 1000 / size.page
    return {
        name: seconds * 1e3 / requests[name.split()[0]] * per_thousand
        for name, seconds in spent.items()
    }


def run(quick: bool) -> list[Row]:
    """Measure figure 8 and return its rows (CPU milliseconds per 1000-voucher request)."""
    size = QUICK if quick else FULL
    ms = measure(size)
    rows = []
    for letter, name in zip("abcd", ("read", "write", "read tuned", "write tuned"), strict=True):
        kind, _, tuned = name.partition(" ")
        what = "iter_all" if kind == "read" else "add"
        tokens = 1000 / (ms[name] * REQUESTS_PER_SECOND)
        rows.append(
            Row(
                figure=(
                    f"8{letter} portfolio in one process, {what}: CPU per 1000-voucher request"
                    f" / budget{', GC tuned' if tuned else ''}"
                ),
                measured=ms[name],
                baseline=BUDGET_MS,
                unit="ms",
                result=ratio(ms[name], BUDGET_MS),
                target=None if tuned else Target(op="<=", value=1.0),
                note=(
                    f"{size.clients} clients at once; one core serves {tokens:.0f} tokens at"
                    f" 200 requests / 30 s (budget: {TOKENS})"
                    + (f"; gc.freeze() + gc.set_threshold{TUNED}" if tuned else "")
                ),
            )
        )
    return rows
