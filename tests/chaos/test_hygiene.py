"""Resource hygiene: leaks are caught, cancellation leaves nothing behind, sharing is safe.

- The suite turns ResourceWarning (and the unraisable exception a warning raised in
  ``__del__`` becomes) into errors; a test here proves that really catches a forgotten
  ``aiohttp.ClientSession`` and a forgotten :class:`MewsClient`.
- Bulk calls cancelled at seeded random points leave no SDK task running, no rate-limit
  slot held and, once the client is closed, no socket open.
- One client shared by many tasks gives every task exactly its own results.
"""

from __future__ import annotations

import gc
import os
import random
import subprocess
import sys
import textwrap
import uuid
import warnings
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import anyio
import anyio.lowlevel
import psutil  # type: ignore[import-untyped]
import pytest

from mews_vouchers import (
    BulkOperationError,
    MewsClient,
    MewsConnectionError,
    MewsError,
    RateLimit,
    RetryPolicy,
    VoucherParameters,
    VoucherType,
    VoucherUpdate,
)
from mews_vouchers.testing import Fault, Hotel, MewsSimulator
from tests.conftest import make_client
from tests.support.tasks import sdk_tasks

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]


def client_sockets(port: int) -> list[Any]:
    """This process's open TCP sockets that are client ends of connections to *port*."""
    return [
        c
        for c in psutil.Process().net_connections(kind="tcp")
        if c.raddr and c.raddr.port == port and c.laddr.port != port
    ]


async def settle() -> None:
    """Let closed transports finish closing (asyncio closes sockets on the next loop turn)."""
    gc.collect()
    for _ in range(5):
        await anyio.sleep(0.01)


async def no_sdk_tasks(what: str) -> None:
    """Wait (briefly) until no SDK task runs: a bare iter_all stops once it is collected."""
    for collect in (False, True):
        if not sdk_tasks():
            return
        if collect:
            gc.collect()  # only if needed: a full collection costs tens of milliseconds here
        with anyio.move_on_after(0.5):
            while sdk_tasks():  # noqa: ASYNC110 (polling: a task ending signals no event)
                await anyio.sleep(0.001)
    assert sdk_tasks() == set(), what


def port_of(sim: MewsSimulator) -> int:
    port = urlsplit(sim.base_url).port
    assert port is not None
    return port


# --- the ResourceWarning net ---------------------------------------------------------------


def test_the_suite_makes_resource_warnings_errors(pytestconfig: pytest.Config) -> None:
    """pyproject's filterwarnings makes ResourceWarning and unraisable exceptions errors."""
    filters = pytestconfig.getini("filterwarnings")
    assert "error::ResourceWarning" in filters
    assert "error::pytest.PytestUnraisableExceptionWarning" in filters


def drop_an_unclosed_session() -> None:
    """Open a ClientSession (in the running loop) and let it go without closing it."""
    session = aiohttp.ClientSession()
    del session
    gc.collect()


async def test_an_unclosed_session_warns() -> None:
    """A ClientSession dropped unclosed emits ResourceWarning, raised when it is an error."""
    with pytest.warns(ResourceWarning, match="Unclosed client session"):
        drop_an_unclosed_session()
    # Under the suite's filter the warning is an exception inside __del__, which Python
    # hands to sys.unraisablehook: pytest turns that into a (failing) warning of its own.
    caught: list[BaseException | None] = []
    hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: caught.append(unraisable.exc_value)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ResourceWarning)
            drop_an_unclosed_session()
    finally:
        sys.unraisablehook = hook
    assert any(isinstance(e, ResourceWarning) for e in caught), caught


LEAKS = """
import gc

import anyio
import pytest

from mews_vouchers import MewsClient
from mews_vouchers.testing import MewsSimulator

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def use(close):
    async with MewsSimulator() as sim:
        service = sim.add_hotel().service_id
        client = MewsClient(
            client_token=sim.client_token,
            access_token=sim.access_token,
            client="leak 1.0",
            base_url=sim.base_url,
        )
        await client.vouchers.get_all(service_ids=[service])
        if close:
            await client.aclose()
    del client
    gc.collect()


async def test_forgot_aclose():
    await use(close=False)


async def test_closed():
    await use(close=True)
"""


