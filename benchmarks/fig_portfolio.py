"""Figure 8: a portfolio service, many clients in one process: CPU per 1000-voucher request.

A service that syncs a portfolio of hotels holds one client per access token, all in one
process and one event loop.  The API allows each token 200 requests per 30 s; pages and
write chunks hold up to 1000 vouchers.  For one core to serve T tokens at that full
rate, one request of 1000 vouchers may cost at most ``1 s / (T * 200 / 30)`` of CPU: for
T = 45, 3.33 ms, on the machine where issue 13 set the goal.

K clients (one per token; the simulator, in its own process, serves them all) run at
once: each streams ``iter_all`` over the same 5,000 vouchers (reads), or adds 1,000
vouchers in one request (writes).  The client process's CPU time over the whole run,
divided by the 1000-voucher requests it made, is the figure.  Client set-up (sessions,
connections) is done before the clock starts, as a service does it once.  Least of
*repeat* interleaved runs.

A budget in milliseconds is a property of a machine, so it is scaled by a speed measured
in the same run: ``orjson.loads`` of a 1000-voucher page, which took 0.7 ms on the goal's
machine (:data:`REFERENCE_LOADS_MS`).  8a and 8b compare the SDK with the budget scaled
so (target <= 1); 8e and 8f run the same work with the floor, K plain clients of aiohttp
and orjson with no models, which says how many tokens one core of this machine serves
at all.  The absolute budget is in the notes.

The SDK's runs are made again with the garbage collector tuned as a service may choose
to (``gc.freeze()`` after start-up, ``gc.set_threshold(50_000, 20, 10)``), which the
library never does itself: informational rows, to show what that choice buys.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Awaitable, Callable, Iterator

import aiohttp
import anyio
import attrs
import orjson

from mews_vouchers import MewsClient, VoucherParameters, VoucherType

from ._common import CLIENT_NAME, Row, Served, ServerProcess, Target, interleaved_least, ratio
from ._peers import ADD_PATH, EXTENT, GET_ALL_PATH, HEADERS

TOKENS = 45
REQUESTS_PER_SECOND = 200 / 30  # the API's limit per access token
BUDGET_MS = 1000 / (TOKENS * REQUESTS_PER_SECOND)
TUNED = (50_000, 20, 10)
REFERENCE_LOADS_MS = 0.7
"""``orjson.loads`` of a 1000-voucher page on the machine where issue 13 set the goal."""


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


# --- the floor: K plain clients, aiohttp and orjson, no models ---------------------------------


@attrs.frozen
class _Plain:
    """A plain client of the floor: its session and what every request carries."""

    session: aiohttp.ClientSession
    served: Served

    async def post(self, path: str, body: dict[str, object]) -> bytes:
        """POST *body* with the tokens, return the answer's bytes."""
        data = orjson.dumps(
            {
                "ClientToken": self.served.client_token,
                "AccessToken": self.served.access_token,
                "Client": CLIENT_NAME,
                **body,
            }
        )
        async with self.session.post(self.served.base_url + path, data=data, headers=HEADERS) as r:
            payload = await r.read()
            if r.status != 200:
                raise RuntimeError(f"{path} answered {r.status}: {payload[:200]!r}")
            return payload


def _page_request(served: Served, count: int, cursor: object = None) -> dict[str, object]:
    hotel = served.hotels[0]
    return {
        "ServiceIds": [str(hotel.service_id)],
        "EnterpriseIds": [str(hotel.enterprise_id)],
        "Extent": EXTENT,
        "Limitation": {"Count": count, "Cursor": cursor},
    }


async def _floor_portfolio(
    served: Served, size: PortfolioSize, work: Callable[[_Plain, int], Awaitable[int]]
) -> float:
    """Return the CPU seconds K plain clients spend on *work* at once (set-up excluded)."""
    async with contextlib.AsyncExitStack() as stack:
        plain = [
            _Plain(await stack.enter_async_context(aiohttp.ClientSession()), served)
            for _ in range(size.clients)
        ]
        async with anyio.create_task_group() as group:
            for client in plain:
                group.start_soon(client.post, GET_ALL_PATH, _page_request(served, 1))
        counts: list[int] = []

        async def run(client: _Plain, n: int) -> None:
            counts.append(await work(client, n))

        started = time.process_time()
        async with anyio.create_task_group() as group:
            for n, client in enumerate(plain):
                group.start_soon(run, client, n)
        spent = time.process_time() - started
    if len(counts) != size.clients or any(c <= 0 for c in counts):
        raise AssertionError(f"portfolio work came back short: {counts}")
    return spent


def _floor_reader(served: Served, size: PortfolioSize) -> Callable[[_Plain, int], Awaitable[int]]:
    async def read(client: _Plain, _: int) -> int:
        count, cursor = 0, None
        while True:
            page = orjson.loads(
                await client.post(GET_ALL_PATH, _page_request(served, size.page, cursor))
            )
            items = page["Vouchers"] or []
            count += len(items)
            cursor = page["Cursor"]
            if cursor is None or len(items) < size.page:
                return count

    return read


def _floor_writer(served: Served, size: PortfolioSize) -> Callable[[_Plain, int], Awaitable[int]]:
    hotel = served.hotels[1]
    service, enterprise = str(hotel.service_id), str(hotel.enterprise_id)
    runs = iter(range(1_000_000))

    async def write(client: _Plain, n: int) -> int:
        tag = f"F{next(runs)}-{n}-"
        items = [
            {
                "ServiceId": service,
                "Name": f"{tag}{i}",
                "Type": "Public",
                "ExternalIdentifier": f"{tag}{i}",
            }
            for i in range(size.add)
        ]
        body = {"EnterpriseId": enterprise, "VoucherParameters": items}
        return len(orjson.loads(await client.post(ADD_PATH, body))["Vouchers"])

    return write


