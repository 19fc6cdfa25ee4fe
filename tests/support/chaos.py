"""The soak engine: a bulk sync against a simulator that fails at random, then an audit.

Shared by ``tests/chaos/test_soak.py`` (CI size) and ``scripts/soak.py`` (full size).  One run
adds vouchers that all carry external identifiers across a portfolio of hotels, updates
half of them, deletes a quarter, lists everything, and checks item by item that what the
simulator holds is what the SDK reported: nothing lost, nothing duplicated, every input
item accounted for, and every failure that may have been applied flagged ambiguous.
Every broken promise is recorded in :attr:`SoakReport.problems` (empty on a good run).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import anyio
import attrs

from mews_vouchers import (
    BulkOperationError,
    ChunkFailure,
    MewsClient,
    MewsError,
    RetryPolicy,
    Voucher,
    VoucherParameters,
    VoucherType,
    VoucherUpdate,
)
from mews_vouchers.testing import Fault, Hotel, MewsSimulator

T = TypeVar("T")
R = TypeVar("R")

# Retries wait tens of milliseconds, yet outlast the simulator's random 429 bursts (at most
# 1 s): 0.03 doubling to 0.4, seven tries, is 0.6 to 1.2 s of backoff in all.
SOAK_RETRY = RetryPolicy(max_attempts=8, initial_backoff=0.03, max_backoff=0.4, max_retry_after=2.0)
# Latency spikes that end before the client's timeout, queued before the random faults.
SHORT_SLOW_FAULTS = 3


@attrs.frozen
class SoakConfig:
    """The size and the chaos of one soak run."""

    vouchers: int = 4000
    hotels: int = 10
    fault_rate: float = 0.15
    seed: int = 1
    chunk_size: int = 25
    page_size: int = 200
    timeout: float = 0.5
    # Above the timeout: a slow answer is a client timeout on a write that was applied.
    slow_delay: float = 0.8
    max_concurrency: int = 8
    converge_rounds: int = 10
    retry: RetryPolicy = SOAK_RETRY
    # The kinds of random faults (None: the simulator's default, every transient kind).
    faults: tuple[Fault, ...] | None = None
    # The listing that checks the end state, against the same chaos; more patient when
    # *retry* is made harsh on purpose, so that the audit itself gets through.
    list_retry: RetryPolicy = SOAK_RETRY


@attrs.define
class Outcome:
    """What one bulk call reported, aligned with its input: results and failures."""

    results: list[Any]
    failures: list[ChunkFailure[Any]]

    @property
    def failed(self) -> int:
        return sum(len(f.indices) for f in self.failures)

    @property
    def ambiguous(self) -> int:
        return sum(len(f.indices) for f in self.failures if f.ambiguous)

    def failed_indices(self, *, ambiguous: bool) -> list[int]:
        return sorted(i for f in self.failures if f.ambiguous is ambiguous for i in f.indices)


@attrs.define
class SoakReport:
    """The counts of one run and every invariant it broke."""

    config: SoakConfig
    added: int = 0
    add_failed: int = 0
    add_ambiguous: int = 0
    resolved_chunks: int = 0
    updated: int = 0
    update_failed: int = 0
    update_ambiguous: int = 0
    deleted: int = 0
    delete_failed: int = 0
    delete_ambiguous: int = 0
    listed: int = 0
    streamed: int = 0
    list_attempts: int = 0
    duplicates: int = 0
    lost: int = 0
    converge_rounds: int = 0
    requests: int = 0
    server_requests: int = 0
    rate_limited: int = 0
    retries: int = 0
    faults: dict[str, int] = attrs.Factory(dict)
    elapsed: float = 0.0
    problems: list[str] = attrs.Factory(list)

    def problem(self, text: str) -> None:
        """Record one broken promise (only the first few hundred are kept)."""
        if len(self.problems) < 200:
            self.problems.append(text)

    def lines(self) -> list[str]:
        """The report as ``name=value`` lines, the first-pass counts first."""
        c = self.config
        return [
            f"config: vouchers={c.vouchers} hotels={c.hotels} fault_rate={c.fault_rate} "
            f"seed={c.seed} chunk_size={c.chunk_size} page_size={c.page_size} "
            f"timeout={c.timeout} slow_delay={c.slow_delay}",
            f"add (first pass): added={self.added} failed={self.add_failed} "
            f"ambiguous={self.add_ambiguous} resolved={self.resolved_chunks} (chunks settled "
            "by external identifier)",
            f"update (first pass): updated={self.updated} failed={self.update_failed} "
            f"ambiguous={self.update_ambiguous}",
            f"delete (first pass): deleted={self.deleted} failed={self.delete_failed} "
            f"ambiguous={self.delete_ambiguous}",
            f"list: get_all={self.listed} iter_all={self.streamed} "
            f"get_all attempts={self.list_attempts}",
            f"audit: duplicates={self.duplicates} lost={self.lost} "
            f"problems={len(self.problems)} converged_after={self.converge_rounds} rounds",
            f"traffic: requests={self.requests} (server saw {self.server_requests}) "
            f"429s={self.rate_limited} retries={self.retries}",
            "faults: " + " ".join(f"{k}={v}" for k, v in sorted(self.faults.items())),
            f"elapsed={self.elapsed:.1f}s",
            *(f"PROBLEM: {p}" for p in self.problems),
        ]


async def _bulk(call: Callable[[], Awaitable[list[R] | None]], size: int) -> Outcome:
    """Run one bulk call and return its results and failures, whether it raised or not."""
    try:
        results = await call()
    except BulkOperationError as error:
        if len(error.results) != size:
            raise AssertionError(f"{len(error.results)} results for {size} items") from error
        return Outcome(list(error.results), list(error.failures))
    return Outcome([True] * size if results is None else list(results), [])


async def _per_hotel(
    hotels: Sequence[Hotel], run: Callable[[int], Awaitable[Outcome]]
) -> list[Outcome]:
    """Run one bulk call per hotel concurrently, on the one shared client."""
    outcomes: list[Outcome | None] = [None] * len(hotels)

    async def one(h: int) -> None:
        outcomes[h] = await run(h)

    async with anyio.create_task_group() as tg:
        for h in range(len(hotels)):
            tg.start_soon(one, h)
    return [o for o in outcomes if o is not None]


def _check_accounting(report: SoakReport, what: str, outcome: Outcome, size: int) -> None:
    """Every input item is either a result or in exactly one failure, never both."""
    seen = Counter(i for f in outcome.failures for i in f.indices)
    for i, n in seen.items():
        if n > 1:
            report.problem(f"{what}: item {i} is in {n} failures")
        if outcome.results[i] is not None:
            report.problem(f"{what}: item {i} has a result and a failure")
    for i in range(size):
        if outcome.results[i] is None and i not in seen:
            report.problem(f"{what}: item {i} has neither a result nor a failure (lost)")
    for failure in outcome.failures:
        if not isinstance(failure.error, MewsError):
            report.problem(f"{what}: failure error is {type(failure.error).__name__}")


def _by_id(sim: MewsSimulator) -> dict[str, dict[str, Any]]:
    return {v["Id"]: v for v in sim.vouchers()}


def _params(config: SoakConfig, hotel: Hotel, h: int, i: int) -> VoucherParameters:
    partner = i % 5 == 0
    return VoucherParameters(
        service_id=hotel.service_id,
        name=f"Soak {h}-{i}",
        type=VoucherType.PARTNER_COMPANY if partner else VoucherType.PUBLIC,
        company_id=hotel.company_id if partner else None,
        assigned_rate_ids=hotel.rate_ids[: i % 3],
        external_identifier=f"soak-{config.seed}-{h}-{i}",
    )


async def _add_all(
    client: MewsClient,
    sim: MewsSimulator,
    hotels: Sequence[Hotel],
    params: list[list[VoucherParameters]],
    report: SoakReport,
) -> list[Outcome]:
    """Add every hotel's vouchers concurrently and audit the result item by item."""

    async def run(h: int) -> Outcome:
        return await _bulk(
            lambda: client.vouchers.add(params[h], enterprise_id=hotels[h].enterprise_id),
            len(params[h]),
        )

    outcomes = await _per_hotel(hotels, run)
    by_ext: dict[str, list[dict[str, Any]]] = {}
    for v in sim.vouchers():
        by_ext.setdefault(v["ExternalIdentifier"], []).append(v)
    expected = {p.external_identifier for ps in params for p in ps}
    for stray in by_ext.keys() - expected:
        report.problem(f"add: the simulator holds vouchers nobody asked for ({stray!r})")
    for h, (outcome, items) in enumerate(zip(outcomes, params, strict=True)):
        _check_accounting(report, f"add hotel {h}", outcome, len(items))
        report.added += sum(r is not None for r in outcome.results)
        report.add_failed += outcome.failed
        report.add_ambiguous += outcome.ambiguous
        unsure = set(outcome.failed_indices(ambiguous=True))
        for i, item in enumerate(items):
            ext = item.external_identifier
            assert ext is not None
            held = by_ext.get(ext, [])
            if len(held) > 1:
                report.duplicates += len(held) - 1
                report.problem(f"add: {ext} exists {len(held)} times")
            result = outcome.results[i]
            if isinstance(result, Voucher):
                if not held:
                    report.lost += 1
                    report.problem(f"add: {ext} reported added as {result.id} but not held")
                elif str(result.id) != held[0]["Id"]:
                    report.problem(f"add: {ext} reported as {result.id}, held as {held[0]['Id']}")
                if result.name != item.name or result.external_identifier != ext:
                    report.problem(f"add: {ext} answered with other values: {result!r}")
            elif i not in unsure and held:
                report.problem(f"add: {ext} failed non-ambiguously, yet it was applied")
    return outcomes


