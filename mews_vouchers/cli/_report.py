"""The demo's report: what each step did and cost, and the table that shows it."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import attrs
from rich.table import Table

from .. import MewsClient


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
