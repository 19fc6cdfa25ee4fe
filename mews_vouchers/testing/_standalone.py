"""Running the simulator on its own, seeded with a few enterprises, until interrupted.

``python -m mews_vouchers.testing`` and ``mews-vouchers simulator`` both end up
in :func:`serve`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence
from typing import Protocol, TextIO

from .._config import RateLimit
from ..cli._args import non_negative_int, non_negative_seconds, probability, requests_per_seconds
from ._simulator import Hotel, MewsSimulator

DEFAULT_ENTERPRISES = 2


class _Event(Protocol):
    async def wait(self) -> object: ...


def describe(sim: MewsSimulator, seeded: Sequence[tuple[Hotel, str]]) -> str:
    """Return what a user needs to point a client at a running simulator.

    *seeded* holds each hotel with its own single-enterprise access token.
    """
    lines = [
        f"Mews voucher simulator at {sim.base_url}",
        f"ClientToken:  {sim.client_token}",
        f"AccessToken:  {sim.access_token}  (portfolio: every enterprise)",
    ]
    for number, (hotel, access_token) in enumerate(seeded, start=1):
        lines += [
            f"Enterprise {number}: {hotel.enterprise_id}",
            f"  AccessToken: {access_token}  (this enterprise only)",
            f"  ServiceId:   {hotel.service_id}",
            f"  RateIds:     {', '.join(map(str, hotel.rate_ids))}",
            f"  CompanyId:   {hotel.company_id}",
        ]
    return "\n".join(lines)


async def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    enterprises: int = DEFAULT_ENTERPRISES,
    rate_limit: RateLimit | None = None,
    latency: float = 0.0,
    fault_rate: float = 0.0,
    seed: int = 0,
    stop: _Event | None = None,
    out: TextIO | None = None,
) -> None:
    """Run a seeded simulator and print how to reach it, until *stop* is set or cancelled."""
    async with MewsSimulator(
        rate_limit=rate_limit,
        latency=latency,
        fault_rate=fault_rate,
        seed=seed,
        host=host,
        port=port,
    ) as sim:
        hotels = [sim.add_hotel(f"Hotel {n}") for n in range(1, enterprises + 1)]
        seeded = [(hotel, sim.add_access_token([hotel.enterprise_id])) for hotel in hotels]
        print(describe(sim, seeded), file=out or sys.stdout, flush=True)
        await (stop or asyncio.Event()).wait()


def build_parser() -> argparse.ArgumentParser:
    """Return the command line parser of the standalone simulator."""
    parser = argparse.ArgumentParser(
        prog="python -m mews_vouchers.testing",
        description="Serve an in-memory Mews voucher API until interrupted (Ctrl-C).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free)")
    parser.add_argument(
        "--enterprises",
        type=non_negative_int,
        default=DEFAULT_ENTERPRISES,
        help="enterprises to seed, each with a service, two rates and a company",
    )
    parser.add_argument(
        "--rate-limit",
        type=requests_per_seconds,
        default=None,
        metavar="REQUESTS/SECONDS",
        help="request limit per access token, like 200/30 (default: none)",
    )
    parser.add_argument(
        "--latency", type=non_negative_seconds, default=0.0, help="seconds before each answer"
    )
    parser.add_argument(
        "--fault-rate", type=probability, default=0.0, help="probability of a random fault"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of ids, tokens and faults")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the standalone simulator from the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    # Ctrl-C is the way to stop it; asyncio.run has closed the server by then.
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve(
                host=args.host,
                port=args.port,
                enterprises=args.enterprises,
                rate_limit=args.rate_limit,
                latency=args.latency,
                fault_rate=args.fault_rate,
                seed=args.seed,
            )
        )
    return 0