async def _update_half(
    client: MewsClient,
    sim: MewsSimulator,
    hotels: Sequence[Hotel],
    added: list[list[Voucher]],
    report: SoakReport,
) -> None:
    """Update every other added voucher; audit new values and unchanged failures."""
    start = datetime(2030, 1, 1, tzinfo=UTC)
    updates = [
        [
            VoucherUpdate(
                voucher_id=v.id,
                name=f"Updated {v.name}",
                assigned_rate_ids=hotels[h].rate_ids[-1:],
                occupiable_interval_start_utc=start,
                occupiable_interval_end_utc=start + timedelta(days=n % 30),
            )
            for n, v in enumerate(vouchers[::2])
        ]
        for h, vouchers in enumerate(added)
    ]
    before = _by_id(sim)

    async def run(h: int) -> Outcome:
        return await _bulk(
            lambda: client.vouchers.update(updates[h], enterprise_id=hotels[h].enterprise_id),
            len(updates[h]),
        )

    outcomes = await _per_hotel(hotels, run)
    after = _by_id(sim)
    rates: dict[str, set[str]] = {}
    for a in sim.assignments():
        rates.setdefault(a["VoucherId"], set()).add(a["RateId"])
    for h, (outcome, items) in enumerate(zip(outcomes, updates, strict=True)):
        _check_accounting(report, f"update hotel {h}", outcome, len(items))
        report.updated += sum(r is not None for r in outcome.results)
        report.update_failed += outcome.failed
        report.update_ambiguous += outcome.ambiguous
        unsure = set(outcome.failed_indices(ambiguous=True))
        for i, item in enumerate(items):
            key = str(item.voucher_id)
            held = after[key]
            result = outcome.results[i]
            if isinstance(result, Voucher):
                if held["Name"] != item.name or result.name != item.name:
                    report.problem(f"update: {key} reported updated, holds {held['Name']!r}")
                if rates.get(key, set()) != {str(r) for r in hotels[h].rate_ids[-1:]}:
                    report.problem(f"update: {key} reported updated, rates {rates.get(key)}")
                if held["OccupiableIntervalEndUtc"] is None:
                    report.problem(f"update: {key} reported updated, no interval")
            elif i not in unsure and held != before[key]:
                report.problem(f"update: {key} failed non-ambiguously, yet it changed")


