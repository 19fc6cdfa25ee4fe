"""``mews-vouchers demo``: the project's main job, run against an embedded simulator.

The simulator starts on loopback with a request limit of the API's shape, scaled down
so the run is short, and is seeded with hotels (each with a service, two rates and a
company).  Then, through the public SDK only, the demo adds vouchers built from the
templates shipped in ``data/sample_vouchers.jsonl``, one voucher code per voucher, lists
everything back across the hotels, renames a slice, deletes a slice, then syncs each
hotel to a desired state that differs in a few hundred vouchers and syncs again to
show that nothing is left to write.  It checks the simulator's state and prints what
each step cost.  What it writes is in ``_demo_plan``, its tables in ``_report``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from functools import partial
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
    SyncError,
    SyncPlan,
    Voucher,
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
    HotelState,
    load_templates,
    spread,
    verify,
)
from ._progress import Bar, Bars
from ._report import PlanCounts, Report

if TYPE_CHECKING:
    from ..testing import MewsSimulator

P = TypeVar("P")
R = TypeVar("R")

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
RESENDS: Final = 3
"""How many times the items refused (for an update or a delete: failed) are sent again."""

DESCRIPTION: Final = """\
Run the project's main job on an embedded simulator: add vouchers to several hotels
(from templates shipped with the package), add a voucher code to each, list them
all back, rename some, delete some, sync each hotel to a desired state with a few
changes (renames, rates, codes, new and removed vouchers) and sync again to show
that nothing is left to write, check the result against the simulator, and print
what each step cost: requests, 429s, retries and time. --faults makes the simulator
fail requests on purpose so that retries and the exactly-once rule can be seen at
work; any item that still fails is reported and the exit status is 1.
"""


# --- sending ---------------------------------------------------------------------------------

Send = Callable[[list[P]], Awaitable[Sequence[R | None]]]
Lookup = Callable[[list[P]], Awaitable[Sequence[R | None]]]


@attrs.define
class Sent(Generic[R]):
    """What became of the items of one write: a result each (None: failed), and why not."""

    results: list[R | None]
    failures: list[tuple[list[int], ChunkFailure[Any]]] = attrs.field(factory=list)
    """The failures not sent again, each with the positions of its items."""
    found: int = 0
    """How many items in doubt were found applied by a lookup."""

    @property
    def failed(self) -> int:
        """Return how many items have no result."""
        return sum(1 for result in self.results if result is None)

    def describe(self, number: int, what: str) -> list[str]:
        """Return a line for each failure that still leaves items without a result."""
        lefts = [(sum(self.results[i] is None for i in at), f) for at, f in self.failures]
        return [failure_line(number, what, left, f) for left, f in lefts if left]


def failure_line(number: int, what: str, count: int, failure: ChunkFailure[Any]) -> str:
    """Return the line that reports *count* items of *failure* in hotel *number*."""
    doubt = " (ambiguous: they may have been applied)" if failure.ambiguous else ""
    return f"hotel {number}: {what}: {count:,} items failed{doubt}: {failure.error}"


async def send_all(
    items: Sequence[P],
    send: Send[P, R],
    *,
    idempotent: bool,
    lookup: Lookup[P, R] | None = None,
) -> Sent[R]:
    """Send *items* through the SDK, then send again what failed, RESENDS times at most.

    The SDK settles an add of unknown outcome itself, looking it up by external
    identifier (codes: by voucher and value); what it reports failed was refused (not
    applied, so safe to send again) or is left in doubt.  An update or a delete is
    idempotent and sent again either way; an add in doubt never is: *lookup*, when
    given, finds those that were applied (as ``add --skip-existing`` would).
    """
    sent: Sent[R] = Sent([None] * len(items))
    pending = list(range(len(items)))
    for round_ in range(RESENDS + 1):
        try:
            done = await send([items[i] for i in pending])
            failures: list[ChunkFailure[Any]] = []
        except BulkOperationError as exc:
            done, failures = exc.results, exc.failures
        for i, result in zip(pending, done, strict=True):
            sent.results[i] = result
        again = []
        for f in failures:
            positions = [pending[j] for j in f.indices]
            if round_ < RESENDS and (idempotent or not f.ambiguous):
                again += positions
            else:
                sent.failures.append((positions, f))
        if not again:
            break
        pending = sorted(again)
    doubtful = [i for positions, f in sent.failures if f.ambiguous for i in positions]
    if lookup is not None and doubtful:
        with contextlib.suppress(MewsError):  # then they stay reported as in doubt
            found = await lookup([items[i] for i in doubtful])
            for i, result in zip(doubtful, found, strict=True):
                sent.results[i] = result
            sent.found = sum(1 for result in found if result is not None)
    return sent


# --- the run ---------------------------------------------------------------------------------


async def demo_command(args: argparse.Namespace, ui: Ui) -> int:
    """Run the demo; exit status 1 if any item failed or the final check found a problem."""
    # Loaded when the demo runs: the other commands start faster without the simulator.
    from ..testing import MewsSimulator

    templates = load_templates()
    limit: RateLimit | None = args.rate_limit or None
    async with MewsSimulator(rate_limit=limit, fault_rate=args.faults, seed=args.seed) as sim:
        states = [
            HotelState.plan(number, sim.add_hotel(f"Hotel {number}"), templates, count)
            for number, count in enumerate(spread(args.vouchers, args.hotels), start=1)
        ]
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
                await _Steps(client, report, bars, states, partial(_writes_since, sim)).run()
        wall = time.perf_counter() - started
        problems = report.problems + verify(sim, states)

    # soft_wrap: sentences are not cut at 80 columns when stdout is no terminal.
    out = Console(soft_wrap=True)
    out.print(report.table())
    out.print(report.sync_table())
    limit_text = "none" if limit is None else f"{limit.requests} per {limit.per_seconds:g} s"
    out.print(
        f"{len(states)} hotels, {args.vouchers:,} vouchers; rate limit {limit_text} "
        f"(simulator and client); faults {args.faults:.0%}; seed {args.seed}; "
        f"wall time {wall:.1f} s."
    )
    chunks = client.stats.resolved_ambiguous
    if chunks or report.resolved:
        out.print(
            "Writes of unknown outcome settled by looking them up: "
            f"{chunks:,} add chunks by the SDK, "
            f"{report.resolved:,} vouchers by the demo (find_by_external_identifiers)."
        )
    failed = [line for state in states for line in state.failed]
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
        "Checked against the simulator: every voucher exists exactly once, with its one "
        "voucher code; renames, deletions and the sync all applied, and the second sync "
        "had nothing to write."
    )
    return EXIT_OK


def _writes_since(sim: MewsSimulator, moment: float) -> int:
    # By arrival, on the simulator's clock (time.monotonic): a write of an earlier step
    # answered late (a slow fault) does not count.
    return sum(1 for r in sim.requests if r.at >= moment and not r.operation.endswith("/getAll"))


def _to_hotel(
    method: Callable[..., Awaitable[Sequence[R | None]]],
) -> Callable[[HotelState, Bar], Send[P, R]]:
    """Return what sends a hotel's items with *method*, its enterprise and a progress bar."""

    def send(state: HotelState, bar: Bar) -> Send[P, R]:
        return partial(method, enterprise_id=state.hotel.enterprise_id, on_progress=bar)

    return send


