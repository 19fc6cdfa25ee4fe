"""Reading input files (JSONL or CSV) record by record, and writing vouchers out.

Input records keep their line number and their original text, so that a problem is
reported at the line the user can open, and a failures file holds exactly what the user
wrote for each failed item, ready to be fed back in.
"""

from __future__ import annotations

import contextlib
import csv
import io
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Final, Literal, TypeAlias

import attrs
import orjson

from .._converter import encode, pascal, to_wire, unstructure
from .._models import Voucher

Format: TypeAlias = Literal["jsonl", "csv"]
FORMATS: Final[tuple[Format, ...]] = ("jsonl", "csv")
STDIO: Final = "-"

_EXTENSIONS: Final[dict[str, Format]] = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
# The columns of a voucher in CSV output, in the order of the model's fields.
VOUCHER_COLUMNS: Final = tuple(pascal(field.name) for field in attrs.fields(Voucher))
# How a list travels in one CSV cell (AssignedRateIds).
LIST_SEPARATOR: Final = ";"


class UsageError(Exception):
    """A command line that cannot be run as given (exit status 2)."""


@attrs.frozen
class Problem:
    """One thing wrong with an input file, at a line (0: the file as a whole)."""

    line: int
    message: str


class InputError(Exception):
    """An input file that cannot be used; ``problems`` say where and why."""

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = sorted(problems, key=lambda p: p.line)
        count = len(self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in {source}")

    def lines(self, limit: int = 50) -> list[str]:
        """Return one ``source:line: message`` text per problem, at most *limit* of them."""
        shown = [
            f"{self.source}:{p.line}: {p.message}" if p.line else f"{self.source}: {p.message}"
            for p in self.problems[:limit]
        ]
        if len(self.problems) > limit:
            shown.append(f"{self.source}: ... and {len(self.problems) - limit} more problems")
        return shown


@attrs.frozen
class Record:
    """One input record: its first line number, its values by key, and its original text."""

    line: int
    values: dict[str, Any]
    raw: str | list[str]


@attrs.frozen
class InputFile:
    """The records of one input file, with what is needed to write some of them back.

    ``problems`` are the lines that could not be read as records at all (malformed JSON,
    a CSV row of the wrong width); they are reported along with the problems of the
    records, so that one run lists everything wrong with the file.
    """

    source: str
    format: Format
    records: list[Record]
    header: list[str] | None = None
    problems: list[Problem] = attrs.field(factory=list)


def format_of(path: str, explicit: str | None) -> Format:
    """Return the input format named by *explicit*, else the one *path*'s extension implies."""
    if explicit is not None:
        if explicit not in FORMATS:
            raise UsageError(f"unknown input format {explicit!r}; expected jsonl or csv")
        return explicit
    if path == STDIO:
        return "jsonl"
    found = _EXTENSIONS.get(Path(path).suffix.lower())
    if found is None:
        raise UsageError(
            f"cannot tell the format of {path!r} from its extension "
            "(.jsonl, .ndjson or .csv); give --input-format jsonl|csv"
        )
    return found


def output_format(path: str) -> Format:
    """Return the format to write *path* in: CSV for a ``.csv`` file, else JSONL."""
    return "csv" if Path(path).suffix.lower() == ".csv" else "jsonl"


def read_input(path: str, fmt: Format) -> InputFile:
    """Read every record of *path* (``-``: stdin); raise InputError listing every bad line."""
    source = "<stdin>" if path == STDIO else path
    try:
        # utf-8-sig: spreadsheets often save CSV with a byte order mark.
        text = sys.stdin.read() if path == STDIO else Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from None
    if fmt == "jsonl":
        return _read_jsonl(source, text)
    return _read_csv(source, text)


def _read_jsonl(source: str, text: str) -> InputFile:
    records: list[Record] = []
    problems: list[Problem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            problems.append(Problem(number, f"malformed JSON: {exc}"))
            continue
        if not isinstance(value, dict):
            problems.append(Problem(number, f"expected a JSON object, got {_json_type(value)}"))
            continue
        records.append(Record(number, value, line))
    return InputFile(source=source, format="jsonl", records=records, problems=problems)


def _read_csv(source: str, text: str) -> InputFile:
    reader = csv.reader(io.StringIO(text, newline=""))
    problems: list[Problem] = []
    try:
        header = next(reader, None)
        if header is None:
            return InputFile(source=source, format="csv", records=[], header=[])
        header = [name.strip() for name in header]
        records: list[Record] = []
        end = reader.line_num
        for row in reader:
            # A quoted cell may span lines: a record starts just after the previous one ended.
            start, end = end + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                problems.append(
                    Problem(start, f"expected {len(header)} cells as in the header, got {len(row)}")
                )
                continue
            records.append(Record(start, dict(zip(header, row, strict=True)), row))
    except csv.Error as exc:
        # The csv module cannot resume after this (an unclosed quote, a NUL byte).
        problems.append(Problem(reader.line_num, f"malformed CSV: {exc}"))
        raise InputError(source, problems) from None
    return InputFile(source=source, format="csv", records=records, header=header, problems=problems)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    return {list: "an array", str: "a string", bool: "a boolean"}.get(type(value), "a number")


def failures_path(source: str, fmt: Format) -> str:
    """Return the default failures file of an input: ``<input>.failed.<ext>``, next to it."""
    if source == "<stdin>":
        return f"mews-vouchers.failed.{fmt}"
    path = Path(source)
    return str(path.with_name(f"{path.stem}.failed.{fmt}"))


def write_records(path: str, source: InputFile, indices: Sequence[int]) -> None:
    """Write the records at *indices* of *source* to *path*, exactly as they were read."""
    with open_output(path) as out:
        if source.format == "jsonl":
            for i in indices:
                raw = source.records[i].raw
                out.write(f"{raw if isinstance(raw, str) else ''}\n")
        else:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(source.header or [])
            for i in indices:
                raw = source.records[i].raw
                writer.writerow(raw if isinstance(raw, list) else [raw])


@contextlib.contextmanager
def open_output(path: str) -> Iterator[IO[str]]:
    """Open *path* for writing text (``-``: stdout, which is flushed, not closed)."""
    if path == STDIO:
        yield sys.stdout
        sys.stdout.flush()
        return
    try:
        # newline="": the csv module writes its own line endings.
        file = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115
    except OSError as exc:
        raise UsageError(f"{path}: cannot write: {exc}") from None
    with file:
        yield file


# --- writing vouchers ----------------------------------------------------------------------


def cell(value: Any) -> str:
    """Return a wire value as one CSV cell: lists joined by ``;``, booleans in JSON spelling."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return LIST_SEPARATOR.join(cell(item) for item in value)
    return str(value)


class VoucherWriter:
    """Writes vouchers one at a time as JSONL (the API's wire form) or CSV."""

    def __init__(self, out: IO[str], fmt: Format) -> None:
        self._out = out
        self._format = fmt
        self._csv = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
        if self._csv is not None:
            self._csv.writerow(VOUCHER_COLUMNS)
        self.count = 0

    def write(self, voucher: Voucher) -> None:
        """Write one voucher."""
        if self._csv is not None:
            wire = to_wire(voucher)
            self._csv.writerow([cell(wire.get(column)) for column in VOUCHER_COLUMNS])
        else:
            # The encoder writes ids and datetimes exactly as the API does (Z, whole seconds).
            self._out.write(encode(unstructure(voucher)).decode())
            self._out.write("\n")
        self.count += 1

    def write_all(self, vouchers: Iterator[Voucher] | Sequence[Voucher]) -> None:
        """Write every voucher of *vouchers*."""
        for voucher in vouchers:
            self.write(voucher)
