"""Reading input files (JSONL or CSV) record by record, and writing files out safely.

Input is streamed: a record is read, handed on and dropped, so that memory does not grow
with the file.  Each record keeps its line number, so that a problem is reported at the
line the user can open, and where its bytes lie, so that a failures file holds exactly
what the user wrote for each failed item, ready to be fed back in.  Those bytes are cut
from a private copy made while reading (stdin cannot be read twice, and a file may
change while the writes run).

Output files are checked before any request and replaced only once complete.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
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
_BOM: Final = b"\xef\xbb\xbf"
_LONE_CR: Final = re.compile(rb"(?<=\r)(?!\n)")
SHOWN_PROBLEMS: Final = 50
"""How many problems of an input file are reported (and kept), at most."""


class UsageError(Exception):
    """A command line that cannot be run as given (exit status 2)."""


class OutputError(Exception):
    """A file that could not be written once the work was under way."""


@attrs.frozen
class Problem:
    """One thing wrong with an input file, at a line (0: the file as a whole)."""

    line: int
    message: str


class InputError(Exception):
    """An input file that cannot be used; ``problems`` say where and why.

    ``total`` counts every problem found; ``problems`` may hold only the first of them.
    """

    def __init__(self, source: str, problems: Sequence[Problem], total: int | None = None) -> None:
        self.source = source
        self.problems = sorted(problems, key=lambda p: p.line)
        self.total = len(self.problems) if total is None else total
        super().__init__(f"{self.total} problem{'s' if self.total != 1 else ''} in {source}")

    def lines(self, limit: int = SHOWN_PROBLEMS) -> list[str]:
        """Return one ``source:line: message`` text per problem, at most *limit* of them."""
        shown = [
            f"{self.source}:{p.line}: {p.message}" if p.line else f"{self.source}: {p.message}"
            for p in self.problems[:limit]
        ]
        if self.total > len(shown):
            shown.append(f"{self.source}: ... and {self.total - len(shown)} more problems")
        return shown


@attrs.frozen
class Record:
    """One input record: its first line, its values by key, and where its bytes lie."""

    line: int
    values: dict[str, Any]
    start: int
    end: int


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


class InputFile:
    """An input file (``-``: stdin) read one record at a time, in one pass.

    JSONL lines end at ``\\n`` only (U+2028 or U+0085 inside a value are text), and a
    UTF-8 byte order mark is skipped, from a file or from stdin alike.  With *copy*,
    every byte read is also written to an unnamed temporary file in *copy_dir*, from
    which :meth:`raw` cuts a record back out; it is gone once the input is closed.
    """

    def __init__(
        self,
        path: str,
        fmt: Format,
        *,
        copy: bool,
        copy_dir: str | None = None,
        stream: IO[bytes] | None = None,
        source: str | None = None,
    ) -> None:
        self.path = path
        self.source = source or ("<stdin>" if path == STDIO else path)
        self.format = fmt
        self.header: list[str] | None = None
        self.header_end = 0
        self._owned = stream is None and path != STDIO
        if stream is None:
            stream = sys.stdin.buffer if path == STDIO else _open_input(path)
        self._stream = stream
        self._copy: IO[bytes] | None = None
        self._store: IO[bytes] | None = None  # where raw() cuts records from
        self._offset = 0
        self._pending: list[Problem] = []
        self._rows: Iterator[list[str]] | None = None
        try:
            if copy:
                self._copy = self._store = _working_copy(copy_dir)
            if fmt == "csv":
                self._read_header()
        except BaseException:
            self.close()
            raise

    @classmethod
    def of_ids(cls, ids: Iterable[object], *, source: str) -> InputFile:
        """Return JSONL input of one ``{"VoucherId": id}`` per id (``delete --id``)."""
        stream = io.BytesIO(b"".join(orjson.dumps({"VoucherId": str(i)}) + b"\n" for i in ids))
        made = cls(source, "jsonl", copy=False, stream=stream, source=source)
        made._store = stream
        return made

    def __enter__(self) -> InputFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the input and drop its copy."""
        if self._owned:
            self._stream.close()
        if self._copy is not None:
            self._copy.close()

    def records(self) -> Iterator[Record | Problem]:
        """Yield each record, or the problem that kept lines from being one, in file order."""
        return self._jsonl() if self.format == "jsonl" else self._csv()

    def raw(self, start: int, end: int) -> bytes:
        """Return the bytes read from *start* to *end*, as read (``\\n``-terminated)."""
        if self._store is None:
            raise ValueError("the input was read without a copy")
        self._store.seek(start)
        data = self._store.read(end - start)
        return data if data.endswith(b"\n") else data + b"\n"

    def _lines(self) -> Iterator[bytes]:
        first = True
        try:
            for chunk in self._stream:  # a binary stream splits at b"\n" only
                if first:
                    chunk = chunk.removeprefix(_BOM)
                    first = False
                if self._copy is not None:
                    self._copy.write(chunk)
                # Old Mac spreadsheets end CSV lines with a lone CR.
                lines = _LONE_CR.split(chunk) if self.format == "csv" else (chunk,)
                for line in lines:
                    if line:
                        self._offset += len(line)
                        yield line
        except OSError as exc:
            raise UsageError(f"{self.source}: cannot read: {exc.strerror or exc}") from None

    def _jsonl(self) -> Iterator[Record | Problem]:
        start = self._offset
        for number, line in enumerate(self._lines(), start=1):
            end = self._offset
            if line.strip():
                try:
                    value = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    yield Problem(number, f"malformed JSON: {exc}")
                else:
                    if isinstance(value, dict):
                        yield Record(number, value, start, end)
                    else:
                        yield Problem(number, f"expected a JSON object, got {_json_type(value)}")
            start = end

    def _text(self) -> Iterator[str]:
        for number, line in enumerate(self._lines(), start=1):
            try:
                yield line.decode("utf-8")
            except UnicodeDecodeError as exc:
                self._pending.append(Problem(number, f"not valid UTF-8: {exc.reason}"))
                yield line.decode("utf-8", "replace")

    def _read_header(self) -> None:
        rows = csv.reader(self._text())
        try:
            header = next(rows, None)
        except csv.Error as exc:
            raise InputError(
                self.source, [Problem(rows.line_num, f"malformed CSV: {exc}")]
            ) from None
        self._rows = rows
        self.header = [] if header is None else [name.strip() for name in header]
        self.header_end = self._offset

    def _csv(self) -> Iterator[Record | Problem]:
        rows = self._rows
        header = self.header or []
        if rows is None or not header:
            return
        start, last = self._offset, rows.line_num  # type: ignore[attr-defined]
        try:
            for row in rows:
                # A quoted cell may span lines: a record starts just after the previous one ended.
                first, last = last + 1, rows.line_num  # type: ignore[attr-defined]
                end = self._offset
                yield from self._take_pending()
                if any(cell.strip() for cell in row):
                    if len(row) != len(header):
                        yield Problem(
                            first, f"expected {len(header)} cells as in the header, got {len(row)}"
                        )
                    else:
                        yield Record(first, dict(zip(header, row, strict=True)), start, end)
                start = end
        except csv.Error as exc:
            # The csv module cannot resume after this (an unclosed quote, a NUL byte).
            yield Problem(rows.line_num, f"malformed CSV: {exc}")  # type: ignore[attr-defined]
        yield from self._take_pending()

    def _take_pending(self) -> list[Problem]:
        pending, self._pending = self._pending, []
        return pending