@attrs.frozen
class _Steps:
    """The demo's steps, each over every hotel at once, through one client."""

    client: MewsClient
    report: Report
    bars: Bars
    states: list[HotelState]
    writes_since: Callable[[float], int]
    """How many write requests reached the simulator since a moment of ``time.monotonic``."""

    async def run(self) -> None:
        """Run every step in turn."""
        await self.add_vouchers()
        await self.add_codes()
        await self.list_all()
        await self.rename()
        await self.delete()
        await self.sync()
        await self.sync_again()

    async def each(self, work: Callable[[HotelState], Coroutine[Any, Any, None]]) -> None:
        """Run *work* for every hotel at once."""
        async with anyio.create_task_group() as tg:
            for state in self.states:
                tg.start_soon(work, state)

    async def write(
        self,
        name: str,
        doing: str,
        items: Callable[[HotelState], Sequence[P]],
        send: Callable[[HotelState, Bar], Send[P, R]],
        *,
        idempotent: bool,
        lookup: Callable[[HotelState], Lookup[P, R]] | None = None,
    ) -> dict[int, Sent[R]]:
        """Measure one write step: each hotel's *items*, sent concurrently by *send*."""
        work = {state.number: items(state) for state in self.states}
        sent: dict[int, Sent[R]] = {}
        with self.report.step(name) as step:
            step.items = sum(len(w) for w in work.values())
            bar = self.bars.bar(doing, step.items)

            async def run(state: HotelState) -> None:
                sent[state.number] = outcome = await send_all(
                    work[state.number],
                    send(state, bar),
                    idempotent=idempotent,
                    lookup=None if lookup is None else lookup(state),
                )
                bar(outcome.found)
                self.report.resolved += outcome.found

            await self.each(run)
            for state in self.states:
                step.failed += sent[state.number].failed
                state.failed += sent[state.number].describe(state.number, doing.lower())
        return sent

    async def add_vouchers(self) -> None:
        """Add each hotel's vouchers; find those whose add stayed in doubt."""

        def lookup(state: HotelState) -> Lookup[VoucherParameters, Voucher]:
            async def find(items: list[VoucherParameters]) -> list[Voucher | None]:
                keys = [(p.service_id, str(p.external_identifier)) for p in items]
                found = await self.client.vouchers.find_by_external_identifiers(
                    [identifier for _, identifier in keys],
                    service_ids=[state.hotel.service_id],
                    enterprise_id=state.hotel.enterprise_id,
                )
                return [found.get(key) for key in keys]

            return find

        sent = await self.write(
            "Add vouchers",
            "Adding vouchers",
            lambda state: state.params,
            _to_hotel(self.client.vouchers.add),
            idempotent=False,
            lookup=lookup,
        )
        for state in self.states:
            state.vouchers = sent[state.number].results

    async def add_codes(self) -> None:
        """Add one code to each voucher added."""

        def codes(state: HotelState) -> list[VoucherCodeParameters]:
            return [
                VoucherCodeParameters(voucher_id=v.id, value=state.code_value(i))
                for i, v in enumerate(state.vouchers)
                if v is not None
            ]

        send = _to_hotel(self.client.voucher_codes.add)
        await self.write("Add voucher codes", "Adding voucher codes", codes, send, idempotent=False)

    async def list_all(self) -> None:
        """List every active voucher of every hotel at once, and check the listing."""
        with self.report.step("List all (getAll)") as step:
            bar = self.bars.bar("Listing vouchers", None)
            try:
                result = await self.client.vouchers.get_all(
                    service_ids=[s.hotel.service_id for s in self.states],
                    enterprise_ids=[s.hotel.enterprise_id for s in self.states],
                    activity_states=[ActivityState.ACTIVE],
                )
            except MewsError as exc:
                # A read that failed for good (its retries spent): say so, and go on writing.
                self.report.problems.append(f"listing failed: {exc}")
                bar.finish(0)
                return
            step.items = len(result.vouchers)
            bar.finish(step.items)
        listed = {v.id for v in result.vouchers}
        added = {v.id for s in self.states for v in s.vouchers if v is not None}
        if listed != added:
            self.report.problems.append(
                f"getAll listed {len(listed - added):,} vouchers not added and missed "
                f"{len(added - listed):,} added ones"
            )

    async def rename(self) -> None:
        """Rename every RENAME_EVERY-th voucher."""

        def updates(state: HotelState) -> list[VoucherUpdate]:
            return [
                VoucherUpdate(voucher_id=v.id, name=v.name + RENAMED_SUFFIX)
                for v in state.picked(RENAME_EVERY, 0)
            ]

        send = _to_hotel(self.client.vouchers.update)
        await self.write("Rename (update)", "Renaming vouchers", updates, send, idempotent=True)

    async def delete(self) -> None:
        """Delete every DELETE_EVERY-th voucher (never one renamed)."""

        def ids(state: HotelState) -> list[uuid.UUID]:
            return [v.id for v in state.picked(DELETE_EVERY, DELETE_OFFSET)]

        def send(state: HotelState, bar: Bar) -> Send[uuid.UUID, uuid.UUID]:
            async def delete(items: list[uuid.UUID]) -> list[uuid.UUID]:
                await self.client.vouchers.delete(
                    items, enterprise_id=state.hotel.enterprise_id, on_progress=bar
                )
                return items

            return delete

        await self.write("Delete", "Deleting vouchers", ids, send, idempotent=True)

    async def plan(self, state: HotelState) -> SyncPlan:
        """Plan the sync of the hotel's desired state, deleting only what the demo owns."""
        desired = state.desired()
        return await self.client.vouchers.plan_sync(
            desired,
            enterprise_id=state.hotel.enterprise_id,
            service_ids=[state.hotel.service_id],
            delete_missing=True,
            owned_prefix=HotelState.prefix_of(state.number),
            # A desired state gone wrong must not wipe the hotel: the demo deletes about 2%.
            max_deletes=max(len(desired) // 10, 10),
        )

    async def sync(self) -> None:
        """Make every hotel match its desired state: plan, apply, and again what is left."""
        counts: dict[int, PlanCounts] = {}
        with self.report.step("Sync (plan, apply)") as step:
            bar = self.bars.bar("Syncing", None)

            async def run(state: HotelState) -> None:
                try:
                    for _ in range(RESENDS + 1):
                        plan = await self.plan(state)
                        counts.setdefault(state.number, PlanCounts.of(plan))
                        failures: list[ChunkFailure[Any]] = []
                        if plan.is_empty:
                            break
                        try:
                            result = await self.client.vouchers.apply_sync(plan, on_progress=bar)
                        except SyncError as exc:
                            result = exc.result
                        # Level-triggered: planning again from what Mews holds does what is left.
                        failures = result.failures
                        if result.ok and not result.stale:
                            break
                except MewsError as exc:
                    self.report.problems.append(f"hotel {state.number}: sync failed: {exc}")
                    return
                step.failed += sum(len(f.indices) for f in failures)
                state.failed += [
                    failure_line(state.number, "syncing", len(f.indices), f) for f in failures
                ]

            await self.each(run)
            total = self.report.plans["first sync"] = sum(counts.values(), PlanCounts())
            step.items = total.writes
            bar.finish()

    async def sync_again(self) -> None:
        """Sync every hotel once more: the plans must be empty, and no write may be sent."""
        counts: dict[int, PlanCounts] = {}
        with self.report.step("Sync again") as step:
            started = time.monotonic()

            async def run(state: HotelState) -> None:
                try:
                    plan = await self.plan(state)
                    counts[state.number] = PlanCounts.of(plan)
                    await self.client.vouchers.apply_sync(plan)
                except MewsError as exc:
                    self.report.problems.append(f"hotel {state.number}: second sync failed: {exc}")

            await self.each(run)
            total = self.report.plans["second sync"] = sum(counts.values(), PlanCounts())
            step.items = total.writes
            sent = self.writes_since(started)
        if total.writes or sent:
            self.report.problems.append(
                f"the second sync planned {total.writes:,} writes and sent {sent:,} write requests"
            )
