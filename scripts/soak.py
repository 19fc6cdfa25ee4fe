"""Full-size soak: a portfolio bulk sync under random faults, audited item by item.

    python -m scripts.soak --vouchers 50000 --hotels 10 --fault-rate 0.15 --seed 1

Adds the vouchers (all with external identifiers) across the hotels, updates half,
deletes a quarter and lists everything, against a simulator that injects every kind of
fault at random (seeded), then checks that its state is what the SDK reported.  Prints
the first-pass counts and every broken promise; exits 1 if there is any.  The engine is
``tests/support/chaos.py``, shared with ``tests/chaos/test_soak.py``: run this as a
module from the repository root, as above, so that it imports as ``tests.support``.
"""

from __future__ import annotations

import argparse
import sys

import anyio

from tests.support.chaos import SoakConfig, run_soak


def main(argv: list[str] | None = None) -> int:
    """Run one soak from the command line; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vouchers", type=int, default=50_000)
    parser.add_argument("--hotels", type=int, default=10)
    parser.add_argument("--fault-rate", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--chunk-size", type=int, default=100, help="items per write request")
    parser.add_argument("--page-size", type=int, default=500, help="Limitation.Count of getAll")
    parser.add_argument("--timeout", type=float, default=1.0, help="client timeout, seconds")
    parser.add_argument(
        "--slow-delay", type=float, default=1.5, help="seconds a SLOW fault waits (> timeout)"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="client max_concurrency")
    parser.add_argument(
        "--no-converge", action="store_true", help="skip re-sending what failed the first time"
    )
    args = parser.parse_args(argv)
    config = SoakConfig(
        vouchers=args.vouchers,
        hotels=args.hotels,
        fault_rate=args.fault_rate,
        seed=args.seed,
        chunk_size=args.chunk_size,
        page_size=args.page_size,
        timeout=args.timeout,
        slow_delay=args.slow_delay,
        max_concurrency=args.concurrency,
    )
    report = anyio.run(lambda: run_soak(config, converge=not args.no_converge))
    for line in report.lines():
        print(line)
    return 1 if report.problems or report.duplicates or report.lost else 0


if __name__ == "__main__":
    sys.exit(main())
