"""What every figure shares: result rows, the table, a simulator in its own process, timers.

Every figure is a ratio against a baseline measured in the same run (STYLE.md item 9), so
that a slow or busy machine moves both sides together.  CPU figures use
``time.process_time()`` (only this process: the simulator runs in another one), repeated,
keeping the least value, the one least disturbed by other work on the machine.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import attrs

ROOT = Path(__file__).resolve().parent.parent
CLIENT_NAME = "mews-vouchers benchmarks 1.0"

Comparison = Literal["<=", ">="]


@attrs.frozen(kw_only=True)
class Target:
    """The value a row's ratio (or delta) must stay on the right side of."""

    op: Comparison
    value: float

    def met_by(self, result: float) -> bool:
        """Return whether *result* meets this target."""
        return result <= self.value if self.op == "<=" else result >= self.value

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}"


@attrs.frozen(kw_only=True)
class Row:
    """One line of the results table: a measurement, its baseline and how they compare.

    *result* is usually ``measured / baseline`` (``unit`` ``"x"``); rows whose target is
    absolute say so with another unit (``"MB"`` for a memory delta, ``"%"`` for a share).
    """

    figure: str
    measured: float
    baseline: float
    unit: str
    result: float
    result_unit: str = "x"
    target: Target | None = None
    note: str = ""

    @property
    def met(self) -> bool | None:
        """Return whether the target is met (None: informational row)."""
        return None if self.target is None else self.target.met_by(self.result)

    def as_dict(self) -> dict[str, Any]:
        """Return the row as JSON-ready data."""
        return {
            "figure": self.figure,
            "measured": self.measured,
            "baseline": self.baseline,
            "unit": self.unit,
            "result": self.result,
            "result_unit": self.result_unit,
            "target": None if self.target is None else str(self.target),
            "met": self.met,
            "note": self.note,
        }


def ratio(measured: float, baseline: float) -> float:
    """Return ``measured / baseline``, infinite when the baseline is zero."""
    return measured / baseline if baseline else float("inf")


def _number(value: float, unit: str, signed: bool = False) -> str:
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "%":
        return f"{value:.2f} %"
    if unit == "MB":
        return f"{value:+.1f} MB" if signed else f"{value:.1f} MB"
    magnitude = abs(value)
    text = f"{value:.3g}" if magnitude < 100 else f"{value:,.0f}"
    return f"{text} {unit}"


def format_table(rows: list[Row]) -> str:
    """Render *rows* as a Markdown table (readable in a terminal and in README.md)."""
    header = ["figure", "measured", "baseline", "ratio", "target", "met?"]
    lines = [
        [
            row.figure,
            _number(row.measured, row.unit),
            _number(row.baseline, row.unit),
            _number(row.result, row.result_unit, signed=True),
            "-"
            if row.target is None
            else f"{row.target}{'' if row.result_unit == 'x' else ' ' + row.result_unit}",
            {True: "yes", False: "NO", None: "n/a"}[row.met],
        ]
        for row in rows
    ]
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]

    def render(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [render(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [render(cells) for cells in lines]
    notes = [f"- {row.figure}: {row.note}" for row in rows if row.note]
    return "\n".join(out + (["", *notes] if notes else []))


# --- a simulator in its own process ------------------------------------------------------------


def child_env() -> dict[str, str]:
    """Return the environment of a child process that imports ``benchmarks``."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": str(ROOT) if not path else f"{ROOT}{os.pathsep}{path}"}


@attrs.frozen(kw_only=True)
class Hotel:
    """One seeded enterprise of a served simulator."""

    enterprise_id: uuid.UUID
    service_id: uuid.UUID
    vouchers: int


@attrs.frozen(kw_only=True)
class LoggedRequest:
    """One request the served simulator received: arrival (``time.monotonic()``) and status."""

    at: float
    status: int
    operation: str


@attrs.frozen(kw_only=True)
class Served:
    """How to reach a simulator served by :class:`ServerProcess`."""

    base_url: str
    client_token: str
    access_token: str
    hotels: tuple[Hotel, ...]


class ServerProcess:
    """Run ``benchmarks._server`` in a child process: seeded, serving, until this exits.

    The simulator's CPU then never counts in this process's ``process_time()``, and its
    millions of objects never slow this process's garbage collector.  The child stops
    when its standard input closes, so it cannot outlive the benchmark even if this
    process is killed.
    """

    def __init__(
        self,
        *,
        enterprises: int,
        vouchers: int | str,
        latency: float = 0.0,
        rate_limit: tuple[int, float] | None = None,
        per_second: int = 10,
    ) -> None:
        self._args = [
            sys.executable,
            "-m",
            "benchmarks._server",
            "--enterprises",
            str(enterprises),
            "--vouchers",
            str(vouchers),
            "--latency",
            repr(latency),
            "--per-second",
            str(per_second),
        ]
        if rate_limit is not None:
            self._args += ["--rate-limit", f"{rate_limit[0]}/{rate_limit[1]}"]
        self._process: subprocess.Popen[bytes] | None = None
        self.log: list[LoggedRequest] = []
        """The simulator's request log, read when the process has stopped."""

    def __enter__(self) -> Served:
        process = subprocess.Popen(
            self._args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, env=child_env()
        )
        self._process = process
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            self._stop()
            raise RuntimeError(f"the simulator process exited early: {' '.join(self._args)}")
        data = json.loads(line)
        return Served(
            base_url=data["base_url"],
            client_token=data["client_token"],
            access_token=data["access_token"],
            hotels=tuple(
                Hotel(
                    enterprise_id=uuid.UUID(h["enterprise_id"]),
                    service_id=uuid.UUID(h["service_id"]),
                    vouchers=h["vouchers"],
                )
                for h in data["hotels"]
            ),
        )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        try:
            # Closes the child's stdin (its signal to stop), then reads its log to the end.
            tail, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            tail, _ = process.communicate()
        self.log = [LoggedRequest(**json.loads(line)) for line in tail.splitlines() if line]


# --- timing ------------------------------------------------------------------------------------


def least_cpu(run: Callable[[], object], repeat: int) -> float:
    """Return the least ``process_time()`` seconds of *repeat* calls of *run*."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best


def interleaved_least(
    runs: dict[str, Callable[[], object]],
    repeat: int,
    clock: Callable[[], float] = time.process_time,
) -> dict[str, float]:
    """Time each of *runs* *repeat* times, interleaved, and return each one's least time.

    Interleaving (a, b, c, a, b, c, ...) spreads a burst of load from elsewhere over every
    contender instead of penalising whichever ran during it.
    """
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeat):
        for name, run in runs.items():
            gc.collect()
            start = clock()
            run()
            best[name] = min(best[name], clock() - start)
    return best


def chunks(total: int, size: int) -> Iterator[range]:
    """Yield consecutive index ranges of at most *size* covering ``range(total)``."""
    for start in range(0, total, size):
        yield range(start, min(start + size, total))
