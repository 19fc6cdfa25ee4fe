"""One rate-limit window shared by a fleet of processes, kept in Redis (extra ``[redis]``).

The API's limit is per access token: every worker (process, pod, machine) that uses one
token shares one window.  ``MewsClient(rate_limit=RedisRateLimit(url))`` makes the
client take its request slots from Redis instead of from an in-process limiter::

    from mews_vouchers.redis import RedisRateLimit

    async with MewsClient(..., rate_limit=RedisRateLimit("redis://127.0.0.1:6379/0")) as client:
        ...

The guarantee is the in-process limiter's (:class:`mews_vouchers.RateLimit`): a request
holds its slot while it is in flight and for one window after its answer, so at most
``requests`` requests arrive at the API in any ``per_seconds``, whatever the number of
workers, their clocks or the latency.  The window is kept on the Redis server's clock by
one Lua script (:mod:`mews_vouchers._redis_script`), one round trip per slot.
"""

from __future__ import annotations

import logging
import math
import secrets
import urllib.parse
from typing import Any, Final

import anyio
import attrs

try:
    import redis.asyncio as aioredis
    from redis.asyncio.connection import parse_url
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import RedisError
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "mews_vouchers.redis needs redis-py: pip install 'mews-vouchers[redis]'", name=exc.name
    ) from exc

from ._config import RateLimit
from ._constants import DEFAULT_LEASE as DEFAULT_LEASE  # the CLI reads it here
from ._constants import DEFAULT_REDIS_TIMEOUT, RATE_LIMIT_PER_SECONDS, RATE_LIMIT_REQUESTS
from ._errors import MewsConfigError, MewsConnectionError
from ._loops import LoopBinding
from ._ratelimit import Limiter, window_margin
from ._redis_script import ACQUIRE, PAUSE, RELEASE, SCRIPT, microseconds, slot_keys
from ._timing import Clock, Sleep, Timer

__all__ = ["RedisRateLimit"]

logger = logging.getLogger("mews_vouchers")

_SCHEMES: Final = ("redis", "rediss", "unix")
# A blip (a failover, a restarted server) is ridden over; a Redis that stays away fails
# the request within about a second plus the timeouts.  Every script call is safe to
# repeat: an acquire carries its slot id, a release rescores, a pause keeps the later end.
_RETRIES: Final = 2
_BACKOFF: Final = ExponentialBackoff(cap=0.5, base=0.05)
# A wait the script reports is exact; this floor only keeps a zero from spinning.
_MIN_WAIT: Final = 0.001


