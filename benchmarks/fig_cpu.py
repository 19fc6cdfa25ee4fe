"""Figure 3: the client's CPU per voucher, against the floor and a pydantic peer.

The simulator runs in its own process, so ``time.process_time()`` here counts only the
client: the SDK, aiohttp, the event loop.  Each contender reads the same pages (one
enterprise, page 1000, one request at a time as a single cursor chain) or adds the same
number of vouchers in chunks of 1000:

- **SDK**: ``client.vouchers.iter_all`` yielding ``Voucher`` objects, and
  ``client.vouchers.get_all`` returning them all at once (merged: each kept until the end);
  ``client.vouchers.add`` of ``VoucherParameters`` built for the call.
- **floor**: aiohttp + ``orjson.loads`` / ``orjson.dumps`` of hand-built dicts, no models:
  what any client must spend.
- **pydantic**: aiohttp + pydantic v2 models with PascalCase aliases, a page parsed by
  ``model_validate_json``, requests written by ``model_dump_json`` (see ``_peers``).

Building the inputs (``VoucherParameters``, pydantic models, dicts) counts for add: each
way of writing a client has to build them.  Each contender runs once to warm up (imports,
lazily built hooks and schemas), then *repeat* times interleaved; the least CPU time of
each is kept (the run least disturbed by the rest of the machine).
"""

from __future__ import annotations

import cProfile
import io
import pstats
import time
from collections.abc import Awaitable, Callable

import anyio
import attrs

from mews_vouchers import MewsClient, VoucherParameters, VoucherType

from ._common import CLIENT_NAME, Row, Served, ServerProcess, Target, interleaved_least, ratio
from ._peers import add_floor, add_pydantic, fetch_pages, parse_floor, parse_pydantic


@attrs.frozen(kw_only=True)
class CpuSize:
    """How big figure 3 runs."""

    read: int
    add: int
    repeat: int


FULL = CpuSize(read=100_000, add=20_000, repeat=5)
QUICK = CpuSize(read=2_000, add=1_000, repeat=1)
PAGE = 1000


def _client(served: Served) -> MewsClient:
    return MewsClient(
        client_token=served.client_token,
        access_token=served.access_token,
        client=CLIENT_NAME,
        base_url=served.base_url,
        rate_limit=None,
        page_size=PAGE,
    )


async def sdk_read(served: Served) -> int:
    """Stream every voucher of the first enterprise as ``Voucher`` objects; return the count."""
    hotel = served.hotels[0]
    count = 0
    async with _client(served) as client:
        stream = client.vouchers.iter_all(
            service_ids=[hotel.service_id], enterprise_ids=[hotel.enterprise_id]
        )
        async with stream as vouchers:
            async for _ in vouchers:
                count += 1
    return count


async def sdk_get_all(served: Served) -> int:
    """Read every voucher of the first enterprise with ``get_all``; return the count."""
    hotel = served.hotels[0]
    async with _client(served) as client:
        result = await client.vouchers.get_all(
            service_ids=[hotel.service_id], enterprise_ids=[hotel.enterprise_id]
        )
    return len(result.vouchers)


async def sdk_add(served: Served, total: int) -> int:
    """Add *total* vouchers to the second enterprise with the SDK; return how many came back."""
    hotel = served.hotels[1]
    params = [
        VoucherParameters(
            service_id=hotel.service_id,
            name=f"S{n}",
            type=VoucherType.PUBLIC,
            external_identifier=f"s{n}",
        )
        for n in range(total)
    ]
    async with _client(served) as client:
        vouchers = await client.vouchers.add(params, enterprise_id=hotel.enterprise_id)
    return len(vouchers)


def _reader(
    served: Served, parse: Callable[[bytes], tuple[int, str | None]]
) -> Callable[[], Awaitable[int]]:
    hotel = served.hotels[0]

    async def read() -> int:
        return await fetch_pages(served, [hotel.enterprise_id], [hotel.service_id], PAGE, parse)

    return read


