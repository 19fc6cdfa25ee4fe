"""The command line's `--redis-url` (and MEWS_REDIS_URL), run as a subprocess."""

from __future__ import annotations

import os
import sys

import anyio
import pytest

from tests.support.redis_server import require_redis_py

require_redis_py()

import redis  # noqa: E402

from mews_vouchers._redis_script import slot_keys  # noqa: E402
from mews_vouchers.testing import Hotel, MewsSimulator  # noqa: E402
from mews_vouchers.testing._redis_server import RedisServer  # noqa: E402

pytestmark = pytest.mark.anyio


def environment(sim: MewsSimulator, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEWS_")}
    env.update(
        MEWS_BASE_URL=sim.base_url,
        MEWS_CLIENT_TOKEN=sim.client_token,
        MEWS_ACCESS_TOKEN=sim.access_token,
        **extra,
    )
    return env


async def cli(sim: MewsSimulator, *args: str, prelude: str = "", **env: str) -> tuple[int, str]:
    """Run the command line; return its exit status and stderr."""
    code = (
        f"{prelude}\nimport sys\nfrom mews_vouchers.cli import main\nsys.exit(main(sys.argv[1:]))"
    )
    done = await anyio.run_process(
        [sys.executable, "-c", code, *args], env=environment(sim, **env), check=False
    )
    return done.returncode, done.stderr.decode()


def window_used(server: RedisServer, token: str) -> bool:
    with redis.Redis.from_url(server.url) as r:
        return bool(r.exists(slot_keys(token)[0]))


@pytest.mark.parametrize("how", ["flag", "environment"])
async def test_list_takes_its_slots_from_redis(
    redis_server: RedisServer, sim: MewsSimulator, hotel: Hotel, how: str
) -> None:
    """`--redis-url URL` or MEWS_REDIS_URL: the command's requests hold slots in that Redis."""
    with redis.Redis.from_url(redis_server.url) as r:
        r.flushall()
    args = ["list", "--service-id", str(hotel.service_id), "--format", "jsonl"]
    if how == "flag":
        code, err = await cli(sim, *args, "--redis-url", redis_server.url)
    else:
        code, err = await cli(sim, *args, MEWS_REDIS_URL=redis_server.url)
    assert code == 0, err
    assert window_used(redis_server, sim.access_token)
    assert len(sim.requests) == 1


async def test_unreachable_redis_is_one_error_line_and_nothing_is_sent(
    sim: MewsSimulator, hotel: Hotel
) -> None:
    """A Redis that cannot be reached: exit 1, one line naming Redis, no request to the API."""
    code, err = await cli(
        sim,
        "list",
        "--service-id",
        str(hotel.service_id),
        "--redis-url",
        "unix:///nonexistent/mews.sock",
    )
    assert code == 1
    (line,) = err.strip().splitlines()
    assert line.startswith("mews-vouchers: error: the shared rate limit failed: Redis at")
    assert sim.requests == []


async def test_redis_url_with_no_rate_limit_is_a_usage_error(sim: MewsSimulator) -> None:
    """`--rate-limit none --redis-url URL` contradict each other: exit 2, nothing sent."""
    seed = sim.add_hotel()
    code, err = await cli(
        sim,
        "list",
        "--service-id",
        str(seed.service_id),
        "--rate-limit",
        "none",
        "--redis-url",
        "redis://127.0.0.1:6379/0",
    )
    assert code == 2
    assert "cannot be combined with --redis-url" in err
    assert sim.requests == []


async def test_redis_url_without_the_extra_says_how_to_install_it(
    sim: MewsSimulator, hotel: Hotel
) -> None:
    """Without redis-py, `--redis-url` is a configuration error naming the extra, exit 2."""
    code, err = await cli(
        sim,
        "list",
        "--service-id",
        str(hotel.service_id),
        prelude="import sys; sys.modules['redis'] = None  # as if not installed",
        MEWS_REDIS_URL="redis://127.0.0.1:6379/0",
    )
    assert code == 2
    assert "pip install 'mews-vouchers[redis]'" in err
    assert sim.requests == []
