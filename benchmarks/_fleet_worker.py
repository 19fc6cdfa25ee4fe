"""One worker of figure 6's fleet, in its own process: build a client, wait for "go", add.

``python -m benchmarks._fleet_worker`` reads its settings as JSON from the environment
variable ``FLEET_WORKER`` (tokens included: never on a command line), prints one line
once its client is built, waits for a line on stdin, adds its vouchers, and prints one
JSON line: how many were added, when the call returned (``time.monotonic()``, one clock
for every process of a Linux machine) and the 429s it met.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import uuid
from typing import Any

import anyio
import anyio.to_thread

from mews_vouchers import MewsClient, MewsError, RateLimit, VoucherParameters, VoucherType
from mews_vouchers._ratelimit import LimitPolicy

from ._common import CLIENT_NAME

# The in-process fleet meets 429s on purpose; the figure counts them from the simulator's log,
# so the client's WARNING line for each 429 pause would only clutter the table's output.
logging.getLogger("mews_vouchers").setLevel(logging.ERROR)


def policy(config: dict[str, Any]) -> LimitPolicy:
    """Return the worker's limit: shared through Redis, or its own in-process window."""
    limit = RateLimit(config["requests"], config["per_seconds"])
    if not config.get("redis_url"):
        return limit
    from mews_vouchers.redis import RedisRateLimit

    return RedisRateLimit(
        config["redis_url"], requests=limit.requests, per_seconds=limit.per_seconds
    )


async def main() -> None:
    config = json.loads(os.environ["FLEET_WORKER"])
    service_id = uuid.UUID(config["service_id"])
    items = [
        VoucherParameters(
            service_id=service_id, name=f"{config['prefix']}{n}", type=VoucherType.PUBLIC
        )
        for n in range(config["items"])
    ]
    client = MewsClient(
        client_token=config["client_token"],
        access_token=config["access_token"],
        client=CLIENT_NAME,
        base_url=config["base_url"],
        rate_limit=policy(config),
        chunk_size=config["chunk_size"],
    )
    async with client:
        print("ready", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.readline)
        result: dict[str, Any] = {}
        try:
            added = await client.vouchers.add(items, enterprise_id=config["enterprise_id"])
            result["added"] = len(added)
        except MewsError as exc:
            result["error"] = f"{type(exc).__name__}: {exc}"
        result.update(ended=time.monotonic(), rate_limited=client.stats.rate_limited)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    anyio.run(main, backend="asyncio")