async def _delete_quarter(
    client: MewsClient,
    sim: MewsSimulator,
    hotels: Sequence[Hotel],
    added: list[list[Voucher]],
    report: SoakReport,
) -> None:
    """Delete every fourth added voucher; audit inactive ones and untouched failures."""
    doomed = [[v.id for v in vouchers[1::4]] for vouchers in added]
    before = _by_id(sim)

    async def run(h: int) -> Outcome:
        async def call() -> None:
            await client.vouchers.delete(doomed[h], enterprise_id=hotels[h].enterprise_id)

        return await _bulk(call, len(doomed[h]))

    outcomes = await _per_hotel(hotels, run)
    after = _by_id(sim)
    for h, (outcome, ids) in enumerate(zip(outcomes, doomed, strict=True)):
        _check_accounting(report, f"delete hotel {h}", outcome, len(ids))
        report.deleted += sum(r is not None for r in outcome.results)
        report.delete_failed += outcome.failed
        report.delete_ambiguous += outcome.ambiguous
        unsure = set(outcome.failed_indices(ambiguous=True))
        for i, voucher_id in enumerate(ids):
            key = str(voucher_id)
            if outcome.results[i] is not None:
                if after[key]["IsActive"]:
                    report.problem(f"delete: {key} reported deleted, still active")
                if outcome.results[i] not in (True, voucher_id):
                    report.problem(f"delete: result {outcome.results[i]!r} for {key}")
            elif i not in unsure and after[key] != before[key]:
                report.problem(f"delete: {key} failed non-ambiguously, yet it changed")


