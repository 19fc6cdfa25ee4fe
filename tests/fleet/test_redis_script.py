"""The shared window's Lua script, run directly on a real Redis server: each rule and edge."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.redis_server import require_redis_py, running_redis

require_redis_py()

import redis  # noqa: E402
from redis.commands.core import Script  # noqa: E402

from mews_vouchers._redis_script import (  # noqa: E402
    ACQUIRE,
    KEY_PREFIX,
    PAUSE,
    RELEASE,
    SCRIPT,
    slot_keys,
)

SECOND = 1_000_000  # the script counts microseconds
WINDOW = 5 * SECOND
LEASE = 60 * SECOND
TTL_MS = 61_000
_tokens = itertools.count()


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    for server in running_redis():
        yield server.url


@pytest.fixture
def r(server_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(server_url)
    yield client
    client.close()


class Window:
    """One token's window, driven through the script as the limiter drives it."""

    def __init__(self, client: redis.Redis, limit: int = 3) -> None:
        self.r = client
        self.limit = limit
        self.keys = slot_keys(f"token-{next(_tokens)}")
        self.script: Script = client.register_script(SCRIPT)

    def run(self, *args: Any) -> list[int]:
        reply = self.script(keys=list(self.keys), args=list(args))
        assert isinstance(reply, list)
        return [int(v) for v in reply]

    def acquire(self, slot: str, *, window: int = WINDOW, lease: int = LEASE) -> list[int]:
        return self.run(ACQUIRE, slot, self.limit, window, lease, TTL_MS)

    def release(self, slot: str, *, window: int = WINDOW) -> list[int]:
        return self.run(RELEASE, slot, window, TTL_MS)

    def pause(self, microseconds: int) -> list[int]:
        return self.run(PAUSE, microseconds)

    def now(self) -> int:
        seconds, micros = self.r.time()
        return int(seconds) * SECOND + int(micros)

    def score(self, slot: str) -> float | None:
        return self.r.zscore(self.keys[0], slot)

    def set_score(self, slot: str, score: int) -> None:
        self.r.zadd(self.keys[0], {slot: score})


def test_grants_up_to_the_limit_then_waits_at_most_one_window(r: redis.Redis) -> None:
    """Three slots of three are granted; the fourth waits, capped at a window (leases are long)."""
    w = Window(r, limit=3)
    assert [w.acquire(s) for s in "abc"] == [[1, 0]] * 3
    granted, wait = w.acquire("d")
    assert granted == 0
    assert 0.99 * WINDOW < wait <= WINDOW
    assert r.zcard(w.keys[0]) == 3


def test_in_flight_slot_is_scored_at_its_lease_and_answered_one_at_a_window(
    r: redis.Redis,
) -> None:
    """An acquired slot frees at now + lease; once released, at now + window (server time)."""
    w = Window(r)
    before = w.now()
    w.acquire("a")
    after = w.now()
    score = w.score("a")
    assert score is not None and before + LEASE <= score <= after + LEASE
    before = w.now()
    w.release("a")
    after = w.now()
    score = w.score("a")
    assert score is not None and before + WINDOW <= score <= after + WINDOW