def test_the_suite_fails_a_test_that_forgets_to_close_a_client(tmp_path: Path) -> None:
    """End to end: under this repo's pytest config, a forgotten MewsClient fails its test."""
    (tmp_path / "test_leaks.py").write_text(textwrap.dedent(LEAKS))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "anyio",
            "-c",
            str(ROOT / "pyproject.toml"),
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_leaks.py"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        timeout=60,
    )
    assert "1 failed, 1 passed" in run.stdout, run.stdout + run.stderr
    assert "test_forgot_aclose" in run.stdout
    # Which of the session's objects is reported first depends on the collector's order.
    output = run.stdout + run.stderr
    assert "Unclosed client session" in output or "BaseConnector.__del__" in output, output


# --- cancellation at random points ----------------------------------------------------------------

Operation = Callable[[MewsClient, Hotel, list[uuid.UUID], random.Random], Awaitable[object]]


async def _add(client: MewsClient, hotel: Hotel, ids: list[uuid.UUID], rng: random.Random) -> None:
    params = [
        VoucherParameters(
            service_id=hotel.service_id,
            name=f"C{n}",
            type=VoucherType.PUBLIC,
            external_identifier=f"cancel-{rng.getrandbits(64)}",
        )
        for n in range(rng.randint(1, 120))
    ]
    await client.vouchers.add(params, enterprise_id=hotel.enterprise_id)


async def _update(
    client: MewsClient, hotel: Hotel, ids: list[uuid.UUID], rng: random.Random
) -> None:
    chosen = rng.sample(ids[:1000], rng.randint(1, 200))  # never deleted: see _delete
    updates = [VoucherUpdate(voucher_id=v, name=f"N{rng.random()}") for v in chosen]
    await client.vouchers.update(updates, enterprise_id=hotel.enterprise_id)


async def _get_all(
    client: MewsClient, hotel: Hotel, ids: list[uuid.UUID], rng: random.Random
) -> None:
    await client.vouchers.get_all(service_ids=[hotel.service_id])


async def _iter_all_with(
    client: MewsClient, hotel: Hotel, ids: list[uuid.UUID], rng: random.Random
) -> None:
    async with client.vouchers.iter_all(service_ids=[hotel.service_id]) as vouchers:
        async for _ in vouchers:
            await anyio.lowlevel.checkpoint()


async def _iter_all_bare(
    client: MewsClient, hotel: Hotel, ids: list[uuid.UUID], rng: random.Random
) -> None:
    async for _ in client.vouchers.iter_all(service_ids=[hotel.service_id]):
        await anyio.lowlevel.checkpoint()


async def _delete(
    client: MewsClient, hotel: Hotel, ids: list[uuid.UUID], rng: random.Random
) -> None:
    await client.vouchers.delete(rng.sample(ids[1000:], 30), enterprise_id=hotel.enterprise_id)


CALLS: list[Operation] = [_add, _update, _get_all, _delete]
STREAMS: list[Operation] = [_iter_all_with, _iter_all_bare]
OPERATIONS = CALLS + STREAMS


async def test_bulk_calls_cancelled_at_random_points_leak_nothing() -> None:
    """60 calls cut at seeded random moments: no task, no rate-limit slot, no socket left."""
    rng = random.Random(20240501)
    async with MewsSimulator(latency=0.002, seed=7) as sim:
        hotel = sim.add_hotel()
        ids = sim.seed_vouchers(hotel.service_id, 1500)
        port = port_of(sim)
        assert client_sockets(port) == []
        # Four slots, each held 20 ms past its answer: a slot leaked by a cancelled request
        # would soon leave none, and the last call below would wait forever.
        client = make_client(
            sim,
            chunk_size=25,
            page_size=100,
            max_concurrency=4,
            rate_limit=RateLimit(requests=4, per_seconds=0.01),
        )
        cut: Counter[bool] = Counter()
        async with client:
            for _ in range(60):
                operation = rng.choice(OPERATIONS)
                with anyio.move_on_after(rng.uniform(0.0, 0.06)) as scope:
                    await operation(client, hotel, ids, rng)
                cut[scope.cancelled_caught] += 1
                await no_sdk_tasks(operation.__name__)
            with anyio.fail_after(10):
                result = await client.vouchers.get_all(service_ids=[hotel.service_id])
            assert client_sockets(port) != []  # the pool keeps connections while open
            assert {str(v.id) for v in result.vouchers} == {v["Id"] for v in sim.vouchers()}
        await settle()
        assert client_sockets(port) == []
        assert sdk_tasks() == set()
    assert cut[True] >= 20 and cut[False] >= 5  # both outcomes were exercised


