"""Request validation for the simulator: readers that collect every problem with its path.

The simulator is the independent reference the SDK is tested against, so this
module parses raw JSON itself and shares nothing with the SDK's converter but
the limits in ``_constants``.  A reader never stops at the first problem: it
records each one as ``(path, message)`` (paths like ``VoucherParameters[3].Name``)
and hands back a placeholder, so one answer can list everything that is wrong.
Placeholders never reach the store, since every operation raises on the
collected problems before it looks anything up.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final
from uuid import UUID

from .._constants import (
    MAX_ITEMS_PER_REQUEST,
    MAX_PAGE_SIZE,
    MAX_UPDATED_INTERVAL_MONTHS,
    MIN_PAGE_SIZE,
)

# The canonical 8-4-4-4-12 form only: the SDK always sends it, and a reference
# that accepted every spelling .NET does would hide a client that did not.
_UUID_RE: Final = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\Z")
# ISO 8601 with a mandatory zone (Z or +hh:mm); .NET writes up to 7 fractional digits.
_DATETIME_RE: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?(Z|[+-]\d{2}:\d{2})\Z",
    re.ASCII,
)
NIL_UUID: Final = UUID(int=0)
"""Placeholder for an id that failed validation."""
_MONTH_DAYS: Final = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_LAST_YEAR: Final = 9999  # .NET's DateTime.MaxValue, as Python's


def utf16_length(text: str) -> int:
    """Return the length of *text* as .NET counts it: characters beyond U+FFFF count two."""
    if text.isascii():
        return len(text)
    return sum(2 if ord(char) > 0xFFFF else 1 for char in text)


def months_later(moment: datetime, months: int) -> datetime | None:
    """Return *moment* plus whole calendar months, as .NET's ``AddMonths`` does, or None.

    The day is clamped to the target month's last day (31 January + 1 month is
    28 or 29 February).  None means past the calendar's last year: no limit.
    Written here, not shared with the SDK: the simulator judges the SDK's own
    calendar arithmetic, so it must not reuse it.
    """
    year, month_index = divmod(moment.year * 12 + moment.month - 1 + months, 12)
    if year > _LAST_YEAR:
        return None
    month = month_index + 1
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    last_day = 29 if month == 2 and leap else _MONTH_DAYS[month - 1]
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


class ApiError(Exception):
    """An error answer of the simulated API: an HTTP status with a message and problem list."""

    def __init__(self, status: int, message: str, problems: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.problems = list(problems)

    @classmethod
    def of(cls, status: int, problems: Sequence[tuple[str, str]]) -> ApiError:
        """Return the error listing *problems*, its message naming the first one."""
        path, text = problems[0]
        message = f"{path}: {text}" if path else text
        if len(problems) > 1:
            message += f" (and {_count(len(problems) - 1, 'more problem')}, see Details)"
        return cls(status, message, problems)

    @property
    def details(self) -> str | None:
        """The ``Details`` of the error body: a string, as the docs show; one problem a line."""
        if not self.problems:
            return None
        return "\n".join(f"{path}: {text}" if path else text for path, text in self.problems)


def join(path: str, key: str) -> str:
    """Return the path of *key* inside the object at *path* (the body itself is ``""``)."""
    return f"{path}.{key}" if path else key


def parse_datetime(text: str) -> datetime | None:
    """Parse an ISO 8601 datetime with a zone into aware UTC, or return None if it is not one.

    Fractional seconds beyond microseconds (.NET writes seven digits) are truncated.
    """
    match = _DATETIME_RE.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0").ljust(6, "0")[:6])
    if zone == "Z":
        tz = UTC
    else:
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours > 23 or minutes > 59:
            return None
        offset = timedelta(hours=hours, minutes=minutes)
        tz = timezone(-offset if zone[0] == "-" else offset)
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tz
        )
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def format_datetime(moment: datetime) -> str:
    """Write an aware datetime the way the API does: UTC, whole seconds, ``Z``."""
    moment = moment.astimezone(UTC)
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z"
    )


def format_optional(moment: datetime | None) -> str | None:
    """Write an optional datetime, keeping None as null."""
    return None if moment is None else format_datetime(moment)


def as_utc(moment: datetime) -> datetime:
    """Return an aware datetime in UTC; a naive one is a mistake in the caller's setup."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"datetime must be timezone-aware, got {moment!r}")
    return moment.astimezone(UTC)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


