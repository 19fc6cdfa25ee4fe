"""``mews-vouchers demo``: the project's main job, run against an embedded simulator.

The simulator starts on loopback with a request limit of the API's shape, scaled down
so the run is short, and is seeded with hotels (each with a service, two rates and a
company).  Then, through the public SDK only, the demo adds vouchers built from the
templates shipped in ``data/sample_vouchers.jsonl``, one voucher code per voucher, lists
everything back across the hotels, renames a slice, deletes a slice, checks the
simulator's state, and prints what each step cost.  What it writes is in ``_demo_plan``.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

import anyio
import attrs
from rich.console import Console

# The public SDK only, as a user's job would: the package's own names.
from .. import (
    ActivityState,
    BulkOperationError,
    ChunkFailure,
    MewsClient,
    MewsError,
    RateLimit,
    Voucher,
    VoucherCode,
    VoucherCodeParameters,
    VoucherParameters,
    VoucherUpdate,
    __version__,
)
from .._constants import DEFAULT_TIMEOUT, MAX_PAGE_SIZE
from ._common import EXIT_FAILED, EXIT_OK, Ui, error
from ._demo_plan import (
    DELETE_EVERY,
    DELETE_OFFSET,
    RENAME_EVERY,
    RENAMED_SUFFIX,
    Hotel,
    HotelState,
    code_value,
    load_templates,
    plan_vouchers,
    seed_hotels,
    spread,
    verify,
)
from ._progress import Bar, Bars
from ._report import Report, Step

if TYPE_CHECKING:
    # Loaded when the demo runs: the other commands start faster without the simulator.
    pass

P = TypeVar("P")
R = TypeVar("R")
K = TypeVar("K", bound=Hashable)

DEFAULT_HOTELS: Final = 5
DEFAULT_VOUCHERS: Final = 10_000
# The API allows 200 requests per 30 s; the same sliding window at 40 per 3 s keeps the
# demo short while the limiter still has work to do.
DEFAULT_RATE_LIMIT: Final = RateLimit(40, 3.0)
# Smaller than the API's 1000 so that the default run takes enough requests for the rate
# limit and the concurrency to show.
DEFAULT_CHUNK_SIZE: Final = 200
PAGE_SIZE: Final = MAX_PAGE_SIZE // 2
# With faults on, a slow answer should become a client timeout (the simulator's slow
# fault waits 2 s), the hardest case for exactly-once: the add was applied, unseen.
FAULTS_TIMEOUT: Final = 1.0
# Rounds of sending the items that failed (after looking them up, for adds).
SETTLE_ROUNDS: Final = 3

DESCRIPTION: Final = """\
Run the project's main job on an embedded simulator: add vouchers to several hotels
(from templates shipped with the package), add a voucher code to each, list them
all back, rename some, delete some, check the result against the simulator, and print
what each step cost: requests, 429s, retries and time. --faults makes the simulator
fail requests on purpose so that retries and the exactly-once rule can be seen at
work; any item that still fails is reported and the exit status is 1.
"""


# --- exactly once ----------------------------------------------------------------------------

Send = Callable[[list[P], Bar], Awaitable[Sequence[R] | None]]


@attrs.define
class Settled(Generic[R]):
    """The outcome of :func:`settle`: results aligned with the items, and what still failed."""

    results: list[R | None]
    failures: list[ChunkFailure[Any]] = attrs.field(factory=list)

    @property
    def failed(self) -> int:
        """Return how many items failed for good."""
        return sum(len(f.indices) for f in self.failures)


async def settle(
    items: list[P],
    send: Send[P, R],
    bar: Bar,
    *,
    key: Callable[[P], K] | None = None,
    lookup: Callable[[list[P]], Awaitable[dict[K, R]]] | None = None,
    report: Report,
) -> Settled[R]:
    """Send *items*, then give the ones that failed a few more rounds, never applying one twice.

    With *lookup*, the failed items are first looked up by their natural *key* (an
    external identifier, a code value): those found were applied after all, and only the
    missing ones are sent again.  Without it the write must be idempotent (an update, a
    delete) and the failed items are simply sent again.  This is what rerunning the
    command line with a failures file does, done in place.
    """
    results: list[R | None] = [None] * len(items)
    # The last failure of each item still failing: (error, ambiguous).
    failing: dict[int, tuple[MewsError, bool]] = {}
    to_send = list(range(len(items)))
    doubtful: list[int] = []  # may have been applied: never re-sent before a lookup
    for _ in range(SETTLE_ROUNDS):
        refused: list[int] = []
        if to_send:
            failed_now = await _send_round(items, to_send, send, bar, results, failing)
            refused = [i for i in failed_now if not failing[i][1]]
            doubtful += [i for i in failed_now if failing[i][1]]
        if lookup is None or key is None:
            # An idempotent write: whatever its outcome, sending it again is safe.
            to_send, doubtful = sorted(refused + doubtful), []
        elif doubtful:
            try:
                found = await lookup([items[i] for i in doubtful])
            except MewsError:
                to_send = refused  # look the doubtful ones up again next round
                continue
            missing = []
            for i in doubtful:
                results[i] = found.get(key(items[i]))
                if results[i] is None:
                    missing.append(i)
                    # Known now not to have been applied.
                    failing[i] = (failing[i][0], False)
                else:
                    del failing[i]
            bar(len(doubtful) - len(missing))
            report.resolved += len(doubtful) - len(missing)
            to_send, doubtful = sorted(refused + missing), []
        else:
            to_send = refused
        if not to_send and not doubtful:
            break
    return Settled(results, _regroup(items, failing))


async def _send_round(
    items: list[P],
    indices: list[int],
    send: Send[P, R],
    bar: Bar,
    results: list[R | None],
    failing: dict[int, tuple[MewsError, bool]],
) -> list[int]:
    """Send the items at *indices*; record results and failures; return the failed indices."""
    try:
        done = await send([items[i] for i in indices], bar)
    except BulkOperationError as exc:
        for i, result in zip(indices, exc.results, strict=True):
            results[i] = result
            failing.pop(i, None)
        for f in exc.failures:
            for j in f.indices:
                failing[indices[j]] = (f.error, f.ambiguous)
        return [indices[j] for j in exc.failed_indices]
    for n, i in enumerate(indices):
        results[i] = None if done is None else done[n]
        failing.pop(i, None)
    return []


def _regroup(items: list[P], failing: dict[int, tuple[MewsError, bool]]) -> list[ChunkFailure[Any]]:
    """Group the items still failing by the failure they met."""
    groups: dict[tuple[int, bool], list[int]] = {}
    errors: dict[int, MewsError] = {}
    for i in sorted(failing):
        error, ambiguous = failing[i]
        errors[id(error)] = error
        groups.setdefault((id(error), ambiguous), []).append(i)
    return [
        ChunkFailure(
            indices=indices,
            items=[items[i] for i in indices],
            error=errors[error_id],
            ambiguous=ambiguous,
        )
        for (error_id, ambiguous), indices in groups.items()
    ]


def _describe(hotel: Hotel, what: str, settled: Settled[Any]) -> list[str]:
    return [
        f"hotel {hotel.number}: {what}: {len(f.indices):,} items failed"
        + (" (ambiguous: they may have been applied)" if f.ambiguous else "")
        + f": {f.error}"
        for f in settled.failures
    ]


async def for_each_hotel(
    hotels: Sequence[Hotel], work: Callable[[Hotel], Awaitable[R]]
) -> dict[int, R]:
    """Run *work* for every hotel concurrently; return the results by hotel number."""
    results: dict[int, R] = {}

    async def run(hotel: Hotel) -> None:
        results[hotel.number] = await work(hotel)

    async with anyio.create_task_group() as tg:
        for hotel in hotels:
            tg.start_soon(run, hotel)
    return results


# --- the run ---------------------------------------------------------------------------------


async def demo_command(args: argparse.Namespace, ui: Ui) -> int:
    """Run the demo; exit status 1 if any item failed or the final check found a problem."""
    from ..testing import MewsSimulator

    templates = load_templates()
    limit: RateLimit | None = args.rate_limit or None
    async with MewsSimulator(rate_limit=limit, fault_rate=args.faults, seed=args.seed) as sim:
        hotels = seed_hotels(sim, args.hotels)
        counts = spread(args.vouchers, args.hotels)
        states = {
            h.number: HotelState(
                hotel=h,
                params=plan_vouchers(h, templates, n),
                templates=[templates[(i + h.number) % len(templates)] for i in range(n)],
            )
            for h, n in zip(hotels, counts, strict=True)
        }
        client = MewsClient(
            client_token=sim.client_token,
            access_token=sim.access_token,
            client=f"mews-vouchers demo {__version__}",
            base_url=sim.base_url,
            rate_limit=limit,
            chunk_size=args.chunk_size,
            page_size=PAGE_SIZE,
            timeout=FAULTS_TIMEOUT if args.faults else DEFAULT_TIMEOUT,
        )
        started = time.perf_counter()
        async with client:
            report = Report(client)
            with ui.bars() as bars:
                await _run_steps(client, report, bars, hotels, states)
        wall = time.perf_counter() - started
        problems = report.problems + verify(sim, states)

    # soft_wrap: sentences are not cut at 80 columns when stdout is no terminal.
    out = Console(soft_wrap=True)
    out.print(report.table())
    limit_text = "none" if limit is None else f"{limit.requests} per {limit.per_seconds:g} s"
    out.print(
        f"{len(hotels)} hotels, {args.vouchers:,} vouchers; rate limit {limit_text} "
        f"(simulator and client); faults {args.faults:.0%}; seed {args.seed}; "
        f"wall time {wall:.1f} s."
    )
    chunks = client.stats.resolved_ambiguous
    if chunks or report.resolved:
        out.print(
            "Writes of unknown outcome settled by looking them up: "
            f"{chunks:,} add chunks by the SDK (external identifiers), "
            f"{report.resolved:,} items by the demo's retry rounds."
        )
    failed = [line for state in states.values() for line in state.failed]
    for line in failed:
        print(f"mews-vouchers: {line}", file=sys.stderr)
    for problem in problems:
        print(f"mews-vouchers: check failed: {problem}", file=sys.stderr)
    if failed or problems:
        error(
            f"{sum(s.failed for s in report.steps):,} items failed for good, "
            f"{len(problems)} checks failed"
        )
        return EXIT_FAILED
    out.print(
        "Checked against the simulator: every voucher exists exactly once, "
        "with its one voucher code; renames and deletions all applied."
    )
    return EXIT_OK


async def _run_steps(
    client: MewsClient,
    report: Report,
    bars: Bars,
    hotels: Sequence[Hotel],
    states: dict[int, HotelState],
) -> None:
    total = sum(len(s.params) for s in states.values())

    with report.step("Add vouchers") as step:
        bar = bars.bar("Adding vouchers", total)

        async def add(hotel: Hotel) -> None:
            state = states[hotel.number]
            eid = hotel.enterprise_id

            async def send(items: list[VoucherParameters], bar: Bar) -> list[Voucher]:
                return await client.vouchers.add(items, enterprise_id=eid, on_progress=bar)

            async def lookup(items: list[VoucherParameters]) -> dict[Any, Voucher]:
                found = await client.vouchers.get_all(
                    service_ids=[hotel.service_id],
                    enterprise_ids=[eid],
                    external_identifiers=[str(p.external_identifier) for p in items],
                    activity_states=[ActivityState.ACTIVE],
                )
                return {(v.service_id, v.external_identifier): v for v in found.vouchers}

            settled = await settle(
                state.params,
                send,
                bar,
                key=lambda p: (p.service_id, p.external_identifier),
                lookup=lookup,
                report=report,
            )
            state.vouchers = settled.results
            step.failed += settled.failed
            state.failed += _describe(hotel, "adding vouchers", settled)

        step.items = total
        await for_each_hotel(hotels, add)

    with report.step("Add voucher codes") as step:
        added = sum(1 for s in states.values() for v in s.vouchers if v is not None)
        bar = bars.bar("Adding voucher codes", added)

        async def add_codes(hotel: Hotel) -> None:
            state = states[hotel.number]
            eid = hotel.enterprise_id
            params = [
                VoucherCodeParameters(voucher_id=v.id, value=code_value(t, hotel, i))
                for i, (v, t) in enumerate(zip(state.vouchers, state.templates, strict=True))
                if v is not None
            ]

            async def send(items: list[VoucherCodeParameters], bar: Bar) -> list[VoucherCode]:
                return await client.voucher_codes.add(items, enterprise_id=eid, on_progress=bar)

            async def lookup(items: list[VoucherCodeParameters]) -> dict[Any, VoucherCode]:
                # A code's value is unique among the hotel's active codes: a natural key.
                codes = await client.voucher_codes.get_all(
                    voucher_ids=[p.voucher_id for p in items], enterprise_ids=[eid]
                )
                return {(c.voucher_id, c.value): c for c in codes if c.is_active}

            settled = await settle(
                params,
                send,
                bar,
                key=lambda p: (p.voucher_id, p.value),
                lookup=lookup,
                report=report,
            )
            step.failed += settled.failed
            state.failed += _describe(hotel, "adding voucher codes", settled)

        step.items = added
        await for_each_hotel(hotels, add_codes)

    with report.step("List all (getAll)") as step:
        bar = bars.bar("Listing vouchers", None)
        try:
            result = await client.vouchers.get_all(
                service_ids=[h.service_id for h in hotels],
                enterprise_ids=[h.enterprise_id for h in hotels],
                activity_states=[ActivityState.ACTIVE],
            )
        except MewsError as exc:
            # A read that failed for good (its retries spent): say so, and go on writing.
            report.problems.append(f"listing failed: {exc}")
            bar.finish(0)
        else:
            _check_listing(report, step, bar, result.vouchers, states)

    await _update_and_delete(client, report, bars, hotels, states)


def _check_listing(
    report: Report,
    step: Step,
    bar: Bar,
    vouchers: Sequence[Voucher],
    states: dict[int, HotelState],
) -> None:
    """Check that getAll returned every voucher added, and nothing else."""
    step.items = len(vouchers)
    bar.finish(step.items)
    listed = {v.id for v in vouchers}
    added = {v.id for s in states.values() for v in s.vouchers if v is not None}
    if listed != added:
        report.problems.append(
            f"getAll listed {len(listed - added):,} vouchers not added and missed "
            f"{len(added - listed):,} added ones"
        )


async def _update_and_delete(
    client: MewsClient,
    report: Report,
    bars: Bars,
    hotels: Sequence[Hotel],
    states: dict[int, HotelState],
) -> None:
    def picked(state: HotelState, every: int, offset: int) -> list[Voucher]:
        return [v for i, v in enumerate(state.vouchers) if v is not None and i % every == offset]

    renames = {n: picked(s, RENAME_EVERY, 0) for n, s in states.items()}
    with report.step("Rename (update)") as step:
        step.items = sum(len(r) for r in renames.values())
        bar = bars.bar("Renaming vouchers", step.items)

        async def rename(hotel: Hotel) -> None:
            state = states[hotel.number]
            updates = [
                VoucherUpdate(voucher_id=v.id, name=v.name + RENAMED_SUFFIX)
                for v in renames[hotel.number]
            ]

            async def send(items: list[VoucherUpdate], bar: Bar) -> list[Voucher]:
                return await client.vouchers.update(
                    items, enterprise_id=hotel.enterprise_id, on_progress=bar
                )

            settled = await settle(updates, send, bar, report=report)
            state.renamed = {
                u.voucher_id for u, r in zip(updates, settled.results, strict=True) if r is not None
            }
            step.failed += settled.failed
            state.failed += _describe(hotel, "renaming vouchers", settled)

        await for_each_hotel(hotels, rename)

    deletions = {n: picked(s, DELETE_EVERY, DELETE_OFFSET) for n, s in states.items()}
    with report.step("Delete") as step:
        step.items = sum(len(d) for d in deletions.values())
        bar = bars.bar("Deleting vouchers", step.items)

        async def delete(hotel: Hotel) -> None:
            state = states[hotel.number]
            ids = [v.id for v in deletions[hotel.number]]

            async def send(items: list[uuid.UUID], bar: Bar) -> list[uuid.UUID]:
                await client.vouchers.delete(
                    items, enterprise_id=hotel.enterprise_id, on_progress=bar
                )
                return items

            settled = await settle(ids, send, bar, report=report)
            lost = {ids[i] for f in settled.failures for i in f.indices}
            state.deleted = set(ids) - lost
            step.failed += settled.failed
            state.failed += _describe(hotel, "deleting vouchers", settled)

        await for_each_hotel(hotels, delete)
