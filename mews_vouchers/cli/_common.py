"""``--redis-url``: the command line's rate limit shared with other processes through Redis."""

from __future__ import annotations

from typing import Final, Literal

from .._config import RateLimit
from .._errors import MewsConfigError
from .._ratelimit import LimitPolicy

ENV_REDIS_URL: Final = "MEWS_REDIS_URL"
HELP: Final = (
    f"${ENV_REDIS_URL}: share the rate limit with every process using the same token"
    " through this Redis, like redis://host:6379/0 (extra [redis])"
)


def shared_limit(
    url: str, limit: RateLimit | Literal[False] | None, timeout: float | None
) -> LimitPolicy:
    """Return the RedisRateLimit of *url*, with ``--rate-limit``'s numbers when given."""
    if limit is False:
        raise MewsConfigError("--rate-limit none cannot be combined with --redis-url")
    try:
        from ..redis import DEFAULT_LEASE, RedisRateLimit
    except ImportError:
        raise MewsConfigError(
            f"--redis-url (or {ENV_REDIS_URL}) needs redis-py: pip install 'mews-vouchers[redis]'"
        ) from None
    limit = limit or RateLimit()
    # The lease must outlast every request: a minute beyond a long --timeout.
    lease = max(DEFAULT_LEASE, (timeout or 0.0) + 60.0)
    return RedisRateLimit(url, requests=limit.requests, per_seconds=limit.per_seconds, lease=lease)