class Reader:
    """Reads fields of a parsed JSON body and records what is wrong with them.

    Methods named after a type read a *required* field and return a placeholder
    when it is missing or invalid; ``opt_*`` methods read an optional one and
    return None when it is absent, null or invalid.  ``as_*`` methods check a
    value already in hand.  For the API, an absent property and ``null`` are the
    same thing.
    """

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []

    def fail(self, path: str, message: str) -> None:
        """Record one problem."""
        self.problems.append((path, message))

    def raise_if_any(self, status: int = 400) -> None:
        """Raise an :class:`ApiError` with *status* listing every recorded problem, if any."""
        if self.problems:
            raise ApiError.of(status, self.problems)

    # -- values ---------------------------------------------------------------

    def as_string(
        self, value: Any, path: str, *, min_length: int = 0, max_length: int | None = None
    ) -> str | None:
        """Check that *value* is a string of an allowed length."""
        if not isinstance(value, str):
            self.fail(path, "must be a string")
            return None
        length = utf16_length(value)
        if length < min_length or (max_length is not None and length > max_length):
            if max_length is None:
                self.fail(path, f"must have at least {_count(min_length, 'character')}")
            elif min_length:
                self.fail(path, f"must be {min_length}..{max_length} characters")
            else:
                self.fail(path, f"must have at most {_count(max_length, 'character')}")
            return None
        return value

    def as_uuid(self, value: Any, path: str) -> UUID | None:
        """Check that *value* is a UUID string and return it parsed."""
        if not isinstance(value, str) or _UUID_RE.match(value) is None:
            self.fail(path, "must be a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")
            return None
        return UUID(value)

    def as_choice(self, value: Any, path: str, allowed: Sequence[str]) -> str | None:
        """Check that *value* is one of the *allowed* enum strings (case-sensitive)."""
        if not isinstance(value, str) or value not in allowed:
            self.fail(path, f"must be one of {', '.join(allowed)}")
            return None
        return value

    def as_datetime(self, value: Any, path: str) -> datetime | None:
        """Check that *value* is an ISO 8601 datetime with a zone and return it in UTC."""
        moment = parse_datetime(value) if isinstance(value, str) else None
        if moment is None:
            self.fail(path, "must be an ISO 8601 datetime with a zone, like 2024-01-31T23:00:00Z")
        return moment

    def as_list(
        self,
        value: Any,
        path: str,
        *,
        min_items: int = 1,
        max_items: int = MAX_ITEMS_PER_REQUEST,
    ) -> list[Any] | None:
        """Check that *value* is a JSON array with an allowed number of items."""
        if not isinstance(value, list):
            self.fail(path, "must be an array")
            return None
        if not min_items <= len(value) <= max_items:
            if min_items:
                self.fail(path, f"must have {min_items}..{max_items} items, got {len(value)}")
            else:
                self.fail(path, f"must have at most {_count(max_items, 'item')}, got {len(value)}")
            return None
        return value

    def as_uuid_list(
        self,
        value: Any,
        path: str,
        *,
        min_items: int = 1,
        max_items: int = MAX_ITEMS_PER_REQUEST,
        unique: bool = False,
    ) -> list[UUID] | None:
        """Check that *value* is an array of UUID strings and return them parsed."""
        items = self.as_list(value, path, min_items=min_items, max_items=max_items)
        if items is None:
            return None
        before = len(self.problems)
        ids = [self.as_uuid(item, f"{path}[{i}]") for i, item in enumerate(items)]
        if len(self.problems) > before:
            return None
        parsed = [i for i in ids if i is not None]
        if unique and len(set(parsed)) != len(parsed):
            self.fail(path, "must not contain duplicates")
            return None
        return parsed

    # -- fields ---------------------------------------------------------------

    def present(self, parent: Mapping[str, Any], key: str, path: str) -> Any:
        """Return the required field *key*, recording a problem (and returning None) if absent."""
        value = parent.get(key)
        if value is None:
            self.fail(join(path, key), "is required")
        return value

    def string(
        self,
        parent: Mapping[str, Any],
        key: str,
        path: str,
        *,
        min_length: int = 0,
        max_length: int | None = None,
    ) -> str:
        """Read a required string field."""
        value = self.present(parent, key, path)
        if value is None:
            return ""
        checked = self.as_string(
            value, join(path, key), min_length=min_length, max_length=max_length
        )
        return "" if checked is None else checked

    def opt_string(
        self, parent: Mapping[str, Any], key: str, path: str, *, max_length: int | None = None
    ) -> str | None:
        """Read an optional string field."""
        value = parent.get(key)
        return (
            None if value is None else self.as_string(value, join(path, key), max_length=max_length)
        )

    def uuid(self, parent: Mapping[str, Any], key: str, path: str) -> UUID:
        """Read a required UUID field."""
        value = self.present(parent, key, path)
        parsed = None if value is None else self.as_uuid(value, join(path, key))
        return NIL_UUID if parsed is None else parsed

    def opt_uuid(self, parent: Mapping[str, Any], key: str, path: str) -> UUID | None:
        """Read an optional UUID field."""
        value = parent.get(key)
        return None if value is None else self.as_uuid(value, join(path, key))

    def choice(self, parent: Mapping[str, Any], key: str, path: str, allowed: Sequence[str]) -> str:
        """Read a required enum field."""
        value = self.present(parent, key, path)
        checked = None if value is None else self.as_choice(value, join(path, key), allowed)
        return allowed[0] if checked is None else checked

    def opt_datetime(self, parent: Mapping[str, Any], key: str, path: str) -> datetime | None:
        """Read an optional datetime field."""
        value = parent.get(key)
        return None if value is None else self.as_datetime(value, join(path, key))

    def opt_bool(self, parent: Mapping[str, Any], key: str, path: str) -> bool:
        """Read an optional boolean field; absent or null reads as false."""
        value = parent.get(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            self.fail(join(path, key), "must be true, false or null")
            return False
        return value

    def object(self, parent: Mapping[str, Any], key: str, path: str) -> dict[str, Any]:
        """Read a required object field (an empty object stands in when it is not one)."""
        value = self.present(parent, key, path)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(join(path, key), "must be an object")
            return {}
        return value

    def objects(
        self, parent: Mapping[str, Any], key: str, path: str
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yield the required list of item objects of a write, each with its path.

        A generator, so that problems are recorded in the order of the body.
        """
        value = self.present(parent, key, path)
        items = None if value is None else self.as_list(value, join(path, key))
        for i, item in enumerate(items or ()):
            item_path = f"{join(path, key)}[{i}]"
            if isinstance(item, dict):
                yield item_path, item
            else:
                self.fail(item_path, "must be an object")

    def uuid_list(self, parent: Mapping[str, Any], key: str, path: str) -> list[UUID]:
        """Read a required list of 1..MAX_ITEMS_PER_REQUEST UUIDs."""
        value = self.present(parent, key, path)
        ids = None if value is None else self.as_uuid_list(value, join(path, key))
        return ids or []

    def opt_uuid_list(self, parent: Mapping[str, Any], key: str, path: str) -> list[UUID] | None:
        """Read an optional list of 1..MAX_ITEMS_PER_REQUEST UUIDs."""
        value = parent.get(key)
        return None if value is None else self.as_uuid_list(value, join(path, key))

    def opt_string_list(self, parent: Mapping[str, Any], key: str, path: str) -> list[str] | None:
        """Read an optional list of 1..MAX_ITEMS_PER_REQUEST strings."""
        return self._opt_list(parent, key, path, self.as_string)

    def opt_choice_list(
        self, parent: Mapping[str, Any], key: str, path: str, allowed: Sequence[str]
    ) -> list[str] | None:
        """Read an optional list of enum strings."""
        return self._opt_list(parent, key, path, lambda item, at: self.as_choice(item, at, allowed))

    def _opt_list(
        self,
        parent: Mapping[str, Any],
        key: str,
        path: str,
        check: Callable[[Any, str], Any],
    ) -> list[str] | None:
        """Read an optional list, checking each item; None if absent or if any item is bad."""
        value = parent.get(key)
        if value is None:
            return None
        items = self.as_list(value, join(path, key))
        if items is None:
            return None
        before = len(self.problems)
        for i, item in enumerate(items):
            check(item, f"{join(path, key)}[{i}]")
        return None if len(self.problems) > before else items

    def opt_interval(
        self, parent: Mapping[str, Any], key: str, path: str
    ) -> tuple[datetime, datetime] | None:
        """Read an optional ``UpdatedUtc`` filter: both ends, ordered, at most the allowed span."""
        value = parent.get(key)
        if value is None:
            return None
        here = join(path, key)
        if not isinstance(value, dict):
            self.fail(here, "must be an object with StartUtc and EndUtc")
            return None
        start_raw, end_raw = (
            self.present(value, "StartUtc", here),
            self.present(value, "EndUtc", here),
        )
        start = None if start_raw is None else self.as_datetime(start_raw, join(here, "StartUtc"))
        end = None if end_raw is None else self.as_datetime(end_raw, join(here, "EndUtc"))
        if start is None or end is None:
            return None
        if end < start:
            self.fail(join(here, "EndUtc"), "must not be before StartUtc")
            return None
        limit = months_later(start, MAX_UPDATED_INTERVAL_MONTHS)
        if limit is not None and end > limit:
            self.fail(here, f"must span at most {MAX_UPDATED_INTERVAL_MONTHS} months")
            return None
        return start, end

    def limitation(self, parent: Mapping[str, Any], path: str) -> tuple[int, UUID | None]:
        """Read the required ``Limitation`` of a getAll: ``(Count, Cursor)``."""
        value = self.present(parent, "Limitation", path)
        here = join(path, "Limitation")
        if value is None:
            return MIN_PAGE_SIZE, None
        if not isinstance(value, dict):
            self.fail(here, "must be an object with Count and an optional Cursor")
            return MIN_PAGE_SIZE, None
        count = self.present(value, "Count", here)
        if count is not None and (
            isinstance(count, bool)
            or not isinstance(count, int)
            or not MIN_PAGE_SIZE <= count <= MAX_PAGE_SIZE
        ):
            self.fail(join(here, "Count"), f"must be an integer {MIN_PAGE_SIZE}..{MAX_PAGE_SIZE}")
            count = None
        cursor = self.opt_uuid(value, "Cursor", here)
        return (MIN_PAGE_SIZE if count is None else count), cursor

    def update(self, parent: Mapping[str, Any], key: str, path: str) -> tuple[Any, str] | None:
        """Read an update value ``{"Value": x}``: None means "leave unchanged".

        Returns the inner value (None means "clear") with its path.
        """
        value = parent.get(key)
        if value is None:
            return None
        here = join(path, key)
        if not isinstance(value, dict):
            self.fail(here, 'must be an update value {"Value": ...} or null')
            return None
        if "Value" not in value:
            # An empty wrapper is most likely a client bug; clearing on it would hide it.
            self.fail(here, 'must contain "Value" (use null for the whole property to leave it)')
            return None
        return value["Value"], join(here, "Value")