def safe_url(url: str) -> str:
    """Return *url* with its credentials hidden (user and password, ``password=`` queries)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "(unparsable URL)"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    hidden = [(k, "***" if k.lower() in ("password", "username") else v) for k, v in query]
    shown = urllib.parse.urlencode(hidden, safe="*/")
    # Built by hand: urlunsplit() would shorten unix:///path to unix:/path.
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{shown}" if shown else "")


def _check_url(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise MewsConfigError(f"the Redis URL must be a non-empty string, got {value!r}")
    scheme = value.partition("://")[0].lower()
    if scheme not in _SCHEMES:
        raise MewsConfigError(
            f"the Redis URL must start with redis://, rediss:// or unix://, got {safe_url(value)!r}"
        )
    try:
        parse_url(value)
    except ValueError as exc:
        raise MewsConfigError(f"invalid Redis URL {safe_url(value)!r}: {exc}") from None


def _number(minimum: float, *, integer: bool = False) -> Any:
    def check(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        kinds = (int,) if integer else (int, float)
        if (
            isinstance(value, bool)
            or not isinstance(value, kinds)
            or not math.isfinite(value)
            or not value > minimum
        ):
            what = "an integer" if integer else "a finite number"
            raise MewsConfigError(f"{attribute.name} must be {what} > {minimum:g}, got {value!r}")

    return check


@attrs.frozen
class RedisRateLimit:
    """A rate limit shared through Redis by every client that uses the same access token.

    :param url: the Redis server, ``redis://[[user]:password@]host[:port][/db]``,
        ``rediss://`` for TLS, or ``unix:///path/to/redis.sock``.
    :param requests: at most this many requests arrive at the API ...
    :param per_seconds: ... in any window of this many seconds (the API's: 200 per 30).
    :param lease: seconds after which the slots of a request still in flight are freed, so
        that a worker that died holding slots does not hold them for ever.  Keep it above
        the client's ``timeout`` (60 s by default): a lease that ends before the answer
        lets another request take the slot while this one may still arrive.
    :param redis_timeout: seconds one round trip to Redis may take before it counts as
        failed.

    Every process with the same Redis and the same token shares one window; the keys
    are derived from a hash of the token (``mews-vouchers:ratelimit:{<hash>}:*``),
    never the token itself.  A 429 met by any of them pauses all until its
    ``Retry-After``.  When Redis cannot be reached, a request fails with a
    :class:`~mews_vouchers.MewsConnectionError` naming Redis before anything is sent
    to the API; a slot that cannot be given back is freed by its lease.
    """

    url: str = attrs.field(validator=_check_url, repr=lambda url: repr(safe_url(url)))
    requests: int = attrs.field(
        default=RATE_LIMIT_REQUESTS, kw_only=True, validator=_number(0, integer=True)
    )
    per_seconds: float = attrs.field(
        default=RATE_LIMIT_PER_SECONDS, kw_only=True, validator=_number(0)
    )
    lease: float = attrs.field(default=DEFAULT_LEASE, kw_only=True, validator=_number(0))
    redis_timeout: float = attrs.field(
        default=DEFAULT_REDIS_TIMEOUT, kw_only=True, validator=_number(0)
    )

    def limiter(self, *, access_token: str, clock: Clock, sleep: Sleep) -> Limiter:
        """Return a limiter taking *access_token*'s slots from Redis (connected on first use)."""
        return RedisLimiter(self, keys=slot_keys(access_token), clock=clock, sleep=sleep)


@attrs.define
class _Binding:
    """The Redis client of one event loop (redis-py's connections belong to the loop)."""

    client: aioredis.Redis
    script: Any  # redis.commands.core.AsyncScript: EVALSHA, and SCRIPT LOAD when missing
    lock: anyio.Lock


class RedisLimiter:
    """Grants one access token's request slots from a window kept in Redis.

    Built by :meth:`RedisRateLimit.limiter`; see there for what it guarantees.  Within
    this process one task at a time asks Redis for a slot (in arrival order, like the
    in-process limiter); the others queue behind it here rather than in Redis.
    """

    def __init__(
        self, policy: RedisRateLimit, *, keys: tuple[str, str], clock: Clock, sleep: Sleep
    ) -> None:
        self._policy = policy
        self._where = f"Redis at {safe_url(policy.url)}"
        self._keys = keys
        self._timer = Timer(clock, sleep)
        window = policy.per_seconds + window_margin(RateLimit(policy.requests, policy.per_seconds))
        self._window_us = microseconds(window)
        self._lease_us = microseconds(policy.lease)
        # The slots key expires once its last slot could have: an idle token leaves nothing.
        self._ttl_ms = math.ceil(max(policy.lease, window) * 1000) + 1000
        self._binding: _Binding | None = None
        self._loop = LoopBinding()
        self._paused_until = 0.0  # this process's copy of the pause, on *clock*
        self._held = 0  # slots acquired here and not yet released
        self._idle: anyio.Event | None = None  # set when _held drops to 0, for aclose()
        self._closed = False

    def __repr__(self) -> str:
        limit = f"{self._policy.requests}/{self._policy.per_seconds:g} s"
        return f"<RedisLimiter {self._where}, {limit}>"

    def _bind(self) -> _Binding:
        """Return this loop's Redis client, created on first use inside the running loop."""
        binding = self._binding
        if self._loop.moved() or binding is None:
            # A client used again from a new event loop (a second asyncio.run) connects
            # anew: the old loop's connections cannot be used, nor closed, from this one.
            client = aioredis.Redis.from_url(
                self._policy.url,
                socket_timeout=self._policy.redis_timeout,
                socket_connect_timeout=self._policy.redis_timeout,
                retry=Retry(_BACKOFF, _RETRIES),
            )
            binding = _Binding(client, client.register_script(SCRIPT), anyio.Lock())
            self._binding = binding
        return binding

    async def _run(self, binding: _Binding, *args: str | int, then: str = "") -> tuple[int, int]:
        """Run the script once; raise MewsConnectionError naming Redis (and *then*) on failure."""
        try:
            reply = await binding.script(keys=self._keys, args=args)
        except (RedisError, OSError) as exc:
            raise MewsConnectionError(
                f"the shared rate limit failed: {self._where}: {type(exc).__name__}: {exc}{then}",
                ambiguous=False,
            ) from exc
        if not (isinstance(reply, list) and len(reply) == 2 and all(type(v) is int for v in reply)):
            raise MewsConnectionError(
                f"the shared rate limit failed: {self._where} answered {reply!r}{then}",
                ambiguous=False,
            )
        return reply[0], reply[1]

    async def acquire(self) -> str:
        """Wait until the shared window has a slot (and no 429 pause); return the slot's id.

        Raises :class:`~mews_vouchers.MewsConnectionError` naming Redis when Redis cannot
        be reached: then no request may be sent.
        """
        if self._closed:
            raise MewsConnectionError("the client is closed", ambiguous=False)
        binding = self._bind()
        slot = secrets.token_hex(8)
        async with binding.lock:
            while True:
                await self._timer.sleep_until(self._paused_until)
                try:
                    granted, wait_us = await self._run(
                        binding,
                        ACQUIRE,
                        slot,
                        self._policy.requests,
                        self._window_us,
                        self._lease_us,
                        self._ttl_ms,
                        then=" (no request was sent to the API)",
                    )
                except anyio.get_cancelled_exc_class():
                    # Redis may have granted the slot before the cancellation: give it back.
                    with anyio.CancelScope(shield=True), anyio.move_on_after(1.0):
                        await self._forget(binding, slot)
                    raise
                if granted:
                    self._held += 1
                    return slot
                await self._timer.sleep_for(max(wait_us / 1_000_000, _MIN_WAIT))

    async def _forget(self, binding: _Binding, slot: str) -> None:
        try:
            await binding.client.zrem(self._keys[0], slot)
        except (RedisError, OSError) as exc:
            logger.debug("could not give back an unused slot to %s: %s", self._where, exc)

    async def release(self, slot: object) -> None:
        """Hold *slot* for one window from now (its request was answered or abandoned).

        A failure does not fail the request, whose answer is in: it is logged, and the
        slot frees when its lease ends.
        """
        try:
            binding = self._binding
            if self._closed or binding is None or not self._loop.is_current():
                logger.debug(
                    "slot given back after close: %s frees it after its lease", self._where
                )
                return
            try:
                await self._run(binding, RELEASE, str(slot), self._window_us, self._ttl_ms)
            except MewsConnectionError as exc:
                logger.warning(
                    "could not give a rate-limit slot back: %s; it frees after its lease (%g s)",
                    exc,
                    self._policy.lease,
                )
        finally:
            self._held -= 1
            if self._held == 0 and self._idle is not None:
                self._idle.set()

    async def pause(self, seconds: float) -> None:
        """Hold every request of every worker sharing the window for *seconds* (after a 429).

        The later of two pauses wins.  This process honours the pause even when Redis
        cannot be told, which is logged.
        """
        if seconds <= 0:
            return
        self._paused_until = max(self._paused_until, self._timer.clock() + seconds)
        if self._closed:
            return
        binding = self._bind()
        try:
            await self._run(binding, PAUSE, microseconds(seconds))
        except MewsConnectionError as exc:
            logger.warning(
                "could not share a 429 pause of %g s: %s; only this process pauses", seconds, exc
            )

    async def aclose(self) -> None:
        """Close the connections, once the slots of requests being cancelled are given back."""
        if self._closed:
            return
        if self._held > 0:
            # Requests that aclose() of the client just cancelled give their slots back
            # on their way out; let them, rather than leave those slots to the lease.
            self._idle = anyio.Event()
            with anyio.move_on_after(self._policy.redis_timeout):
                await self._idle.wait()
        self._closed = True
        binding, self._binding = self._binding, None
        if binding is not None and self._loop.is_current():
            await binding.client.aclose()