def _open_input(path: str) -> IO[bytes]:
    try:
        return open(path, "rb")  # closed by InputFile.close
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _working_copy(directory: str | None) -> IO[bytes]:
    try:
        return tempfile.TemporaryFile(dir=directory)  # closed with the input
    except OSError as exc:
        where = directory or tempfile.gettempdir()
        raise UsageError(f"cannot make a working copy of the input in {where}: {exc}") from None


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


def write_records(path: str, source: InputFile, spans: Iterable[tuple[int, int]]) -> None:
    """Write the records of *source* at *spans* to *path*, exactly as they were read."""
    with open_output(path, binary=True) as out:
        if source.format == "csv":
            out.write(source.raw(0, source.header_end))
        for start, end in spans:
            out.write(source.raw(start, end))


# --- output files --------------------------------------------------------------------------


def check_outputs(paths: Sequence[tuple[str, str]], input_path: str | None) -> None:
    """Check that each output ``(what, path)`` can be written, else raise UsageError.

    Two outputs, or an output and the input, may not be the same file.  Nothing is left
    behind and no file is changed: one that exists is kept until a complete one replaces
    it (see :func:`open_output`).
    """
    seen: list[tuple[str, str]] = []
    if input_path is not None and input_path != STDIO:
        seen.append(("the input", input_path))
    for what, path in paths:
        for other_what, other in seen:
            if _same_file(path, other):
                raise UsageError(f"{what} {path} is also {other_what}; give another file")
        seen.append((what, path))
        if path != STDIO:
            problem = _unwritable(path)
            if problem is not None:
                raise UsageError(f"{what} {path}: cannot write: {problem}")


