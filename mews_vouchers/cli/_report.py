"""The demo's report and the sync plan's counts: what was done, what it cost, as tables."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import attrs
from rich.table import Table

from .. import MewsClient, SyncPlan


@attrs.frozen
class PlanCounts:
    """How many vouchers and codes a sync plan writes, and how many it leaves alone."""

    adds: int = 0
    updates: int = 0
    deletes: int = 0
    code_adds: int = 0
    """Codes of vouchers that exist and codes of the vouchers to add, together."""
    code_deletes: int = 0
    unchanged: int = 0
    unmanaged: int = 0
    conflicts: int = 0
    """Identifiers held by more than one active voucher."""

    @property
    def writes(self) -> int:
        """Return how many vouchers and codes the plan writes."""
        return self.adds + self.updates + self.deletes + self.code_adds + self.code_deletes

    @classmethod
    def of(cls, plan: SyncPlan) -> PlanCounts:
        """Count what *plan* holds."""
        return cls(
            adds=len(plan.adds),
            updates=len(plan.updates),
            deletes=len(plan.deletes),
            code_adds=len(plan.code_adds) + sum(len(d.codes or ()) for d in plan.adds),
            code_deletes=len(plan.code_deletes),
            unchanged=plan.unchanged,
            unmanaged=len(plan.unmanaged),
            conflicts=len({(v.service_id, v.external_identifier) for v in plan.conflicts}),
        )

    def __add__(self, other: PlanCounts) -> PlanCounts:
        pairs = zip(attrs.astuple(self), attrs.astuple(other), strict=True)
        return PlanCounts(*(a + b for a, b in pairs))


@attrs.define
class Step:
    """What one step did and cost."""

    name: str
    items: int = 0
    failed: int = 0
    requests: int = 0
    rate_limited: int = 0
    retries: int = 0
    elapsed: float = 0.0


@attrs.define
class Report:
    """The steps of the run, measured from the client's counters."""

    client: MewsClient
    steps: list[Step] = attrs.field(factory=list)
    resolved: int = 0
    problems: list[str] = attrs.field(factory=list)
    plans: dict[str, PlanCounts] = attrs.field(factory=dict)
    """The counts of each sync step's plans, all hotels together."""

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[Step]:
        """Measure the requests, 429s, retries and time of the code in the block."""
        stats = self.client.stats
        before = (stats.requests, stats.rate_limited, stats.retries)
        started = time.perf_counter()
        step = Step(name)
        try:
            yield step
        finally:
            step.elapsed = time.perf_counter() - started
            step.requests = stats.requests - before[0]
            step.rate_limited = stats.rate_limited - before[1]
            step.retries = stats.retries - before[2]
            self.steps.append(step)

    def table(self) -> Table:
        """Return the summary table: one row per step, then the totals."""
        table = Table(title="mews-vouchers demo", title_justify="left")
        table.add_column("Step")
        for column in ("Items", "Failed", "Requests", "429s", "Retries", "Elapsed"):
            table.add_column(column, justify="right")
        for s in self.steps:
            table.add_row(*_cells(s))
        total = Step(
            "Total",
            items=sum(s.items for s in self.steps),
            failed=sum(s.failed for s in self.steps),
            requests=sum(s.requests for s in self.steps),
            rate_limited=sum(s.rate_limited for s in self.steps),
            retries=sum(s.retries for s in self.steps),
            elapsed=sum(s.elapsed for s in self.steps),
        )
        table.add_section()
        table.add_row(*_cells(total), style="bold")
        return table

    def sync_table(self) -> Table:
        """Return the counts of each sync step's plans: one row per step."""
        table = Table(title="Sync plans (all hotels)", title_justify="left")
        table.add_column("Plan")
        columns = ("Adds", "Updates", "Deletes", "Code adds", "Code deletes", "Unchanged")
        for column in columns:
            table.add_column(column, justify="right")
        for name, c in self.plans.items():
            numbers = (c.adds, c.updates, c.deletes, c.code_adds, c.code_deletes, c.unchanged)
            table.add_row(name, *(f"{n:,}" for n in numbers))
        return table


def _cells(s: Step) -> list[str]:
    return [
        s.name,
        f"{s.items:,}",
        f"{s.failed:,}",
        f"{s.requests:,}",
        f"{s.rate_limited:,}",
        f"{s.retries:,}",
        f"{s.elapsed:.2f} s",
    ]
