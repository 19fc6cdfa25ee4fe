"""The fleet tests' fixtures: a real Redis server per module, emptied before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mews_vouchers.testing._redis_server import RedisServer
from tests.support.redis_server import running_redis


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server of this module's own (a skip without one, a failure in CI)."""
    yield from running_redis()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The module's server, emptied before each test (the simulator's tokens repeat)."""
    import redis  # the modules using it skip themselves without redis-py

    with redis.Redis.from_url(redis_server.url) as r:
        r.flushall()
    return redis_server.url