def directory_of(path: str) -> str | None:
    """Return the directory *path* is written in (None for stdout)."""
    return None if path == STDIO else os.path.dirname(os.path.realpath(path))


def _same_file(a: str, b: str) -> bool:
    if a == STDIO or b == STDIO:
        return a == b
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _unwritable(path: str) -> str | None:
    """Return why *path* could not be written, or None; create nothing, change nothing."""
    target = Path(os.path.realpath(path))
    if not target.parent.is_dir():
        return f"no such directory: {target.parent}"
    if target.is_dir():
        return "it is a directory"
    if target.exists() and target.is_file() and not os.access(target, os.W_OK):
        return "the file is not writable"
    if target.exists() and not target.is_file():
        return None  # a device or a pipe: written through, as it is
    try:
        # Written under a temporary name and renamed: the directory must take a new file.
        fd, probe = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        return exc.strerror or str(exc)
    os.close(fd)
    os.unlink(probe)
    return None


@contextlib.contextmanager
def open_output(path: str, *, binary: bool = False) -> Iterator[IO[Any]]:
    """Open *path* for writing (``-``: stdout); a file is replaced only once complete.

    The file is written under a temporary name beside it and renamed over it at the end,
    so that a run that fails never leaves it emptied or half written.  Raise OutputError
    if it cannot be written.
    """
    if path == STDIO:
        sys.stdout.flush()
        yield sys.stdout.buffer if binary else sys.stdout
        sys.stdout.flush()
        return
    target = os.path.realpath(path)
    mode = "wb" if binary else "w"
    # newline="": the csv module writes its own line endings.
    text = {} if binary else {"encoding": "utf-8", "newline": ""}
    if os.path.exists(target) and not os.path.isfile(target):
        try:
            with open(target, mode, **text) as device:  # type: ignore[call-overload]
                yield device
        except OSError as exc:
            raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from exc
        return
    try:
        fd, temporary = tempfile.mkstemp(
            dir=os.path.dirname(target), prefix=f".{os.path.basename(target)}.", suffix=".tmp"
        )
    except OSError as exc:
        raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from exc
    try:
        with open(fd, mode, **text) as file:  # type: ignore[call-overload]
            yield file
        os.chmod(temporary, _mode_for(target))
        os.replace(temporary, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(exc, OSError):
            raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from exc
        raise


def _mode_for(target: str) -> int:
    """Return the permissions a new *target* gets: those of the file it replaces, else umask's."""
    try:
        return os.stat(target).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


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
