"""The argument types shared by the command line and the standalone simulator."""

from __future__ import annotations

import argparse
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from mews_vouchers import ActivityState, RateLimit
from mews_vouchers.cli._args import (
    activity_state,
    bounded_int,
    identifier,
    non_negative_int,
    non_negative_seconds,
    positive_int,
    probability,
    rate_limit,
    requests_per_seconds,
    seconds,
)

ID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


@pytest.mark.parametrize(
    ("parse", "text", "expected"),
    [
        (identifier, ID, uuid.UUID(ID)),
        (identifier, ID.upper(), uuid.UUID(ID)),
        (positive_int, "1", 1),
        (non_negative_int, "0", 0),
        (bounded_int(1, 1000), "1000", 1000),
        (seconds, "0.5", 0.5),
        (non_negative_seconds, "0", 0.0),
        (probability, "1", 1.0),
        (requests_per_seconds, " 200/30 ", RateLimit(200, 30.0)),
        (rate_limit, "40/3", RateLimit(40, 3.0)),
        (rate_limit, " None ", False),
        (rate_limit, "off", False),
        (activity_state, "deleted", ActivityState.DELETED),
    ],
)
def test_each_type_reads_what_it_names(
    parse: Callable[[str], Any], text: str, expected: object
) -> None:
    """A well-formed argument is read into its value."""
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (identifier, "nope", "not a valid UUID: 'nope'"),
        (identifier, "\u0660" * 32, "not a valid UUID"),  # Arabic-Indic zeros: not an id
        (positive_int, "0", "expected a whole number >= 1, got '0'"),
        (positive_int, "1.5", "expected a whole number >= 1"),
        (non_negative_int, "-1", "expected a whole number >= 0"),
        (bounded_int(1, 1000), "1001", "expected a whole number 1..1000, got '1001'"),
        (seconds, "0", "expected a number of seconds > 0"),
        (seconds, "nan", "expected a number of seconds > 0"),
        (non_negative_seconds, "-0.1", "expected a number of seconds >= 0"),
        (probability, "1.5", "expected a probability within 0..1"),
        (requests_per_seconds, "200", "expected REQUESTS/SECONDS with both positive"),
        (requests_per_seconds, "0/30", "expected REQUESTS/SECONDS"),
        (requests_per_seconds, "200/inf", "expected REQUESTS/SECONDS"),
        (requests_per_seconds, "none", "expected REQUESTS/SECONDS"),
        (rate_limit, "200/0", "like 200/30, or none; got '200/0'"),
        (activity_state, "gone", "expected Active or Deleted, got 'gone'"),
    ],
)
def test_each_type_refuses_with_what_it_expected(
    parse: Callable[[str], Any], text: str, message: str
) -> None:
    """A malformed argument is an argparse error saying what was expected."""
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape(message)):
        parse(text)