async def _list_all(
    client: MewsClient, sim: MewsSimulator, hotels: Sequence[Hotel], report: SoakReport
) -> None:
    """get_all over the portfolio must equal the simulator's state, voucher by voucher."""
    for attempt in range(1, 11):
        report.list_attempts = attempt
        try:
            result = await client.vouchers.get_all(
                service_ids=[h.service_id for h in hotels],
                enterprise_ids=[h.enterprise_id for h in hotels],
            )
        except MewsError:
            await anyio.sleep(1.0)  # the chaos won this round (a 429 burst lasts <= 1 s)
            continue
        break
    else:
        report.problem("list: get_all failed ten times in a row")
        return
    report.listed = len(result.vouchers)
    ids = Counter(v.id for v in result.vouchers)
    if any(n > 1 for n in ids.values()):
        report.problem("list: get_all returned a voucher twice")
    listed = {
        str(v.id): (v.name, v.is_active, v.external_identifier, v.updated_utc)
        for v in result.vouchers
    }
    held = {
        v["Id"]: (
            v["Name"],
            v["IsActive"],
            v["ExternalIdentifier"],
            datetime.fromisoformat(v["UpdatedUtc"]),
        )
        for v in sim.vouchers()
    }
    for key in held.keys() - listed.keys():
        report.problem(f"list: {key} is held but get_all missed it")
    for key in listed.keys() - held.keys():
        report.problem(f"list: get_all returned {key}, which is not held")
    for key in held.keys() & listed.keys():
        if held[key] != listed[key]:
            report.problem(f"list: {key} listed as {listed[key]}, held as {held[key]}")
    # The same portfolio streamed: iter_all must yield each held voucher exactly once.
    for _ in range(10):
        try:
            async with client.vouchers.iter_all(
                service_ids=[h.service_id for h in hotels],
                enterprise_ids=[h.enterprise_id for h in hotels],
            ) as stream:
                streamed = Counter([str(v.id) async for v in stream])
        except MewsError:
            await anyio.sleep(1.0)
            continue
        break
    else:
        report.problem("list: iter_all failed ten times in a row")
        return
    report.streamed = sum(streamed.values())
    if streamed.keys() != held.keys() or any(n > 1 for n in streamed.values()):
        report.problem(f"list: iter_all streamed {report.streamed} for {len(held)} held")


