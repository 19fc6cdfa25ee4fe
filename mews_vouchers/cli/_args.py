"""The command line's argument types: each reads one argument or says what it expected.

They need neither rich nor a client, so the standalone simulator
(``python -m mews_vouchers.testing``) reads its arguments with them too.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable
from typing import Literal

from .._config import RateLimit
from .._models import ActivityState

NoLimit = Literal[False]


def _uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a valid UUID: {text!r}") from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = _positive_int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {low}..{high}, got {text!r}")
        return value

    return parse


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a probability within 0..1, got {text!r}")
    return value


def rate_limit(text: str) -> RateLimit | NoLimit:
    """Parse ``REQUESTS/SECONDS`` (like ``200/30``), or ``none`` for no client-side limit."""
    if text.strip().lower() in ("none", "off"):
        return False
    try:
        return RateLimit.parse(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected REQUESTS/SECONDS with both positive, like 200/30, or none; got {text!r}"
        ) from None


def _activity_state(text: str) -> ActivityState:
    for state in ActivityState:
        if text.strip().lower() == state.value.lower():
            return state
    raise argparse.ArgumentTypeError(f"expected Active or Deleted, got {text!r}")


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value
