"""getAll at scale: concurrent chains per enterprise, splitting, windows, streaming."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import anyio
import attrs
import orjson
import pytest
from aiohttp import web

from mews_vouchers import MewsClient, PaginationError, RetryPolicy, TimeInterval, VoucherExtent
from mews_vouchers.testing import Fault, Hotel, MewsSimulator
from tests.conftest import make_client
from tests.support.hostile import ScriptedServer

pytestmark = pytest.mark.anyio


def get_alls(sim: MewsSimulator) -> list[Any]:
    return [r for r in sim.requests if r.operation == "vouchers/getAll"]


async def test_seven_enterprises_fetched_once_with_overlapping_chains() -> None:
    """7 hotels x 2,500: every voucher once, 3 pages per chain, the chains overlapping in time."""
    async with MewsSimulator(latency=0.02) as sim:
        hotels = [sim.add_hotel(f"H{i}") for i in range(7)]
        seeded = {
            h.enterprise_id: set(sim.seed_vouchers(h.service_id, 2500, name_prefix=f"H{i}-"))
            for i, h in enumerate(hotels)
        }
        async with make_client(sim) as client:
            result = await client.vouchers.get_all(
                service_ids=[h.service_id for h in hotels],
                enterprise_ids=[h.enterprise_id for h in hotels],
            )
        assert len(result.vouchers) == 17_500
        assert {v.id for v in result.vouchers} == set().union(*seeded.values())
        for voucher in result.vouchers:
            assert voucher.id in seeded[voucher.enterprise_id]  # type: ignore[index]
        requests = get_alls(sim)
        per_chain = Counter(r.enterprise_id for r in requests)
        assert per_chain == {str(h.enterprise_id): 3 for h in hotels}  # 1000, 1000, 500: no 4th
        spans = {}
        for r in requests:
            first, last = spans.get(r.enterprise_id, (r.at, r.at))
            spans[r.enterprise_id] = (min(first, r.at), max(last, r.at))
        earliest_end = min(end for _, end in spans.values())
        latest_start = max(start for start, _ in spans.values())
        assert latest_start < earliest_end  # every chain had started before any had finished


async def test_one_chain_over_all_enterprises_without_enterprise_ids(sim: MewsSimulator) -> None:
    """Without enterprise_ids, one chain pages over every enterprise the token reaches."""
    a, b = sim.add_hotel("A"), sim.add_hotel("B")
    sim.seed_vouchers(a.service_id, 700)
    sim.seed_vouchers(b.service_id, 800)
    async with make_client(sim, page_size=600) as client:
        result = await client.vouchers.get_all(service_ids=[a.service_id, b.service_id])
    assert len(result.vouchers) == 1500
    assert [r.items for r in get_alls(sim)] == [600, 600, 600]
    assert all("EnterpriseIds" not in (r.body or {}) for r in get_alls(sim))


async def test_long_filter_lists_are_split(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """2,500 voucher ids become 3 queries of at most 1000 ids; the answer is their union."""
    ids = sim.seed_vouchers(hotel.service_id, 3000)
    wanted = ids[:2500]
    result = await client.vouchers.get_all(service_ids=[hotel.service_id], voucher_ids=wanted)
    assert {v.id for v in result.vouchers} == set(wanted)
    sizes = sorted(len(r.body["VoucherIds"]) for r in get_alls(sim) if r.body)
    assert sizes == [500, 1000, 1000]


async def test_long_updated_interval_is_split_into_windows(
    sim: MewsSimulator, hotel: Hotel
) -> None:
    """Seven months become three windows of at most three months, back to back."""
    base = datetime(2024, 1, 1, tzinfo=UTC)
    for month in range(7):
        sim.seed_vouchers(
            hotel.service_id,
            10,
            name_prefix=f"M{month}-",
            updated_utc=base + timedelta(days=31 * month + 1),
        )
    async with make_client(sim) as client:
        result = await client.vouchers.get_all(
            service_ids=[hotel.service_id],
            updated_utc=TimeInterval(start_utc=base, end_utc=base + timedelta(days=214)),
        )
    assert len(result.vouchers) == 70
    windows = sorted(
        (r.body["UpdatedUtc"]["StartUtc"], r.body["UpdatedUtc"]["EndUtc"])
        for r in get_alls(sim)
        if r.body
    )
    assert windows == [
        ("2024-01-01T00:00:00Z", "2024-04-01T00:00:00Z"),
        ("2024-04-01T00:00:00Z", "2024-07-01T00:00:00Z"),
        ("2024-07-01T00:00:00Z", "2024-08-02T00:00:00Z"),
    ]


async def test_408_retries_with_half_the_page(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """A 408 on getAll asks again for half as many, and the chain goes on at that size."""
    sim.seed_vouchers(hotel.service_id, 1800)
    sim.inject(Fault.TIMEOUT, times=1, operation="vouchers/getAll")
    result = await client.vouchers.get_all(service_ids=[hotel.service_id])
    assert len({v.id for v in result.vouchers}) == 1800
    assert [r.items for r in get_alls(sim)] == [1000, 500, 500, 500, 500]


async def test_get_all_merges_each_entity_once(sim: MewsSimulator, hotel: Hotel) -> None:
    """Rates shared by vouchers on many pages and chains come back once."""
    async with make_client(sim, page_size=2) as client:
        from mews_vouchers import VoucherParameters, VoucherType

        await client.vouchers.add(
            [
                VoucherParameters(
                    service_id=hotel.service_id,
                    name=f"v{i}",
                    type=VoucherType.PUBLIC,
                    assigned_rate_ids=hotel.rate_ids,
                )
                for i in range(5)
            ],
            enterprise_id=hotel.enterprise_id,
        )
        result = await client.vouchers.get_all(
            service_ids=[hotel.service_id],
            extent=VoucherExtent(voucher_assignments=True, rates=True),
        )
    assert len(result.vouchers) == 5
    assert len(result.voucher_assignments) == 10
    assert sorted(r.id for r in result.rates) == sorted(hotel.rate_ids)
    assert result.cursor is None


async def seed_rated_vouchers(client: MewsClient, sim: MewsSimulator, hotel: Hotel) -> list[Any]:
    """35 vouchers; voucher i has rate i // 3 of 12, and the newest also the hotel's two."""
    from mews_vouchers import VoucherParameters, VoucherType

    rates = [sim.add_rate(hotel.service_id, name=f"R{i}") for i in range(12)]
    return await client.vouchers.add(
        [
            VoucherParameters(
                service_id=hotel.service_id,
                name=f"v{i}",
                type=VoucherType.PUBLIC,
                assigned_rate_ids=[rates[i // 3], *(hotel.rate_ids if i >= 30 else ())],
            )
            for i in range(35)
        ],
        enterprise_id=hotel.enterprise_id,
    )


def extents_sent(sim: MewsSimulator) -> list[dict[str, bool]]:
    return [r.body["Extent"] for r in get_alls(sim)]


@pytest.mark.parametrize(
    ("extent", "requests"),
    [
        (VoucherExtent(vouchers=False, voucher_assignments=True), 5),
        (VoucherExtent(vouchers=False, rates=True), 5),
        (VoucherExtent(vouchers=False, voucher_assignments=True, rates=True), 10),
        (VoucherExtent(vouchers=True, voucher_assignments=True, rates=True), 14),
    ],
)
async def test_extents_without_vouchers_are_followed_to_the_null_cursor(
    sim: MewsSimulator, hotel: Hotel, extent: VoucherExtent, requests: int
) -> None:
    """Each extent pages on its own cursor to its end, though its pages hold no voucher."""
    async with make_client(sim, page_size=10) as client:
        vouchers = await seed_rated_vouchers(client, sim, hotel)
        sim.reset_requests()
        result = await client.vouchers.get_all(service_ids=[hotel.service_id], extent=extent)
    wanted = attrs.asdict(extent)
    assigned = {(str(v.id), str(r)) for v in vouchers for r in sim_rates(sim, v.id)}
    got = {(str(a.voucher_id), str(a.rate_id)) for a in result.voucher_assignments}
    assert len(assigned) == 35 + 10
    assert got == (assigned if wanted["voucher_assignments"] else set())
    rate_ids = {r for _, r in assigned}
    assert {str(r.id) for r in result.rates} == (rate_ids if wanted["rates"] else set())
    assert len(result.rates) == (14 if wanted["rates"] else 0)
    assert len(result.vouchers) == (35 if wanted["vouchers"] else 0)
    # 10, 10, 10, 5 vouchers covered: a chain that sees them stops at the short page, one
    # that does not goes on to the empty page with a null cursor.
    assert len(get_alls(sim)) == requests
    for sent in extents_sent(sim):
        assert sum(sent.values()) == 1  # one extent per request, as the API advises


def sim_rates(sim: MewsSimulator, voucher_id: Any) -> list[str]:
    return [a["RateId"] for a in sim.assignments() if a["VoucherId"] == str(voucher_id)]


async def test_iter_pages_of_an_extent_without_vouchers(sim: MewsSimulator, hotel: Hotel) -> None:
    """iter_pages of assignments only: every page, cursors followed until the null one."""
    async with make_client(sim, page_size=10) as client:
        await seed_rated_vouchers(client, sim, hotel)
        sim.reset_requests()
        extent = VoucherExtent(vouchers=False, voucher_assignments=True)
        pages = []
        async with client.vouchers.iter_pages(
            service_ids=[hotel.service_id], extent=extent
        ) as stream:
            async for page in stream:
                pages.append(page)
        streamed = [
            v async for v in client.vouchers.iter_all(service_ids=[hotel.service_id], extent=extent)
        ]
    assert [len(p.voucher_assignments) for p in pages] == [20, 10, 10, 5, 0]
    assert [p.cursor is None for p in pages] == [False, False, False, False, True]
    assert all(p.vouchers == [] for p in pages)
    assert len({(a.voucher_id, a.rate_id) for p in pages for a in p.voucher_assignments}) == 45
    assert streamed == []  # iter_all yields vouchers: none asked for, none fetched
    assert len(get_alls(sim)) == 5


async def test_id_filtered_extent_without_vouchers_stops_at_its_bound(
    sim: MewsSimulator, hotel: Hotel
) -> None:
    """Filtered by ids, a chain that cannot count its vouchers stops once pages cover them."""
    async with make_client(sim, page_size=10) as client:
        vouchers = await seed_rated_vouchers(client, sim, hotel)
        sim.reset_requests()
        extent = VoucherExtent(vouchers=False, voucher_assignments=True)
        few = await client.vouchers.get_all(
            service_ids=[hotel.service_id], voucher_ids=[v.id for v in vouchers[:7]], extent=extent
        )
        assert len(few.voucher_assignments) == 7
        assert len(get_alls(sim)) == 1  # 7 ids fit one page of 10
        sim.reset_requests()
        more = await client.vouchers.get_all(
            service_ids=[hotel.service_id], voucher_ids=[v.id for v in vouchers[:15]], extent=extent
        )
        assert len(more.voucher_assignments) == 15
        assert len(get_alls(sim)) == 2  # two pages cover 20 >= 15


async def test_iter_all_streams_and_prefetches(sim: MewsSimulator, hotel: Hotel) -> None:
    """iter_all yields vouchers as pages arrive, and fetches the next page meanwhile."""
    sim.seed_vouchers(hotel.service_id, 2400)
    async with make_client(sim, page_size=500) as client:
        stream = client.vouchers.iter_all(service_ids=[hotel.service_id])
        first = await stream.__anext__()
        await anyio.sleep(0.2)  # the caller "works" on the first voucher
        assert len(get_alls(sim)) >= 2  # the next page was fetched meanwhile
        assert len(get_alls(sim)) <= 4  # but not everything: memory stays bounded
        rest = [v async for v in stream]
    assert len({first.id, *(v.id for v in rest)}) == 2400
    assert len(get_alls(sim)) == 5  # 4 full pages and a short one: no extra request


async def test_iter_pages_yields_pages(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """iter_pages yields one VouchersResult per page with its cursor."""
    sim.seed_vouchers(hotel.service_id, 2100)
    sizes = []
    async with client.vouchers.iter_pages(service_ids=[hotel.service_id]) as pages:
        async for page in pages:
            sizes.append(len(page.vouchers))
            assert page.cursor == page.vouchers[-1].id
    assert sizes == [1000, 1000, 100]


async def test_voucher_codes_fan_out(client: MewsClient, sim: MewsSimulator) -> None:
    """voucherCodes getAll: one chain per enterprise, voucher id lists split by 1000."""
    from mews_vouchers import VoucherCodeParameters

    hotels = [sim.add_hotel(f"C{i}") for i in range(3)]
    all_codes = []
    for h in hotels:
        ids = sim.seed_vouchers(h.service_id, 1200)
        await client.voucher_codes.add(
            [
                VoucherCodeParameters(voucher_id=v, value=f"{h.enterprise_id}-{i}")
                for i, v in enumerate(ids)
            ],
            enterprise_id=h.enterprise_id,
        )
        all_codes.append(ids)
    voucher_ids = [v for ids in all_codes for v in ids]
    codes = await client.voucher_codes.get_all(
        voucher_ids=voucher_ids, enterprise_ids=[h.enterprise_id for h in hotels]
    )
    assert len(codes) == 3600
    assert len({c.id for c in codes}) == 3600
    streamed = [c async for c in client.voucher_codes.iter_all(voucher_ids=voucher_ids)]
    assert len(streamed) == 3600


async def test_repeated_cursor_stops_with_pagination_error() -> None:
    """A server whose cursor never moves ends in PaginationError, not an endless loop."""
    from aiohttp import web

    page = {
        "Vouchers": [
            {
                "Id": "fe568bbd-1ecb-4bb2-bf77-96c3698de20d",
                "ServiceId": "bd26d8db-86da-4f96-9efc-e5a4654a4a94",
                "Name": "x",
                "CreatedUtc": "2024-01-01T00:00:00Z",
                "UpdatedUtc": "2024-01-01T00:00:00Z",
                "Type": "Public",
                "IsActive": True,
            }
        ],
        "Cursor": "fe568bbd-1ecb-4bb2-bf77-96c3698de20d",
    }

    async def handler(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        return web.json_response(page)

    async with ScriptedServer(handler) as server:
        client = MewsClient(
            client_token="c" * 20,
            access_token="a" * 20,
            client="t",
            base_url=server.base_url,
            page_size=1,
            rate_limit=None,
            retry=RetryPolicy(max_attempts=1),
        )
        async with client:
            with pytest.raises(PaginationError, match="twice"):
                await client.vouchers.get_all(service_ids=["bd26d8db-86da-4f96-9efc-e5a4654a4a94"])
    assert len(server.received) == 2  # the second answer repeats the first cursor: stop


async def test_leaving_iter_all_early_stops_the_requests(sim: MewsSimulator, hotel: Hotel) -> None:
    """break out of iter_all: no more requests, and no task left running."""
    sim.seed_vouchers(hotel.service_id, 5000)
    async with make_client(sim, page_size=100) as client:
        before = len(anyio_tasks())
        assert before == 0
        async for _ in client.vouchers.iter_all(service_ids=[hotel.service_id]):
            break
        gc.collect()
        await anyio.sleep(0.1)
        sent = len(get_alls(sim))
        await anyio.sleep(0.2)
        assert len(get_alls(sim)) == sent <= 4
        assert len(anyio_tasks()) == before
        # With async with, the stop is immediate.
        async with client.vouchers.iter_all(service_ids=[hotel.service_id]) as vouchers:
            async for _ in vouchers:
                break
        assert len(anyio_tasks()) == before


def anyio_tasks() -> set[Any]:
    """The SDK's own running tasks (the simulator's connection handlers are not ours)."""
    import asyncio

    return {
        t
        for t in asyncio.all_tasks()
        if not t.done() and "mews_vouchers/_" in str(t.get_coro().cr_code.co_filename)  # type: ignore[union-attr]
    }


@pytest.mark.parametrize("fault", [f for f in Fault if f not in (Fault.CONFLICT, Fault.TOO_LARGE)])
async def test_every_fault_on_get_all_ends_with_everything_once(
    sim: MewsSimulator, hotel: Hotel, fault: Fault
) -> None:
    """Whatever goes wrong with a page, the read retries it and returns each voucher once."""
    seeded = set(sim.seed_vouchers(hotel.service_id, 2300))
    sim.inject(fault, times=2, operation="vouchers/getAll", retry_after="0", delay=0.3)
    async with make_client(sim, timeout=0.2) as client:
        result = await client.vouchers.get_all(service_ids=[hotel.service_id])
    assert [v.id for v in result.vouchers if v.id in seeded] == [v.id for v in result.vouchers]
    assert {v.id for v in result.vouchers} == seeded
    assert len(result.vouchers) == 2300


async def wait_until(condition: Callable[[], bool]) -> None:
    """Poll *condition* until it holds (the test fails if it never does)."""
    with anyio.fail_after(10):
        while not condition():  # noqa: ASYNC110 (polling: the simulator's log signals no event)
            await anyio.sleep(0.01)


async def test_many_chains_fetch_only_a_few_pages_ahead_of_a_slow_reader(
    sim: MewsSimulator,
) -> None:
    """100 enterprises at once, a reader that stops: max_concurrency + 2 pages answered ahead."""
    hotels = [sim.add_hotel(f"M{i}") for i in range(100)]
    for h in hotels:
        sim.seed_vouchers(h.service_id, 15)  # pages of 10 and 5: 200 requests in all
    concurrency = 4
    ahead = concurrency + 2  # one page per request slot, and two for the reader
    query = {
        "service_ids": [h.service_id for h in hotels],
        "enterprise_ids": [h.enterprise_id for h in hotels],
    }
    async with make_client(sim, page_size=10, max_concurrency=concurrency) as client:
        taken = 0
        async with client.vouchers.iter_pages(**query) as pages:
            async for _ in pages:
                taken += 1
                if taken in (1, 77, 150):  # the reader stops: the chains run ahead of it
                    await wait_until(lambda now=taken: len(get_alls(sim)) - now >= ahead)
                    await anyio.sleep(0.1)  # time to fetch more, were it allowed
                    assert len(get_alls(sim)) - taken == ahead
        assert taken == 200
        # iter_all reads through the same stream: one page taken, `ahead` more answered.
        sim.reset_requests()
        async with client.vouchers.iter_all(**query) as vouchers:
            await vouchers.__anext__()
            await wait_until(lambda: len(get_alls(sim)) >= 1 + ahead)
            await anyio.sleep(0.1)
            assert len(get_alls(sim)) == 1 + ahead


class Gate:
    """A proxy to the simulator that answers one request at a time, oldest first.

    It answers only once the client has ``min(slots, chains not finished)`` requests
    waiting, as a server answering after a fixed latency would see them, and records
    how many were waiting at each answer.  A client that leaves a slot idle while a
    chain could use it makes the gate wait; after 5 s it answers anyway and records a
    stall.  Counting answers, not time, makes the test exact.
    """

    def __init__(self, sim: MewsSimulator, *, chains: int, slots: int) -> None:
        self.sim = sim
        self.slots = slots
        self.unfinished = chains
        self.waiting_at_answer: list[int] = []
        self.stalls: list[tuple[int, int]] = []
        self._held: list[anyio.Event] = []
        self._arrived = anyio.Event()
        self._answered = anyio.Event()
        self._session: aiohttp.ClientSession | None = None

    async def handle(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        turn = anyio.Event()
        self._held.append(turn)
        self._arrived.set()
        await turn.wait()
        assert self._session is not None
        async with self._session.post(self.sim.base_url + request.path, json=body) as answer:
            status, raw = answer.status, await answer.read()
        page = orjson.loads(raw)
        if status == 200 and (
            page["Cursor"] is None or len(page["Vouchers"]) < body["Limitation"]["Count"]
        ):
            self.unfinished -= 1  # the chain's last page: it sends no more
        self._answered.set()
        return web.Response(status=status, body=raw, content_type="application/json")

    async def run(self) -> None:
        """Answer the held requests one by one until every chain has ended."""
        async with aiohttp.ClientSession() as self._session:
            while self.unfinished:
                wanted = min(self.slots, self.unfinished)
                with anyio.move_on_after(5):
                    while len(self._held) < wanted:
                        self._arrived = anyio.Event()
                        await self._arrived.wait()
                if len(self._held) < wanted:
                    self.stalls.append((len(self._held), self.unfinished))
                    await wait_until(lambda: bool(self._held))
                self.waiting_at_answer.append(len(self._held))
                self._answered = anyio.Event()
                self._held.pop(0).set()
                await self._answered.wait()


async def _read_get_all(client: MewsClient, query: dict[str, Any]) -> int:
    return len((await client.vouchers.get_all(**query)).vouchers)


async def _read_iter_all(client: MewsClient, query: dict[str, Any]) -> int:
    return len([v async for v in client.vouchers.iter_all(**query)])


@pytest.mark.parametrize("read", [_read_get_all, _read_iter_all], ids=["get_all", "iter_all"])
async def test_every_request_slot_stays_busy_while_chains_remain(
    sim: MewsSimulator, read: Callable[[MewsClient, dict[str, Any]], Awaitable[int]]
) -> None:
    """10 chains, 4 slots: 4 requests wait at every answer until fewer chains remain than slots.

    Every chain starts at once and takes its turn for a page in order, so the chains
    end together: fewer than 4 requests are in flight only for the last pages of the
    last 3 chains.  (A chain started once another has ended runs alone at the end.)
    """
    chains, slots = 10, 4
    hotels = [sim.add_hotel(f"G{i}") for i in range(chains)]
    for h in hotels:
        sim.seed_vouchers(h.service_id, 25)  # pages of 10, 10 and 5
    gate = Gate(sim, chains=chains, slots=slots)
    query = {
        "service_ids": [h.service_id for h in hotels],
        "enterprise_ids": [h.enterprise_id for h in hotels],
    }
    with anyio.fail_after(60):
        async with ScriptedServer(gate.handle) as server, anyio.create_task_group() as tg:
            tg.start_soon(gate.run)
            async with make_client(
                sim, base_url=server.base_url, page_size=10, max_concurrency=slots
            ) as client:
                assert await read(client, query) == 25 * chains
    assert gate.stalls == []
    assert len(gate.waiting_at_answer) == 3 * chains
    assert [n for n in gate.waiting_at_answer if n < slots] == [3, 2, 1]