async def _converge(
    client: MewsClient,
    sim: MewsSimulator,
    hotels: Sequence[Hotel],
    params: list[list[VoucherParameters]],
    report: SoakReport,
) -> None:
    """Send what failed again (ambiguous adds only once checked) until every item exists once."""
    for round_ in range(1, report.config.converge_rounds + 1):
        held = Counter(v["ExternalIdentifier"] for v in sim.vouchers())
        missing = [[p for p in ps if held[p.external_identifier] == 0] for ps in params]
        if not any(missing):
            report.converge_rounds = round_ - 1
            break

        async def run(h: int, missing: list[list[VoucherParameters]] = missing) -> Outcome:
            return await _bulk(
                lambda: client.vouchers.add(missing[h], enterprise_id=hotels[h].enterprise_id),
                len(missing[h]),
            )

        await _per_hotel(hotels, run)
    else:
        report.converge_rounds = report.config.converge_rounds
    held = Counter(v["ExternalIdentifier"] for v in sim.vouchers())
    for ps in params:
        for p in ps:
            if held[p.external_identifier] != 1:
                report.problem(
                    f"converge: {p.external_identifier} held {held[p.external_identifier]}"
                )


def _client(sim: MewsSimulator, config: SoakConfig, retry: RetryPolicy) -> MewsClient:
    return MewsClient(
        client_token=sim.client_token,
        access_token=sim.access_token,
        client="mews-vouchers soak 1.0",
        base_url=sim.base_url,
        rate_limit=None,
        retry=retry,
        timeout=config.timeout,
        chunk_size=config.chunk_size,
        page_size=config.page_size,
        max_concurrency=config.max_concurrency,
    )


async def run_soak(config: SoakConfig, *, converge: bool = True) -> SoakReport:
    """Run one soak: add, update, delete and list under random faults, auditing each step."""
    report = SoakReport(config=config)
    started = time.perf_counter()
    async with MewsSimulator(
        fault_rate=config.fault_rate,
        seed=config.seed,
        slow_delay=config.slow_delay,
        faults=config.faults,
    ) as sim:
        hotels = [sim.add_hotel(f"Soak hotel {h}", rates=3) for h in range(config.hotels)]
        # Some latency spikes end before the timeout: those answers must be read as usual.
        for operation in ("vouchers/add", "vouchers/update", "vouchers/getAll"):
            sim.inject(
                Fault.SLOW,
                times=SHORT_SLOW_FAULTS,
                operation=operation,
                delay=config.timeout / 4,
            )
        per_hotel = [config.vouchers // config.hotels] * config.hotels
        for h in range(config.vouchers % config.hotels):
            per_hotel[h] += 1
        params = [
            [_params(config, hotels[h], h, i) for i in range(n)] for h, n in enumerate(per_hotel)
        ]
        async with _client(sim, config, config.retry) as client:
            outcomes = await _add_all(client, sim, hotels, params, report)
            report.resolved_chunks = client.stats.resolved_ambiguous
            added = [[r for r in o.results if isinstance(r, Voucher)] for o in outcomes]
            await _update_half(client, sim, hotels, added, report)
            await _delete_quarter(client, sim, hotels, added, report)
            if config.list_retry == config.retry:
                await _list_all(client, sim, hotels, report)
            else:
                async with _client(sim, config, config.list_retry) as auditor:
                    await _list_all(auditor, sim, hotels, report)
            stats = client.stats
            report.requests = stats.requests
            report.rate_limited = stats.rate_limited
            report.retries = stats.retries
            report.server_requests = len(sim.requests)
            report.faults = dict(
                Counter(r.fault.value for r in sim.requests if r.fault is not None)
            )
            if converge:
                await _converge(client, sim, hotels, params, report)
    report.elapsed = time.perf_counter() - started
    return report
