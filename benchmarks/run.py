"""Run the benchmark suite and print one table: figure, measured, baseline, ratio, target, met?

    .venv/bin/python -m benchmarks.run            # everything, full size (a few minutes)
    .venv/bin/python -m benchmarks.run --quick    # tiny sizes, seconds (the smoke test)
    .venv/bin/python -m benchmarks.run --only cpu --profile

Every figure is measured against a baseline in the same run; see benchmarks/README.md.
Targets are reported, not enforced (shared machines are noisy), unless ``--strict``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks import (
    fig_converter,
    fig_cpu,
    fig_fanout,
    fig_fleet,
    fig_memory,
    fig_portfolio,
    fig_sync,
    fig_throttle,
)
from benchmarks._common import Row, format_table

FIGURES = ("converter", "throttle", "fanout", "cpu", "portfolio", "memory", "fleet", "sync")


def build_parser() -> argparse.ArgumentParser:
    """Return the command line parser."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the smoke test")
    parser.add_argument(
        "--only", default="", metavar="NAMES", help=f"comma-separated subset of {FIGURES}"
    )
    parser.add_argument(
        "--skip", default="", metavar="NAMES", help="comma-separated figures to leave out"
    )
    parser.add_argument(
        "--memory-vouchers",
        type=int,
        default=None,
        metavar="N",
        help="vouchers streamed by the memory figure (default 1,000,000; --quick 5,000)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument(
        "--profile", action="store_true", help="print where the SDK's CPU goes (figure 3)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return parser


def _names(text: str) -> set[str]:
    names = {name.strip() for name in text.split(",") if name.strip()}
    unknown = names - set(FIGURES)
    if unknown:
        raise SystemExit(f"unknown figures {sorted(unknown)}; known: {', '.join(FIGURES)}")
    return names


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected figures, print the table, return the exit status."""
    args = build_parser().parse_args(argv)
    selected = _names(args.only) or set(FIGURES)
    selected -= _names(args.skip)
    runners: dict[str, Callable[[], list[Row]]] = {
        "converter": lambda: fig_converter.run(args.quick),
        "throttle": lambda: fig_throttle.run(args.quick),
        "fanout": lambda: fig_fanout.run(args.quick),
        "cpu": lambda: fig_cpu.run(args.quick),
        "portfolio": lambda: fig_portfolio.run(args.quick),
        "memory": lambda: fig_memory.run(args.quick, args.memory_vouchers),
        "fleet": lambda: fig_fleet.run(args.quick),
        "sync": lambda: fig_sync.run(args.quick),
    }
    rows: list[Row] = []
    started = time.perf_counter()
    for name in FIGURES:
        if name not in selected:
            continue
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows += runners[name]()
    profile = fig_cpu.profile(args.quick) if args.profile else ""
    elapsed = time.perf_counter() - started
    print(
        f"\nmews-vouchers benchmarks{' (quick)' if args.quick else ''}: Python"
        f" {platform.python_version()}, {platform.machine()}, {elapsed:.0f} s\n"
    )
    print(format_table(rows))
    if profile:
        print(profile)
    if args.json is not None:
        args.json.write_text(json.dumps([row.as_dict() for row in rows], indent=2) + "\n")
    missed = [row for row in rows if row.met is False]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
