"""One worker of a fleet, in its own process: a MewsClient driven over stdin (test_fleet.py).

Its settings come as JSON in the environment variable ``FLEET_WORKER`` (tokens included:
never on a command line).  It prints ``{"ready": true}`` once its client is built, then
runs one command per line of stdin and prints one JSON line for each; it closes its
client and ends at the end of stdin.

    {"op": "add", "count": N, "prefix": "w1-"}
        -> {"added": N, "ended": <time.monotonic()>, "rate_limited": K, "requests": M}
        or {"error": "<type>: <message>"}

``time.monotonic()`` is one clock for every process of a Linux machine, the clock the
simulator stamps arrivals with.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from typing import Any

import anyio
import anyio.to_thread

from mews_vouchers import MewsClient, MewsError, RateLimit, RetryPolicy
from mews_vouchers import VoucherParameters as Params
from mews_vouchers import VoucherType as Type


def emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def build(config: dict[str, Any]) -> MewsClient:
    limit = RateLimit(config["requests"], config["per_seconds"])
    policy: Any = limit
    if config.get("redis_url"):
        from mews_vouchers.redis import RedisRateLimit

        policy = RedisRateLimit(
            config["redis_url"],
            requests=limit.requests,
            per_seconds=limit.per_seconds,
            lease=config.get("lease", 120.0),
        )
    return MewsClient(
        client_token=config["client_token"],
        access_token=config["access_token"],
        client="mews-vouchers fleet worker 1.0",
        base_url=config["base_url"],
        rate_limit=policy,
        retry=RetryPolicy(initial_backoff=0.01, max_backoff=0.1),
        timeout=config.get("timeout", 10.0),
        chunk_size=config.get("chunk_size", 1),
        max_concurrency=config.get("max_concurrency", 8),
    )


async def add(client: MewsClient, config: dict[str, Any], command: dict[str, Any]) -> None:
    service_id = uuid.UUID(config["service_id"])
    items = [
        Params(service_id=service_id, name=f"{command['prefix']}{n}", type=Type.PUBLIC)
        for n in range(command["count"])
    ]
    try:
        added = await client.vouchers.add(items, enterprise_id=config["enterprise_id"])
    except MewsError as exc:
        emit({"error": f"{type(exc).__name__}: {exc}"})
        return
    emit(
        {
            "added": len(added),
            "ended": time.monotonic(),
            "rate_limited": client.stats.rate_limited,
            "requests": client.stats.requests,
        }
    )


async def main() -> None:
    config = json.loads(os.environ["FLEET_WORKER"])
    async with build(config) as client:
        emit({"ready": True})
        while line := await anyio.to_thread.run_sync(sys.stdin.readline):
            command = json.loads(line)
            if command["op"] == "add":
                await add(client, config, command)
            else:
                emit({"error": f"unknown op {command['op']!r}"})


if __name__ == "__main__":
    anyio.run(main, backend="asyncio")