async def test_aclose_ends_calls_from_many_tasks_and_closes_every_socket() -> None:
    """aclose() while 20 tasks run bulk calls: each ends in MewsConnectionError, nothing left."""
    # Streams are left out: see test_aclose_ends_a_stream_being_read_with_a_mews_error.
    async with MewsSimulator(latency=0.01, seed=8) as sim:
        hotel = sim.add_hotel()
        ids = sim.seed_vouchers(hotel.service_id, 1500)
        port = port_of(sim)
        client = make_client(sim, chunk_size=5, page_size=20, max_concurrency=6)
        outcomes: list[BaseException | None] = []

        async def job(n: int) -> None:
            rng = random.Random(n)
            try:
                await CALLS[n % len(CALLS)](client, hotel, ids, rng)
            except BaseException as exc:
                outcomes.append(exc)
            else:
                outcomes.append(None)

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for n in range(20):
                    tg.start_soon(job, n)
                await anyio.sleep(0.1)
                await client.aclose()
        assert len(outcomes) == 20
        assert all(isinstance(e, MewsConnectionError) or e is None for e in outcomes), outcomes
        assert sum(isinstance(e, MewsConnectionError) for e in outcomes) >= 10
        await settle()
        assert sdk_tasks() == set()
        assert client_sockets(port) == []


# --- one client, many tasks ----------------------------------------------------------------


async def test_fifty_tasks_share_one_client_under_faults() -> None:
    """50 tasks add, read, update, stream and delete on one client: each sees exactly its own."""
    async with MewsSimulator(
        seed=9,
        fault_rate=0.1,
        faults=[
            Fault.SERVER_ERROR_BEFORE,
            Fault.SERVER_ERROR_AFTER,
            Fault.DROP_AFTER,
            Fault.TIMEOUT,
        ],
    ) as sim:
        hotels = [sim.add_hotel(f"Shared {h}") for h in range(5)]
        retry = RetryPolicy(max_attempts=8, initial_backoff=0.001, max_backoff=0.01)
        seen: dict[int, dict[str, Any]] = {}
        async with make_client(
            sim, retry=retry, chunk_size=7, page_size=9, max_concurrency=6
        ) as client:

            async def task(n: int) -> None:
                hotel = hotels[n % len(hotels)]
                params = [
                    VoucherParameters(
                        service_id=hotel.service_id,
                        name=f"T{n}-{i}",
                        type=VoucherType.PUBLIC,
                        external_identifier=f"task-{n}-{i}",
                    )
                    for i in range(12 + n % 7)
                ]
                added = await client.vouchers.add(params, enterprise_id=hotel.enterprise_id)
                assert [v.external_identifier for v in added] == [
                    p.external_identifier for p in params
                ]
                mine = await client.vouchers.get_all(
                    service_ids=[hotel.service_id],
                    external_identifiers=[p.external_identifier or "" for p in params],
                )
                assert {v.id for v in mine.vouchers} == {v.id for v in added}
                updated = await client.vouchers.update(
                    [VoucherUpdate(voucher_id=v.id, name=f"U{v.name}") for v in added[::2]],
                    enterprise_id=hotel.enterprise_id,
                )
                assert [v.name for v in updated] == [f"U{v.name}" for v in added[::2]]
                await client.vouchers.delete(
                    [v.id for v in added[1::3]], enterprise_id=hotel.enterprise_id
                )
                streamed = [
                    v
                    async for v in client.vouchers.iter_all(
                        service_ids=[hotel.service_id],
                        voucher_ids=[v.id for v in added],
                        activity_states=["Active"],
                    )
                ]
                seen[n] = {"added": added, "active": {v.id for v in streamed}}

            with anyio.fail_after(30):
                async with anyio.create_task_group() as tg:
                    for n in range(50):
                        tg.start_soon(task, n)
        held = {v["Id"]: v for v in sim.vouchers()}
        assert len(held) == sum(len(s["added"]) for s in seen.values())
        for n, s in seen.items():
            added = s["added"]
            deleted = {v.id for v in added[1::3]}
            assert s["active"] == {v.id for v in added} - deleted
            for i, v in enumerate(added):
                wire = held[str(v.id)]
                assert wire["IsActive"] is (v.id not in deleted)
                assert wire["Name"] == (f"U{v.name}" if i % 2 == 0 else v.name)
                assert wire["ExternalIdentifier"] == f"task-{n}-{i}"
        assert any(r.fault is not None for r in sim.requests)


