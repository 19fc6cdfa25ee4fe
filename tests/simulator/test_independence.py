"""The simulator judges alone: no SDK logic imported; its calendar and UTF-16 match oracles."""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import mews_vouchers._constants as constants
from mews_vouchers.testing._reader import months_later, utf16_length

SIMULATOR_DIR = Path(__file__).resolve().parents[2] / "mews_vouchers" / "testing"


def _sdk_imports(path: Path) -> list[tuple[str, str]]:
    """Return (module, name) for every import of an SDK module (outside testing/) in *path*."""
    found: list[tuple[str, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, "*") for a in node.names if a.name.startswith("mews_vouchers")]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 1 or (node.level == 0 and not node.module):
                continue  # within testing/, or not ours
            module = node.module or ""
            if node.level == 0:
                if not module.startswith("mews_vouchers") or module.startswith(
                    "mews_vouchers.testing"
                ):
                    continue
                module = module.removeprefix("mews_vouchers").lstrip(".")
            found += [(module, alias.name) for alias in node.names]
    return found


# The command line's argument types read what a person typed when starting the standalone
# simulator (a count, a probability, REQUESTS/SECONDS); they judge no request, so sharing
# them with the CLI shares no API rule.
COMMAND_LINE_ARGUMENTS = "cli._args"


def test_simulator_imports_only_constants_and_the_rate_limit_type() -> None:
    """The simulator shares no logic with the SDK: named limits, RateLimit, argument types."""
    files = sorted(SIMULATOR_DIR.glob("*.py"))
    assert len(files) >= 5
    for path in files:
        for module, name in _sdk_imports(path):
            if module == "_constants":
                assert not callable(getattr(constants, name)), f"{path.name}: {name} is logic"
            elif module == COMMAND_LINE_ARGUMENTS:
                assert path.name == "_standalone.py", f"{path.name}: {module}.{name}"
            else:
                assert (module, name) == ("_config", "RateLimit"), f"{path.name}: {module}.{name}"


def _oracle_months_later(moment: datetime, months: int) -> datetime | None:
    """The same month shift by trial: the latest valid day not after the start's day."""
    year, index = divmod(moment.year * 12 + moment.month - 1 + months, 12)
    if year > 9999:
        return None
    for day in range(moment.day, 27, -1):
        try:
            date(year, index + 1, day)
        except ValueError:
            continue
        return moment.replace(year=year, month=index + 1, day=day)
    return moment.replace(year=year, month=index + 1)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (datetime(2024, 1, 31, 5, tzinfo=UTC), datetime(2024, 4, 30, 5, tzinfo=UTC)),
        (datetime(2023, 11, 30, tzinfo=UTC), datetime(2024, 2, 29, tzinfo=UTC)),
        (datetime(2022, 11, 30, tzinfo=UTC), datetime(2023, 2, 28, tzinfo=UTC)),
        (datetime(1900, 11, 29, tzinfo=UTC), datetime(1901, 2, 28, tzinfo=UTC)),
        (datetime(2000, 11, 29, tzinfo=UTC), datetime(2001, 2, 28, tzinfo=UTC)),
        (
            datetime(2024, 12, 15, 1, 2, 3, 4, tzinfo=UTC),
            datetime(2025, 3, 15, 1, 2, 3, 4, tzinfo=UTC),
        ),
        (datetime(9999, 9, 30, tzinfo=UTC), datetime(9999, 12, 30, tzinfo=UTC)),
        (datetime(9999, 10, 1, tzinfo=UTC), None),
    ],
)
def test_simulator_calendar_months(start: datetime, end: datetime | None) -> None:
    """The simulator's 3-month rule ends on the same day three months on, clamped to the month."""
    assert months_later(start, 3) == end


@given(st.datetimes(timezones=st.just(UTC)), st.integers(min_value=0, max_value=24))
def test_simulator_calendar_matches_an_oracle(start: datetime, months: int) -> None:
    """The simulator's month arithmetic agrees with a trial-and-error oracle everywhere."""
    assert months_later(start, months) == _oracle_months_later(start, months)


@given(st.text())
def test_simulator_counts_utf16_units(text: str) -> None:
    """The simulator counts text as .NET does: one unit per BMP character, two beyond it."""
    expected = len(text.encode("utf-16-le", "surrogatepass")) // 2
    assert utf16_length(text) == expected
