"""Figure 6: a fleet of K worker processes sharing one access token, Redis against in-process.

K processes (``_fleet_worker.py``) add vouchers with one token against one simulator that
enforces R requests per W seconds, all started together.  Run twice, each time against a
fresh simulator: once with ``RedisRateLimit`` (one window shared through a real
redis-server, started here on a unix socket), once with an in-process ``RateLimit(R, W)``
in each worker, as a fleet has without it.

Accepted requests per window against the ceiling.  As in figure 1: N accepted requests
cannot take less than ``least = floor((N - 1) / R) * W + s`` from the first arrival to
the end, ``s`` the last request's own service time, so the ceiling is ``N * W / least``
accepted requests per window (R, less what the last window's service costs), and the
fleet achieves ``N * W / measured``, measured from the first arrival at the simulator to
the last worker's return.  The ratio is ``least / measured``.  Also reported: the share
of the simulator's answers that were 429.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import attrs

from mews_vouchers import RateLimit
from mews_vouchers.testing._redis_server import RedisServer, find_redis_server

from ._common import ROOT, Row, Served, ServerProcess, Target, child_env, ratio


@attrs.frozen(kw_only=True)
class FleetSize:
    """How big figure 6 runs."""

    workers: int
    requests_each: int
    chunk_size: int
    limit: RateLimit
    latency: float


FULL = FleetSize(workers=4, requests_each=25, chunk_size=10, limit=RateLimit(20, 2.0), latency=0.05)
QUICK = FleetSize(workers=4, requests_each=4, chunk_size=5, limit=RateLimit(4, 0.25), latency=0.01)


@attrs.frozen(kw_only=True)
class FleetRun:
    """What one fleet did, read from the simulator's log and the workers' reports."""

    accepted: int
    refused: int
    busiest: int
    measured: float
    least: float
    errors: tuple[str, ...]


def _run_fleet(size: FleetSize, redis_url: str | None) -> FleetRun:
    """Run K workers against a fresh rate-limited simulator; return what the log shows."""
    limit = (size.limit.requests, size.limit.per_seconds)
    server = ServerProcess(enterprises=1, vouchers=0, latency=size.latency, rate_limit=limit)
    with server as served:
        reports = _drive(size, served, redis_url)
    log = server.log
    accepted = sorted(r.at for r in log if r.status == 200)
    arrivals = sorted(r.at for r in log)
    ended = max(report["ended"] for report in reports)
    service = ended - accepted[-1]
    least = (len(accepted) - 1) // size.limit.requests * size.limit.per_seconds + service
    return FleetRun(
        accepted=len(accepted),
        refused=sum(1 for r in log if r.status == 429),
        busiest=most_in_any_window(arrivals, size.limit.per_seconds),
        measured=ended - arrivals[0],
        least=least,
        errors=tuple(str(r["error"]) for r in reports if "error" in r),
    )


def most_in_any_window(arrivals: list[float], seconds: float) -> int:
    """Return the most of the sorted *arrivals* that fall within any *seconds*."""
    most, start = 0, 0
    for end, at in enumerate(arrivals):
        while at - arrivals[start] >= seconds:
            start += 1
        most = max(most, end - start + 1)
    return most


def _drive(size: FleetSize, served: Served, redis_url: str | None) -> list[dict[str, object]]:
    """Start the workers, let them go together once all are ready, collect their reports."""
    hotel = served.hotels[0]
    processes = []
    for number in range(size.workers):
        config = {
            "base_url": served.base_url,
            "client_token": served.client_token,
            "access_token": served.access_token,
            "redis_url": redis_url,
            "requests": size.limit.requests,
            "per_seconds": size.limit.per_seconds,
            "service_id": str(hotel.service_id),
            "enterprise_id": str(hotel.enterprise_id),
            "items": size.requests_each * size.chunk_size,
            "chunk_size": size.chunk_size,
            "prefix": f"w{number}-",
        }
        env = {**child_env(), "FLEET_WORKER": json.dumps(config)}
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "benchmarks._fleet_worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                cwd=ROOT,
                env=env,
                text=True,
            )
        )
    try:
        for process in processes:
            assert process.stdout is not None
            if process.stdout.readline().strip() != "ready":
                raise RuntimeError("a fleet worker did not start")
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        reports = []
        for process in processes:
            assert process.stdout is not None
            reports.append(json.loads(process.stdout.readline()))
        return reports
    finally:
        for process in processes:
            try:
                process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()


def _rows(letters: str, name: str, size: FleetSize, run: FleetRun, target: bool) -> list[Row]:
    window = size.limit.per_seconds
    achieved = run.accepted * window / run.measured
    ceiling = run.accepted * window / run.least
    total = run.accepted + run.refused
    errors = f"; {len(run.errors)} workers failed: {run.errors[0]}" if run.errors else ""
    return [
        Row(
            figure=f"6{letters[0]} fleet of {size.workers}, {name}: accepted/window vs ceiling",
            measured=achieved,
            baseline=ceiling,
            unit="req/W",
            result=ratio(achieved, ceiling),
            target=Target(op=">=", value=0.9) if target else None,
            note=(
                f"{run.accepted} accepted in {run.measured:.2f} s, least {run.least:.2f} s;"
                f" limit {size.limit.requests}/{window:g} s, latency {size.latency:g} s{errors}"
            ),
        ),
        Row(
            figure=f"6{letters[1]} fleet of {size.workers}, {name}: 429 share",
            measured=run.refused,
            baseline=total,
            unit="req",
            result=100.0 * ratio(run.refused, total),
            result_unit="%",
            target=Target(op="<=", value=1.0) if target else None,
            note=f"most requests arriving in any {window:g} s: {run.busiest}",
        ),
    ]


def run(quick: bool) -> list[Row]:
    """Measure figure 6 (both fleets, one after the other) and return its rows."""
    size = QUICK if quick else FULL
    if find_redis_server() is None or importlib.util.find_spec("redis") is None:
        print("fleet: skipped, needs redis-server and the [redis] extra", file=sys.stderr)
        return []
    with RedisServer() as redis:
        shared = _run_fleet(size, redis.url)
    alone = _run_fleet(size, None)  # a fresh simulator: nothing left in its window
    return [
        *_rows("ab", "one Redis window", size, shared, target=True),
        *_rows("cd", "in-process limiters", size, alone, target=False),
    ]