async def test_cancelling_some_tasks_leaves_the_others_whole() -> None:
    """Of 20 tasks adding on one client, 10 are cancelled: the other 10 get all their vouchers."""
    async with MewsSimulator(latency=0.003, seed=10) as sim:
        hotel = sim.add_hotel()
        async with make_client(sim, chunk_size=5, max_concurrency=4) as client:
            done: dict[int, int] = {}

            async def task(n: int) -> None:
                params = [
                    VoucherParameters(
                        service_id=hotel.service_id,
                        name=f"K{n}-{i}",
                        type=VoucherType.PUBLIC,
                        external_identifier=f"keep-{n}-{i}",
                    )
                    for i in range(40)
                ]
                if n % 2:
                    with anyio.move_on_after(0.02 + n / 1000):
                        await client.vouchers.add(params, enterprise_id=hotel.enterprise_id)
                    return
                added = await client.vouchers.add(params, enterprise_id=hotel.enterprise_id)
                done[n] = len(added)

            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:
                    for n in range(20):
                        tg.start_soon(task, n)
            assert done == {n: 40 for n in range(0, 20, 2)}
            names = [v["Name"] for v in sim.vouchers()]
            for n in range(0, 20, 2):
                assert sorted(x for x in names if x.startswith(f"K{n}-")) == sorted(
                    f"K{n}-{i}" for i in range(40)
                )
            assert len(names) == len(set(names))  # nothing twice, cancelled or not
            assert sdk_tasks() == set()
        with pytest.raises(MewsError):
            await client.vouchers.get_all(service_ids=[hotel.service_id])


@pytest.mark.parametrize("stream", STREAMS, ids=lambda s: s.__name__)
async def test_aclose_ends_a_stream_being_read_with_a_mews_error(stream: Operation) -> None:
    """aclose() while another task reads iter_all: that task gets a MewsConnectionError."""
    async with MewsSimulator(latency=0.01, seed=11) as sim:
        hotel = sim.add_hotel()
        ids = sim.seed_vouchers(hotel.service_id, 500)
        client = make_client(sim, page_size=20)
        outcome: list[object] = []

        async def read() -> None:
            try:
                await stream(client, hotel, ids, random.Random(0))
            except Exception as exc:
                outcome.append(exc)
            else:
                outcome.append("the stream ended as if complete")

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(read)
                await anyio.sleep(0.05)
                await client.aclose()
    [error] = outcome
    assert isinstance(error, MewsConnectionError), repr(error)


async def test_a_failing_progress_callback_loses_no_write() -> None:
    """on_progress raising mid-call: every voucher the server created is still reported."""
    async with MewsSimulator(latency=0.01, seed=12) as sim:
        hotel = sim.add_hotel()
        calls: list[int] = []

        def progress(done: int) -> None:
            calls.append(done)
            if len(calls) == 2:
                raise RuntimeError("the progress bar was closed")

        params = [
            VoucherParameters(service_id=hotel.service_id, name=f"P{i}", type=VoucherType.PUBLIC)
            for i in range(100)
        ]
        async with make_client(sim, chunk_size=10) as client:
            try:
                added = await client.vouchers.add(
                    params, enterprise_id=hotel.enterprise_id, on_progress=progress
                )
            except BulkOperationError as exc:
                added = [v for v in exc.results if v is not None]
        await anyio.sleep(0.1)
        assert {str(v.id) for v in added} == {v["Id"] for v in sim.vouchers()}
