"""What every command shares: exit statuses, error lines, ``Ui`` and the client factory.

``--redis-url`` (or ``MEWS_REDIS_URL``) shares the rate limit with other processes
through Redis.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any, Final, Literal

import attrs
from rich.console import Console

from .. import __version__
from .._client import ENV_ACCESS_TOKEN, ENV_CLIENT, ENV_CLIENT_TOKEN, MewsClient
from .._config import RateLimit
from .._errors import MewsConfigError
from .._ratelimit import LimitPolicy
from ._progress import Bars

PROG: Final = "mews-vouchers"
DEFAULT_CLIENT: Final = "mews-vouchers-cli"
"""The ``Client`` name sent when neither ``--client`` nor ``MEWS_CLIENT`` gives one."""

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_UNSAVED: Final = 3
"""Writes were sent, but an output file could not be saved: do not simply rerun."""
EXIT_INTERRUPTED: Final = 130


def count(n: int, noun: str, plural: str | None = None) -> str:
    """Return *n* and *noun*, plural unless *n* is 1 (``1 voucher``, ``1,000 vouchers``)."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def error(message: str) -> None:
    """Print the one error line of a failed command on stderr."""
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)


@attrs.frozen(kw_only=True)
class Ui:
    """Where a command reports to: progress bars (if shown) and status lines on stderr."""

    err_console: Console | None

    def bars(self) -> Bars:
        """Return progress bars, shown only if they are on for this run."""
        return Bars(self.err_console)

    def status(self, message: str) -> None:
        """Print a status line on stderr (stdout is kept for data)."""
        print(message, file=sys.stderr, flush=True)


def version() -> str:
    """Return the version of the package."""
    return __version__


# --- configuration -------------------------------------------------------------------------

_REQUIRED: Final = (
    ("client_token", ENV_CLIENT_TOKEN, "--client-token"),
    ("access_token", ENV_ACCESS_TOKEN, "--access-token"),
)


def make_client(args: argparse.Namespace, **settings: Any) -> MewsClient:
    """Build the client from the flags, falling back on the environment; flags win."""
    env = os.environ
    overrides: dict[str, Any] = {
        name: getattr(args, name)
        for name in ("client_token", "access_token", "client", "base_url")
        if getattr(args, name, None) is not None
    }
    missing = [
        f"{var} (or {flag})"
        for name, var, flag in _REQUIRED
        if name not in overrides and not env.get(var, "").strip()
    ]
    if missing:
        raise MewsConfigError(f"missing configuration: set {' and '.join(missing)}")
    if "client" not in overrides and not env.get(ENV_CLIENT, "").strip():
        overrides["client"] = f"{DEFAULT_CLIENT} {version()}"
    for name in ("max_concurrency", "timeout"):
        if getattr(args, name, None) is not None:
            overrides[name] = getattr(args, name)
    limit = getattr(args, "rate_limit", None)
    if limit is not None:
        overrides["rate_limit"] = limit or None
    redis_url = getattr(args, "redis_url", None) or env.get(ENV_REDIS_URL, "").strip()
    if redis_url:
        overrides["rate_limit"] = shared_limit(redis_url, limit, overrides.get("timeout"))
    overrides.update({k: v for k, v in settings.items() if v is not None})
    client = MewsClient.from_env(**overrides)
    # The client's repr masks its tokens.
    logging.getLogger("mews_vouchers").debug("configured %r", client)
    return client


# --- --redis-url ---------------------------------------------------------------------------

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
