"""The command line's argument types: each reads one argument or says what it expected.

They need neither rich nor a client, so the standalone simulator
(``python -m mews_vouchers.testing``) reads its arguments with them too.  They check
what a person typed (a number, an id, ``REQUESTS/SECONDS``), never what a request to
the API holds: the API's rules are the SDK's validation and, on its own, the simulator's.
"""

from __future__ import annotations

import argparse
import math
import uuid
from collections.abc import Callable
from typing import Literal, TypeVar

from .._config import RateLimit
from .._errors import MewsValidationError
from .._models import ActivityState, to_uuid

N = TypeVar("N", int, float)

NoLimit = Literal[False]
"""What ``--rate-limit none`` reads as: no client-side limit (None means "not given")."""

_REQUESTS_PER_SECONDS = "REQUESTS/SECONDS with both positive, like 200/30"


def _number(text: str, kind: Callable[[str], N], ok: Callable[[N], bool], expected: str) -> N:
    """Read *text* as *kind*; return it if *ok* holds, else raise the error naming *expected*."""
    try:
        value = kind(text)
    except ValueError:
        pass
    else:
        if ok(value):
            return value
    raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")


def identifier(text: str) -> uuid.UUID:
    """Read an id (a UUID)."""
    try:
        return to_uuid(text, "")
    except MewsValidationError:
        raise argparse.ArgumentTypeError(f"not a valid UUID: {text!r}") from None


def positive_int(text: str) -> int:
    """Read a whole number >= 1."""
    return _number(text, int, lambda v: v >= 1, "a whole number >= 1")


def non_negative_int(text: str) -> int:
    """Read a whole number >= 0."""
    return _number(text, int, lambda v: v >= 0, "a whole number >= 0")


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """Return the type that reads a whole number within *low*..*high*."""

    def parse(text: str) -> int:
        return _number(text, int, lambda v: low <= v <= high, f"a whole number {low}..{high}")

    return parse


def seconds(text: str) -> float:
    """Read a number of seconds > 0."""
    return _number(text, float, lambda v: v > 0, "a number of seconds > 0")


def non_negative_seconds(text: str) -> float:
    """Read a number of seconds >= 0."""
    return _number(text, float, lambda v: v >= 0, "a number of seconds >= 0")


def probability(text: str) -> float:
    """Read a probability, 0..1."""
    return _number(text, float, lambda v: 0.0 <= v <= 1.0, "a probability within 0..1")


def _requests_per_seconds(text: str) -> RateLimit | None:
    try:
        limit = RateLimit.parse(text)
    except ValueError:
        return None
    # An endless window would hold every request after the first few for ever.
    return limit if math.isfinite(limit.per_seconds) else None


def requests_per_seconds(text: str) -> RateLimit:
    """Read ``REQUESTS/SECONDS`` (like ``200/30``)."""
    limit = _requests_per_seconds(text)
    if limit is None:
        raise argparse.ArgumentTypeError(f"expected {_REQUESTS_PER_SECONDS}, got {text!r}")
    return limit


def rate_limit(text: str) -> RateLimit | NoLimit:
    """Read ``REQUESTS/SECONDS`` (like ``200/30``), or ``none`` for no client-side limit."""
    if text.strip().lower() in ("none", "off"):
        return False
    limit = _requests_per_seconds(text)
    if limit is None:
        raise argparse.ArgumentTypeError(f"expected {_REQUESTS_PER_SECONDS}, or none; got {text!r}")
    return limit


def activity_state(text: str) -> ActivityState:
    """Read an activity state, Active or Deleted, in any case."""
    for state in ActivityState:
        if text.strip().lower() == state.value.lower():
            return state
    raise argparse.ArgumentTypeError(f"expected Active or Deleted, got {text!r}")
