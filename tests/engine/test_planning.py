"""Chunk plans, filter slices and 3-month windows (pure logic, with hypothesis)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mews_vouchers import (
    ConflictError,
    PayloadTooLargeError,
    RateLimit,
    RequestTimeoutError,
    ServerError,
    TimeInterval,
)
from mews_vouchers._batching import ChunkError, plan_chunks, splits
from mews_vouchers._constants import MAX_ITEMS_PER_REQUEST, MAX_UPDATED_INTERVAL_MONTHS
from mews_vouchers._pagination import plan, split_interval, split_values
from mews_vouchers._time import add_months, updated_interval_limit


@given(st.integers(0, 20_000), st.integers(1, MAX_ITEMS_PER_REQUEST))
def test_chunks_cover_input_in_order(total: int, size: int) -> None:
    """Chunks are consecutive, at most `size` long, and cover every index once."""
    spans = plan_chunks(total, size)
    assert [i for span in spans for i in span] == list(range(total))
    assert all(1 <= len(span) <= size for span in spans)
    assert len(spans) == -(-total // size)


@pytest.mark.parametrize(
    ("error", "size", "split_timeouts", "partial", "expected"),
    [
        (PayloadTooLargeError("x", status=413), 2, False, None, True),  # any write
        (PayloadTooLargeError("x", status=413), 1, True, None, False),  # nothing left to split
        (PayloadTooLargeError("x", status=413), 4, True, ["v", None, None, None], False),  # partial
        (RequestTimeoutError("x", status=408), 1000, True, None, True),  # update, delete
        (RequestTimeoutError("x", status=408), 1000, False, None, False),  # add: in doubt
        (ServerError("x", status=500), 1000, True, None, False),
        (ConflictError("x", status=409), 1000, True, None, False),
    ],
)
def test_which_chunks_go_again_in_halves(
    error: Exception, size: int, split_timeouts: bool, partial: list[object] | None, expected: bool
) -> None:
    """413 always, 408 only where re-sending is safe, never a single item or a partial chunk."""
    failed = ChunkError(error, ambiguous=False, partial=partial)  # type: ignore[arg-type]
    assert splits(failed, size, split_timeouts=split_timeouts) is expected


@pytest.mark.parametrize("size", [0, -1, MAX_ITEMS_PER_REQUEST + 1])
def test_chunk_size_outside_api_limit_is_refused(size: int) -> None:
    """No chunk may exceed the API's 1000 items."""
    with pytest.raises(ValueError, match="chunk size"):
        plan_chunks(10, size)


@given(st.lists(st.integers(), max_size=3500))
def test_filter_lists_split_into_api_sized_slices(values: list[int]) -> None:
    """A filter list is cut into slices of at most 1000, in order, losing nothing."""
    slices = split_values(values)
    assert [v for s in slices for v in s] == values
    assert all(1 <= len(s) <= MAX_ITEMS_PER_REQUEST for s in slices)
    assert split_values(None) == [None]


def test_plan_is_the_product_of_the_slices() -> None:
    """Each chain takes one slice of every dimension."""
    chains = plan(a=[1, 2], b=["x"], c=[None, "y", "z"])
    assert len(chains) == 6
    assert {"a": 2, "b": "x", "c": "z"} in chains


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (datetime(2024, 1, 31), 1, datetime(2024, 2, 29)),
        (datetime(2023, 11, 30), 3, datetime(2024, 2, 29)),
        (datetime(2023, 12, 15), 3, datetime(2024, 3, 15)),
        (datetime(2023, 10, 31), 12, datetime(2024, 10, 31)),
    ],
)
def test_add_months_clamps_to_month_end(start: datetime, months: int, expected: datetime) -> None:
    """Calendar months, the day clamped to the end of a shorter month."""
    assert add_months(start, months) == expected


aware = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
)


@given(aware, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3 * 366)))
def test_windows_are_consecutive_and_within_three_months(
    start: datetime, length: timedelta
) -> None:
    """An updated_utc interval becomes back-to-back windows of at most 3 months."""
    end = start + length
    windows = split_interval(TimeInterval(start_utc=start, end_utc=end))
    assert windows[0] is not None and windows[0].start_utc == start
    assert windows[-1] is not None and windows[-1].end_utc == end
    for window, following in itertools.pairwise(windows):
        assert window is not None and following is not None
        assert window.end_utc == following.start_utc
    for window in windows:
        assert window is not None
        assert window.start_utc <= window.end_utc <= updated_interval_limit(window.start_utc)
    assert MAX_UPDATED_INTERVAL_MONTHS == 3
    # Never more windows than needed: every window but the last is a full 3 months.
    for window in windows[:-1]:
        assert window is not None and window.end_utc == updated_interval_limit(window.start_utc)


def test_no_interval_is_one_unfiltered_window() -> None:
    """Without updated_utc there is one chain with no window."""
    assert split_interval(None) == [None]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("200/30", RateLimit(200, 30.0)),
        (" 20/2.5 ", RateLimit(20, 2.5)),
        ("1/0.1", RateLimit(1, 0.1)),
    ],
)
def test_rate_limit_parses_requests_per_seconds(text: str, expected: RateLimit) -> None:
    """RateLimit.parse reads REQUESTS/SECONDS."""
    assert RateLimit.parse(text) == expected


@pytest.mark.parametrize("text", ["200", "/30", "200/", "a/b", "0/30", "200/0", "-1/5", ""])
def test_rate_limit_refuses_anything_else(text: str) -> None:
    """Anything but two positive numbers around a slash is a ValueError."""
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies with the cause
        RateLimit.parse(text)