def _timed(runs: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    for run in runs.values():
        run()  # warm up
    return interleaved_least(runs, repeat, clock=time.process_time)


def _checked(name: str, expected: int, run: Callable[[], int]) -> Callable[[], None]:
    def checked() -> None:
        got = run()
        if got != expected:
            raise AssertionError(f"{name}: {got} vouchers, expected {expected}")

    return checked


def measure(size: CpuSize) -> tuple[dict[str, float], dict[str, float]]:
    """Return the least CPU seconds of each contender, for the read and for the add."""
    with ServerProcess(enterprises=2, vouchers=f"{size.read},0") as served:
        hotel = served.hotels[1]

        def call(fn: Callable[..., Awaitable[int]], *args: object) -> Callable[[], int]:
            return lambda: anyio.run(fn, *args, backend="asyncio")

        read = _timed(
            {
                "sdk": _checked("sdk read", size.read, call(sdk_read, served)),
                "get_all": _checked("sdk get_all", size.read, call(sdk_get_all, served)),
                "floor": _checked("floor read", size.read, call(_reader(served, parse_floor))),
                "pydantic": _checked(
                    "pydantic read", size.read, call(_reader(served, parse_pydantic))
                ),
            },
            size.repeat,
        )
        ids = (served, hotel.enterprise_id, hotel.service_id, size.add, PAGE)
        add = _timed(
            {
                "sdk": _checked("sdk add", size.add, call(sdk_add, served, size.add)),
                "floor": _checked("floor add", size.add, call(add_floor, *ids)),
                "pydantic": _checked("pydantic add", size.add, call(add_pydantic, *ids)),
            },
            size.repeat,
        )
    return read, add


def run(quick: bool) -> list[Row]:
    """Measure figure 3 and return its rows (CPU microseconds per voucher)."""
    size = QUICK if quick else FULL
    read, add = measure(size)

    def per_voucher(seconds: float, count: int) -> float:
        return seconds / count * 1e6

    rows = []
    read_peer = per_voucher(read["pydantic"], size.read)
    read_floor = per_voucher(read["floor"], size.read)
    note = f"least of {size.repeat} interleaved process_time() runs"
    for what, seconds, target in (
        ("iter_all", read["sdk"], 0.6),
        ("get_all", read["get_all"], 1.0),
    ):
        sdk = per_voucher(seconds, size.read)
        rows += [
            Row(
                figure=f"3 {what} client CPU/voucher: SDK / pydantic",
                measured=sdk,
                baseline=read_peer,
                unit="us",
                result=ratio(sdk, read_peer),
                target=Target(op="<=", value=target),
                note=f"SDK {what} of {size.read:,} vouchers vs a pydantic v2 client; {note}",
            ),
            Row(
                figure=f"3 {what} client CPU/voucher: SDK / floor",
                measured=sdk,
                baseline=read_floor,
                unit="us",
                result=ratio(sdk, read_floor),
                target=Target(op="<=", value=3.0) if what == "iter_all" else None,
            ),
        ]
    sdk = per_voucher(add["sdk"], size.add)
    peer = per_voucher(add["pydantic"], size.add)
    floor = per_voucher(add["floor"], size.add)
    rows += [
        Row(
            figure="3 add client CPU/voucher: SDK / pydantic",
            measured=sdk,
            baseline=peer,
            unit="us",
            result=ratio(sdk, peer),
            target=Target(op="<=", value=0.4),
            note=(
                f"rows -> VoucherParameters -> add of {size.add:,} -> Voucher models vs a"
                f" pydantic v2 client; {note}"
            ),
        ),
        Row(
            figure="3 add client CPU/voucher: SDK / floor",
            measured=sdk,
            baseline=floor,
            unit="us",
            result=ratio(sdk, floor),
            target=Target(op="<=", value=3.0),
        ),
    ]
    return rows


def profile(quick: bool, top: int = 15) -> str:
    """Return the top functions (own time) of the SDK reading and adding, under cProfile.

    cProfile adds a fixed cost to every Python call, so functions that make many small
    calls look heavier than they are; use it for where the time goes, not how much.
    """
    size = QUICK if quick else FULL
    out = io.StringIO()
    with ServerProcess(enterprises=2, vouchers=f"{size.read},0") as served:
        for title, fn, args in (
            (f"iter_all of {size.read:,} vouchers", sdk_read, (served,)),
            (f"add of {size.add:,} vouchers", sdk_add, (served, size.add)),
        ):
            anyio.run(fn, *args, backend="asyncio")  # warm up
            profiler = cProfile.Profile()
            profiler.enable()
            anyio.run(fn, *args, backend="asyncio")
            profiler.disable()
            out.write(f"\n== SDK {title}: top {top} functions by own time\n")
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()