def test_wait_is_the_earliest_expiry_when_sooner_than_a_window(r: redis.Redis) -> None:
    """A full window whose earliest slot frees in 0.3 s reports a wait of about 0.3 s."""
    w = Window(r, limit=2)
    w.acquire("a")
    w.acquire("b")
    w.set_score("a", w.now() + SECOND * 3 // 10)
    granted, wait = w.acquire("c")
    assert granted == 0
    assert 0.2 * SECOND < wait <= 0.3 * SECOND


def test_expired_slots_are_purged_and_free(r: redis.Redis) -> None:
    """Slots whose time has passed (an ended lease, a past window) count no more."""
    w = Window(r, limit=2)
    w.acquire("a")
    w.acquire("b")
    w.set_score("a", w.now() - 1)
    w.set_score("b", w.now())
    assert w.acquire("c") == [1, 0]
    assert r.zrange(w.keys[0], 0, -1) == [b"c"]


def test_a_retried_acquire_takes_no_second_slot(r: redis.Redis) -> None:
    """The same slot id acquired twice (a reply lost, redis-py retried) holds one slot."""
    w = Window(r, limit=1)
    assert w.acquire("a") == [1, 0]
    assert w.acquire("a") == [1, 0]
    assert w.acquire("b")[0] == 0
    assert r.zcard(w.keys[0]) == 1


def test_release_of_a_slot_whose_lease_ended_holds_it_again(r: redis.Redis) -> None:
    """A request answered after its lease ran out still holds a slot for a window."""
    w = Window(r, limit=1)
    w.acquire("a", lease=1)  # a lease of 1 µs: gone at once
    assert w.acquire("b") == [1, 0]  # the slot was free for another request
    w.release("a")
    score = w.score("a")
    assert score is not None and score > w.now() + WINDOW // 2
    assert r.zcard(w.keys[0]) == 2  # over the limit for a window: later acquires wait


def test_pause_holds_every_acquire_and_keeps_the_later_deadline(r: redis.Redis) -> None:
    """A pause refuses acquires until it ends; a shorter pause after it does not shorten it."""
    w = Window(r)
    assert w.pause(2 * SECOND)[0] == 1
    granted, wait = w.acquire("a")
    assert granted == 0 and 1.9 * SECOND < wait <= 2 * SECOND
    _, remaining = w.pause(SECOND // 2)
    assert remaining > 1.9 * SECOND
    _, wait = w.acquire("a")
    assert wait > 1.9 * SECOND
    _, remaining = w.pause(3 * SECOND)
    assert remaining > 2.9 * SECOND
    assert r.zcard(w.keys[0]) == 0


def test_pause_that_has_ended_is_not_honoured(r: redis.Redis) -> None:
    """Once its deadline passed, a pause key still present refuses nothing."""
    w = Window(r)
    r.set(w.keys[1], str(w.now() - 1))
    assert w.acquire("a") == [1, 0]


def test_numbers_are_written_whole_not_in_exponent_form(r: redis.Redis) -> None:
    """Microsecond times (16 digits) reach Redis as integers, exact to the microsecond.

    Lua's ``tostring`` would write them as ``1.733123456789e+15``; the script formats
    them itself rather than rely on each server's conversion: this pins the outcome.
    """
    w = Window(r)
    before = w.now()
    w.pause(1_234_567)
    after = w.now()
    raw = r.get(w.keys[1])
    assert raw is not None and raw.isdigit() and len(raw) >= 16  # not 1.7331234567891e+15
    assert before + 1_234_567 <= int(raw) <= after + 1_234_567


def test_keys_expire_once_nothing_in_them_matters(r: redis.Redis) -> None:
    """The slots key lives as long as its longest slot could; the pause key its pause plus 1 s."""
    w = Window(r)
    w.acquire("a")
    assert 0 < r.pttl(w.keys[0]) <= TTL_MS
    w.pause(2 * SECOND)
    assert 2_000 < r.pttl(w.keys[1]) <= 3_000


def test_unknown_operation_is_an_error(r: redis.Redis) -> None:
    """A call the script does not know is refused, not ignored."""
    w = Window(r)
    with pytest.raises(redis.ResponseError, match="unknown operation"):
        w.run("grant-everything")


def test_keys_are_a_hash_of_the_token_under_the_project_prefix() -> None:
    """Keys hold a 128-bit hash in a cluster hash tag, never the token; tokens differ."""
    token = "C66EF7B239D24632943D115EDE9CB810-EA00F8FD8294692C940F6B5A8F9453D"
    slots, pause = slot_keys(token)
    assert slots.startswith(f"{KEY_PREFIX}:{{") and slots.endswith("}:slots")
    assert pause == slots.removesuffix(":slots") + ":pause"
    digest = slots[len(KEY_PREFIX) + 2 : -len("}:slots")]
    assert len(digest) == 32 and int(digest, 16) >= 0
    assert token[:8] not in slots and token[-8:] not in slots
    assert slot_keys(token + "x") != (slots, pause)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    limit=st.integers(min_value=1, max_value=4),
    ops=st.lists(
        st.tuples(st.sampled_from(["acquire", "release"]), st.integers(min_value=0, max_value=6)),
        max_size=30,
    ),
)
def test_grants_match_a_model_of_held_slots(
    r: redis.Redis, limit: int, ops: list[tuple[str, int]]
) -> None:
    """Any sequence of acquires and releases: a slot is granted iff fewer than limit are held."""
    w = Window(r, limit=limit)
    held: set[int] = set()  # nothing expires within a test: a window and a lease are long
    for op, slot in ops:
        if op == "acquire":
            granted, _ = w.acquire(str(slot))
            expected = len(held) < limit or slot in held
            assert bool(granted) == expected
            if granted:
                held.add(slot)
        elif slot in held:
            w.release(str(slot))
        assert r.zcard(w.keys[0]) == len(held) <= limit
