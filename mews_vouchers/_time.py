"""Calendar arithmetic of the window splitter (the simulator keeps its own, on purpose)."""

from __future__ import annotations

import calendar
from datetime import datetime

from ._constants import MAX_UPDATED_INTERVAL_MONTHS


def add_months(moment: datetime, months: int) -> datetime:
    """Return *moment* moved by whole calendar months, the day clamped to the month's end."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def updated_interval_limit(start: datetime) -> datetime:
    """Return the latest end an ``UpdatedUtc`` filter starting at *start* may have.

    Within the calendar's last months the limit is the calendar's end.
    """
    try:
        return add_months(start, MAX_UPDATED_INTERVAL_MONTHS)
    except (ValueError, OverflowError):
        return datetime.max.replace(tzinfo=start.tzinfo)
