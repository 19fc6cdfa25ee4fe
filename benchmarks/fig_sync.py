"""Figure 6: what a sync of an unchanged state costs over reading the vouchers it compares.

The simulator runs in its own process, seeded with N vouchers (one enterprise, one
service, each with an external identifier); the desired state is those same N vouchers,
built once before timing (it is the caller's input, as a file's records would be).  Side
by side in one run, each contender on its own client, page 1000:

- **read**: ``iter_all`` of the service's active vouchers in the enterprise, the read
  that planning does (same filters, so the same requests);
- **plan**: ``plan_sync(desired)``, which validates the desired state, reads the same
  pages, and diffs: it must find nothing to do;
- **sync**: ``sync(desired)``, the plan and then an apply with nothing to write.

7a compares the CPU (``process_time()``, least of *repeat* interleaved runs) of plan
and read: target <= 1.3.  7b compares the wall time (best of *wall_repeat* interleaved runs)
of sync and read: target <= 1.1.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio
import attrs

from mews_vouchers import ActivityState, MewsClient, VoucherParameters, VoucherType

from ._common import CLIENT_NAME, Row, Served, ServerProcess, Target, interleaved_least, ratio


@attrs.frozen(kw_only=True)
class SyncSize:
    """How big figure 7 runs."""

    vouchers: int
    repeat: int
    wall_repeat: int


FULL = SyncSize(vouchers=100_000, repeat=5, wall_repeat=11)
QUICK = SyncSize(vouchers=2_000, repeat=1, wall_repeat=1)
PAGE = 1000
# benchmarks._server seeds this many vouchers per creation second, named by batch.
PER_SECOND = 10


def _client(served: Served) -> MewsClient:
    return MewsClient(
        client_token=served.client_token,
        access_token=served.access_token,
        client=CLIENT_NAME,
        base_url=served.base_url,
        rate_limit=None,
        page_size=PAGE,
    )


def desired_state(served: Served) -> list[VoucherParameters]:
    """The seeded vouchers of the first enterprise, exactly as ``benchmarks._server`` made them."""
    hotel = served.hotels[0]
    items = []
    for batch, first in enumerate(range(0, hotel.vouchers, PER_SECOND)):
        for i in range(min(PER_SECOND, hotel.vouchers - first)):
            text = f"H0-{batch}-{i}"
            items.append(
                VoucherParameters(
                    service_id=hotel.service_id,
                    name=text,
                    type=VoucherType.PUBLIC,
                    external_identifier=text,
                )
            )
    return items


async def read(served: Served) -> int:
    """Stream the active vouchers of the first enterprise's service; return the count."""
    hotel = served.hotels[0]
    count = 0
    async with _client(served) as client:
        stream = client.vouchers.iter_all(
            service_ids=[hotel.service_id],
            enterprise_ids=[hotel.enterprise_id],
            activity_states=[ActivityState.ACTIVE],
        )
        async with stream as vouchers:
            async for _ in vouchers:
                count += 1
    return count


async def plan(served: Served, desired: list[VoucherParameters]) -> int:
    """Plan a sync of *desired*; return the unchanged count (the plan must be empty)."""
    async with _client(served) as client:
        result = await client.vouchers.plan_sync(
            desired, enterprise_id=served.hotels[0].enterprise_id
        )
    if not result.is_empty:
        raise AssertionError(f"the plan of an unchanged state is not empty: {result.summary()}")
    return result.unchanged


async def sync(served: Served, desired: list[VoucherParameters]) -> int:
    """Sync *desired* (nothing to write); return how many vouchers it wrote (0)."""
    async with _client(served) as client:
        result = await client.vouchers.sync(desired, enterprise_id=served.hotels[0].enterprise_id)
    return len(result.added) + len(result.updated) + len(result.deleted)


def _checked(name: str, expected: int, run: Callable[[], int]) -> Callable[[], None]:
    def checked() -> None:
        got = run()
        if got != expected:
            raise AssertionError(f"{name}: {got}, expected {expected}")

    return checked


def measure(size: SyncSize) -> tuple[dict[str, float], dict[str, float]]:
    """Return the least CPU seconds (read, plan) and the best wall seconds (read, sync)."""
    with ServerProcess(enterprises=1, vouchers=size.vouchers, per_second=PER_SECOND) as served:
        desired = desired_state(served)

        def call(fn: Callable[..., Awaitable[int]], *args: object) -> Callable[[], int]:
            return lambda: anyio.run(fn, *args, backend="asyncio")

        reader = _checked("read", size.vouchers, call(read, served))
        cpu_runs = {
            "read": reader,
            "plan": _checked("plan", size.vouchers, call(plan, served, desired)),
        }
        wall_runs = {"read": reader, "sync": _checked("sync", 0, call(sync, served, desired))}
        for run in (*cpu_runs.values(), wall_runs["sync"]):
            run()  # warm up: imports, lazily built hooks
        cpu = interleaved_least(cpu_runs, size.repeat, clock=time.process_time)
        wall = interleaved_least(wall_runs, size.wall_repeat, clock=time.perf_counter)
    return cpu, wall


def run(quick: bool) -> list[Row]:
    """Measure figure 7 and return its rows."""
    size = QUICK if quick else FULL
    cpu, wall = measure(size)
    n = f"{size.vouchers:,}"
    return [
        Row(
            figure="7a sync: plan of an unchanged state / iter_all read, CPU",
            measured=cpu["plan"],
            baseline=cpu["read"],
            unit="s",
            result=ratio(cpu["plan"], cpu["read"]),
            target=Target(op="<=", value=1.3),
            note=(
                f"plan_sync of {n} desired vouchers, all unchanged, vs iter_all of them; "
                f"least of {size.repeat} interleaved process_time() runs"
            ),
        ),
        Row(
            figure="7b sync: second sync of it / iter_all read, wall",
            measured=wall["sync"],
            baseline=wall["read"],
            unit="s",
            result=ratio(wall["sync"], wall["read"]),
            target=Target(op="<=", value=1.1),
            note=f"sync (plan + empty apply) vs the same read; best of {size.wall_repeat} runs",
        ),
    ]