async def _page_body(served: Served) -> bytes:
    async with aiohttp.ClientSession() as session:
        return await _Plain(session, served).post(GET_ALL_PATH, _page_request(served, 1000))


def loads_ms(body: bytes, repeat: int) -> float:
    """Return the least CPU milliseconds of ``orjson.loads`` per 1000 vouchers of *body*."""
    vouchers = len(orjson.loads(body)["Vouchers"])
    number = 20

    def loads() -> None:
        for _ in range(number):
            orjson.loads(body)

    best = interleaved_least({"loads": loads}, repeat * 5, clock=time.process_time)["loads"]
    return best / number * 1e3 * 1000 / vouchers


def measure(size: PortfolioSize) -> tuple[dict[str, float], float]:
    """Return the least CPU ms per 1000-voucher request of each run, and the machine's speed.

    The speed is ``orjson.loads`` of a 1000-voucher page, in ms (see REFERENCE_LOADS_MS).
    """
    with ServerProcess(enterprises=2, vouchers=f"{size.read},0") as served:
        reader, writer = _reader(served, size), _writer(served, size)

        def timed(work: Callable[[MewsClient, int], Awaitable[int]], tuned: bool) -> float:
            with tuned_gc(tuned):
                return anyio.run(_portfolio, served, size, work, backend="asyncio")

        def floor(work: Callable[[_Plain, int], Awaitable[int]]) -> float:
            return anyio.run(_floor_portfolio, served, size, work, backend="asyncio")

        floor_reader, floor_writer = _floor_reader(served, size), _floor_writer(served, size)
        runs: dict[str, Callable[[], float]] = {
            "read": lambda: timed(reader, False),
            "write": lambda: timed(writer, False),
            "read tuned": lambda: timed(reader, True),
            "write tuned": lambda: timed(writer, True),
            "read floor": lambda: floor(floor_reader),
            "write floor": lambda: floor(floor_writer),
        }
        spent: dict[str, float] = {}

        def record(name: str) -> Callable[[], None]:
            def run() -> None:
                seconds = runs[name]()
                spent[name] = min(spent.get(name, float("inf")), seconds)

            return run

        for run in runs.values():
            run()  # warm up
        page = anyio.run(_page_body, served, backend="asyncio")
        speed = loads_ms(page, size.repeat)
        interleaved_least({name: record(name) for name in runs}, size.repeat)
        speed = min(speed, loads_ms(page, size.repeat))
    # Requests of `page` vouchers each; reads also need a last, empty page per client.
    requests = {
        "read": size.clients * (size.read // size.page + 1),
        "write": size.clients * -(-size.add // size.page),
    }
    per_thousand = 1000 / size.page
    ms = {
        name: seconds * 1e3 / requests[name.split()[0]] * per_thousand
        for name, seconds in spent.items()
    }
    return ms, speed


def _tokens(ms: float) -> float:
    """How many tokens one core serves at the API's full rate, at *ms* per request."""
    return 1000 / (ms * REQUESTS_PER_SECOND)


def run(quick: bool) -> list[Row]:
    """Measure figure 8 and return its rows (CPU milliseconds per 1000-voucher request)."""
    size = QUICK if quick else FULL
    ms, speed = measure(size)
    factor = speed / REFERENCE_LOADS_MS
    budget = BUDGET_MS * factor
    rows = []
    for letter, name in zip(
        "abcdef",
        ("read", "write", "read tuned", "write tuned", "read floor", "write floor"),
        strict=True,
    ):
        kind, _, how = name.partition(" ")
        what = "iter_all" if kind == "read" else "add"
        who = "floor (aiohttp + orjson) " if how == "floor" else ""
        note = (
            f"{size.clients} clients at once; one core of this machine serves"
            f" {_tokens(ms[name]):.0f} tokens at 200 requests / 30 s, the goal's machine"
            f" {_tokens(ms[name]) * factor:.0f} (goal: {TOKENS}); absolute budget"
            f" {BUDGET_MS:.2f} ms: {ratio(ms[name], BUDGET_MS):.2f}x"
        )
        if how != "floor":
            note += f"; {ratio(ms[name], ms[kind + ' floor']):.2f}x the floor's CPU"
        if how == "tuned":
            note += f"; gc.freeze() + gc.set_threshold{TUNED}"
        rows.append(
            Row(
                figure=(
                    f"8{letter} portfolio in one process, {who}{what}: CPU per 1000-voucher"
                    f" request / budget{', GC tuned' if how == 'tuned' else ''}"
                ),
                measured=ms[name],
                baseline=budget,
                unit="ms",
                result=ratio(ms[name], budget),
                target=Target(op="<=", value=1.0) if not how else None,
                note=note,
            )
        )
    rows.append(
        Row(
            figure="8g this machine's speed: orjson.loads of a 1000-voucher page / the goal's",
            measured=speed,
            baseline=REFERENCE_LOADS_MS,
            unit="ms",
            result=factor,
            note=(
                f"the budget of 8a-8f is {BUDGET_MS:.2f} ms x {factor:.2f} = {budget:.2f} ms"
                " (above 1: this machine is slower than the goal's)"
            ),
        )
    )
    return rows
