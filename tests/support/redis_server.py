"""What the fleet tests share: a real Redis server, or a skip (a failure in CI) without one."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Awaitable, Callable, Iterator

import anyio
import pytest

from mews_vouchers.testing._redis_server import RedisServer, find_redis_server

IN_CI = os.environ.get("CI", "").lower() == "true"


def require_redis_py() -> None:
    """Skip the calling module without redis-py (fail it in CI, which installs the extra)."""
    if importlib.util.find_spec("redis") is not None:
        return
    why = "redis-py is not installed: pip install -e '.[redis]'"
    if IN_CI:
        pytest.fail(f"{why} (CI installs the [redis] extra)", pytrace=False)
    pytest.skip(why, allow_module_level=True)


def running_redis() -> Iterator[RedisServer]:
    """Run a throwaway redis-server for a fixture; without the binary skip (in CI: fail)."""
    if find_redis_server() is None:
        why = "redis-server is not installed (apt-get install redis-server)"
        if IN_CI:
            pytest.fail(f"{why}; .ci/run installs it when missing", pytrace=False)
        pytest.skip(f"{why}: the fleet tests need a real Redis")
    with RedisServer() as server:
        yield server


async def until(check: Callable[[], Awaitable[object]]) -> None:
    """Poll *check* until it returns something true: state in Redis or another process."""
    with anyio.fail_after(10):
        while not await check():  # noqa: ASYNC110 (polling: another process signals no event)
            await anyio.sleep(0.002)
