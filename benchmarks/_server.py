"""A seeded simulator served on its own, for the figures that measure the client's CPU or memory.

``python -m benchmarks._server --enterprises 20 --vouchers 5000 --latency 0.1`` seeds the
enterprises (each with one service; ``--vouchers 100000,0`` gives the first 100,000
vouchers and the others none), prints one JSON line
(the base URL, the tokens and the seeded ids), and serves until its standard input
closes: :class:`benchmarks._common.ServerProcess` holds that pipe, so the server ends
with the benchmark, however the benchmark ends.  On its way out it prints its request log,
one JSON line per request (arrival time, status, operation).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from mews_vouchers import RateLimit
from mews_vouchers.testing import MewsSimulator


def seed(sim: MewsSimulator, service_id: str, count: int, prefix: str, per_second: int) -> None:
    """Seed *count* vouchers, *per_second* of them sharing each creation second.

    Real vouchers are not all created in the same second; a client that caches parsed
    datetimes must not be flattered by data where they are.  Ten per second is a busy
    shop; a bulk add of 1000 gives 1000 per second.
    """
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for batch, first in enumerate(range(0, count, per_second)):
        sim.seed_vouchers(
            service_id,
            min(per_second, count - first),
            name_prefix=f"{prefix}{batch}-",
            external_identifier_prefix=f"{prefix}{batch}-",
            updated_utc=start + timedelta(seconds=batch),
        )


async def serve(
    counts: Sequence[int], latency: float, rate_limit: RateLimit | None, per_second: int
) -> None:
    """Seed one enterprise per entry of *counts*, print how to reach them, serve until EOF."""
    async with MewsSimulator(latency=latency, rate_limit=rate_limit, seed=1) as sim:
        hotels = []
        for number, vouchers in enumerate(counts):
            hotel = sim.add_hotel(f"Hotel {number}")
            seed(sim, str(hotel.service_id), vouchers, f"H{number}-", per_second)
            hotels.append(
                {
                    "enterprise_id": str(hotel.enterprise_id),
                    "service_id": str(hotel.service_id),
                    "vouchers": vouchers,
                }
            )
        # Millions of seeded objects: collect once, then keep the collector off them.
        gc.collect()
        gc.freeze()
        info = {
            "base_url": sim.base_url,
            "client_token": sim.client_token,
            "access_token": sim.access_token,
            "hotels": hotels,
        }
        sys.stdout.write(json.dumps(info) + "\n")
        sys.stdout.flush()
        await asyncio.to_thread(sys.stdin.buffer.read)
        # The request log, for figures that need the arrival times.  ``at`` is read on
        # time.monotonic(), which on Linux is one clock for every process of the machine.
        for request in sim.requests:
            record = {"at": request.at, "status": request.status, "operation": request.operation}
            sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._server")
    parser.add_argument("--enterprises", type=int, default=1)
    parser.add_argument(
        "--vouchers",
        default="0",
        help="vouchers per enterprise, comma-separated; the last count repeats",
    )
    parser.add_argument(
        "--per-second", type=int, default=10, help="seeded vouchers sharing a creation second"
    )
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--rate-limit", default=None, metavar="REQUESTS/SECONDS")
    args = parser.parse_args(argv)
    limit = None
    if args.rate_limit:
        requests, _, seconds = args.rate_limit.partition("/")
        limit = RateLimit(int(requests), float(seconds))
    given = [int(count) for count in args.vouchers.split(",")]
    counts = [given[min(n, len(given) - 1)] for n in range(args.enterprises)]
    asyncio.run(serve(counts, args.latency, limit, args.per_second))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
