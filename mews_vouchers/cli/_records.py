"""From input records to the SDK's models, with every problem reported at its line.

Keys may be the API's PascalCase names (``ServiceId``) or the models' snake_case names
(``service_id``).  In CSV every cell is text: an empty cell means "not given", and
``AssignedRateIds`` holds ids separated by ``;``.  For updates, a field that is absent or
empty is not updated; in JSONL a value may be given plainly (``"Name": "x"``) or in the
API's wire form (``"Name": {"Value": "x"}``), and ``{"Value": null}`` clears the field;
in CSV a cell holding exactly ``null`` clears it.

Records are streamed: each is turned into a model and checked by the SDK's own
validation at once (its paths, ``params[0].name``, placed at the record's line), then
dropped.  A dry run keeps no model at all; a real run keeps the models and, per item, its
line and where its bytes lie, but neither the records nor their text.  Only the first
problems are kept, however bad the file.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from array import array
from collections.abc import Callable, Iterator, Sequence
from itertools import pairwise
from typing import Any, Final, Generic, TypeVar

import attrs

from .._converter import pascal
from .._errors import MewsValidationError
from .._models import VoucherParameters, VoucherType, VoucherUpdate, to_uuid
from .._validation import validate_voucher_parameters, validate_voucher_updates
from ._io import LIST_SEPARATOR, SHOWN_PROBLEMS, InputError, InputFile, Problem, Record

T = TypeVar("T")

CLEAR: Final = "null"
"""The CSV cell that clears a field in an update."""

_ABSENT: Final = object()
_LIST_FIELDS: Final = frozenset({"assigned_rate_ids"})
# Free text is kept exactly as written; ids, types and datetimes are trimmed.
_TEXT_FIELDS: Final = frozenset({"name", "external_identifier"})
_REQUIRED_ADD: Final = ("service_id", "name", "type")
# Fields of an update that hold a value in every voucher, so cannot be cleared.
_NOT_CLEARABLE: Final = frozenset({"voucher_id", "name", "type"})
_ID_KEYS: Final = ("voucherid", "id")
_INDEXED_PATH: Final = re.compile(r"^\w+\[(\d+)\](?:\.(.*))?$")
_INDEXED_REFERENCE: Final = re.compile(r"\b\w+\[(\d+)\]\.(\w+)")


def normal_key(key: str) -> str:
    """Return the form in which PascalCase, snake_case and camelCase keys coincide."""
    return key.replace("_", "").replace("-", "").replace(" ", "").lower()


def _field_names(cls: type[Any]) -> dict[str, str]:
    return {normal_key(field.name): field.name for field in attrs.fields(cls)}


_ADD_FIELDS: Final = _field_names(VoucherParameters)
_UPDATE_FIELDS: Final = _field_names(VoucherUpdate)


def display(path: str) -> str:
    """Return a model path (``assigned_rate_ids[2]``) with API names (``AssignedRateIds[2]``)."""
    head, bracket, rest = path.partition("[")
    parts = head.split(".")
    return ".".join(pascal(part) for part in parts) + bracket + rest


@attrs.frozen
class _Keys:
    """How the keys of a record map to model fields, and what is wrong with them."""

    fields: dict[str, str]
    problems: list[str]


def _resolve_keys(
    keys: Sequence[str], names: dict[str, str], accepted: str, also: frozenset[str] = frozenset()
) -> _Keys:
    fields: dict[str, str] = {}
    seen: dict[str, str] = {}
    problems: list[str] = []
    for key in keys:
        if normal_key(key) in also:
            continue  # a column the caller reads itself (sync's Codes)
        name = names.get(normal_key(key))
        if name is None:
            problems.append(f"unknown column {key!r}; expected {accepted}")
        elif name in seen:
            problems.append(f"{key!r} and {seen[name]!r} both give {pascal(name)}")
        else:
            seen[name] = key
            fields[key] = name
    return _Keys(fields, problems)


def _accepted(names: dict[str, str]) -> str:
    return ", ".join(pascal(name) for name in names.values())


def _voucher_type(value: object) -> object:
    """Accept a type by its wire value or member name, in any case (``public``, ``PUBLIC``)."""
    if isinstance(value, str):
        wanted = normal_key(value)
        for member in VoucherType:
            if wanted in (normal_key(member.value), normal_key(member.name)):
                return member.value
    return value


def _csv_value(field: str, text: str, *, update: bool) -> object:
    if not text.strip():
        return _ABSENT
    if update and text.strip() == CLEAR:
        if field in _NOT_CLEARABLE:
            raise ValueError(f"{CLEAR!r} would clear it, but it cannot be cleared")
        return None
    if field in _LIST_FIELDS:
        return [part.strip() for part in text.split(LIST_SEPARATOR) if part.strip()]
    return text if field in _TEXT_FIELDS else text.strip()


def _json_value(field: str, value: object, *, update: bool) -> object:
    if value is None:
        # In the API's update wire form null means "not updated"; in an add, "not given".
        return _ABSENT
    if update and isinstance(value, dict):
        if set(value) != {"Value"} or field == "voucher_id":
            raise ValueError('expected a value, null, or {"Value": value}')
        inner = value["Value"]
        if inner is None and field in _NOT_CLEARABLE:
            raise ValueError("cannot be cleared")
        return inner
    return value


@attrs.define
class Parsed(Generic[T]):
    """The items read from an input file, each with its line and the span of its bytes.

    A dry run keeps none of them (``kept`` false): only ``count``.
    """

    kept: bool
    count: int = 0
    items: list[T] = attrs.Factory(list)
    lines: array[int] = attrs.Factory(lambda: array("Q"))
    _spans: array[int] = attrs.Factory(lambda: array("Q"))

    def add(self, item: T, record: Record) -> None:
        """Count *item*, and keep it with where it came from unless this is a dry run."""
        self.count += 1
        if self.kept:
            self.items.append(item)
            self.lines.append(record.line)
            self._spans.extend((record.start, record.end))

    def span(self, index: int) -> tuple[int, int]:
        """Return where the bytes of item *index* lie in the input."""
        return self._spans[2 * index], self._spans[2 * index + 1]


class _Problems:
    """The problems met in one input file: the first few kept, all counted."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.kept: list[Problem] = []
        self.total = 0

    def add(self, problem: Problem) -> None:
        self.total += 1
        if len(self.kept) < SHOWN_PROBLEMS:
            self.kept.append(problem)

    def raise_any(self) -> None:
        if self.total:
            raise InputError(self.source, self.kept, self.total)


class _RepeatedKeys:
    """Finds 16-byte keys given more than once, in 20 bytes per key, so a dry run stays small.

    The keys are kept packed in 256 buckets (by a hash, so that keys alike, such as
    time-ordered ids, still spread) and sorted one bucket at a time at the end; a set
    of UUIDs would cost about five times as much.
    """

    def __init__(self) -> None:
        self._ids = [bytearray() for _ in range(256)]
        self._lines = [array("I") for _ in range(256)]

    def add(self, key: bytes, line: int) -> None:
        bucket = hash(key) & 0xFF
        self._ids[bucket] += key
        self._lines[bucket].append(line)

    def repeats(self) -> Iterator[tuple[int, int]]:
        """Yield ``(line, first_line)`` for each key that an earlier line already gave."""
        for ids, lines in zip(self._ids, self._lines, strict=True):
            # Stable: among equal ids the earliest line comes first.
            order = sorted(range(len(lines)), key=lambda j: ids[16 * j : 16 * j + 16])
            first = None
            for a, b in pairwise(order):
                if ids[16 * a : 16 * a + 16] == ids[16 * b : 16 * b + 16]:
                    first = lines[a] if first is None else first
                    yield lines[b], first
                else:
                    first = None


def _voucher_key(item: object) -> bytes | None:
    """The key that must not repeat in one input: the voucher of an update, or the
    (service, external identifier) of an add, hashed to 16 bytes (the SDK refuses both)."""
    if isinstance(item, VoucherUpdate):
        return item.voucher_id.bytes
    if isinstance(item, VoucherParameters) and item.external_identifier is not None:
        text = item.service_id.bytes + item.external_identifier.encode("utf-8", "surrogatepass")
        return hashlib.blake2b(text, digest_size=16).digest()
    return None


def _build(
    source: InputFile,
    cls: Callable[..., T],
    names: dict[str, str],
    *,
    update: bool,
    required: Sequence[str],
    validate: Callable[[Sequence[object]], None],
    keep: bool,
    also: frozenset[str] = frozenset(),
    unique: bool = True,
) -> Parsed[T]:
    """Build and validate a model per record; raise InputError listing the problems met."""
    accepted = _accepted(names)
    problems = _Problems(source.source)
    header_keys = None
    if source.header is not None:
        header_keys = _resolve_keys(source.header, names, accepted, also)
        if header_keys.problems:
            # The header's line is 1; nothing below it can be read without it.
            raise InputError(source.source, [Problem(1, m) for m in header_keys.problems])
    parsed: Parsed[T] = Parsed(kept=keep)
    repeats = _RepeatedKeys()
    repeated = "VoucherId" if update else "ExternalIdentifier"
    for record in source.records():
        if isinstance(record, Problem):
            problems.add(record)
            continue
        keys = header_keys or _resolve_keys(list(record.values), names, accepted, also)
        errors = list(keys.problems)
        kwargs: dict[str, object] = {}
        for key, raw in record.values.items():
            field = keys.fields.get(key)
            if field is None:
                continue
            try:
                if isinstance(raw, str) and source.format == "csv":
                    value = _csv_value(field, raw, update=update)
                else:
                    value = _json_value(field, raw, update=update)
            except ValueError as exc:
                errors.append(f"{pascal(field)}: {exc}")
                continue
            if value is _ABSENT:
                continue
            kwargs[field] = _voucher_type(value) if field == "type" else value
        errors += [f"{pascal(name)}: required" for name in required if name not in kwargs]
        item = None
        if not errors:
            try:
                item = cls(**kwargs)
                validate([item])
            except MewsValidationError as exc:
                found = [_place(path, message, [record.line]) for path, message in exc.errors]
                errors += [problem.message for problem in found]
        if errors or item is None:
            for message in errors:
                problems.add(Problem(record.line, message))
            continue
        repeat_key = _voucher_key(item) if unique else None
        if repeat_key is not None:
            repeats.add(repeat_key, record.line)
        parsed.add(item, record)
    for line, first in repeats.repeats():
        problems.add(Problem(line, f"{repeated}: repeats the {repeated} of line {first}"))
    problems.raise_any()
    return parsed


def _place(path: str, message: str, lines: Sequence[int]) -> Problem:
    def reference(match: re.Match[str]) -> str:
        return f"{pascal(match[2])} of line {lines[int(match[1])]}"

    message = _INDEXED_REFERENCE.sub(reference, message)
    match = _INDEXED_PATH.match(path)
    if match is None:
        return Problem(0, f"{path}: {message}")
    line = lines[int(match[1])]
    return Problem(line, f"{display(match[2])}: {message}" if match[2] else message)


def voucher_parameters(
    source: InputFile,
    *,
    keep: bool = True,
    also: frozenset[str] = frozenset(),
    unique: bool = True,
) -> Parsed[VoucherParameters]:
    """Return one VoucherParameters per record, or raise InputError with the problems.

    *also* names (normalized: lower case, no ``_`` or ``-``) columns that are accepted and
    left to the caller, who reads them from the records itself; without *unique*, a
    repeated external identifier is left to the caller (sync names it).
    """
    return _build(
        source,
        VoucherParameters,
        _ADD_FIELDS,
        update=False,
        required=_REQUIRED_ADD,
        validate=validate_voucher_parameters,
        keep=keep,
        also=also,
        unique=unique,
    )


def voucher_updates(source: InputFile, *, keep: bool = True) -> Parsed[VoucherUpdate]:
    """Return one VoucherUpdate per record, or raise InputError with the problems."""
    return _build(
        source,
        VoucherUpdate,
        _UPDATE_FIELDS,
        update=True,
        required=("voucher_id",),
        validate=validate_voucher_updates,
        keep=keep,
    )


def voucher_ids(source: InputFile, *, keep: bool = True) -> Parsed[uuid.UUID]:
    """Return the ``VoucherId`` (or ``Id``) of each record; other keys are ignored.

    Ignoring them lets the output of ``list`` be fed straight to ``delete``.
    """
    problems = _Problems(source.source)
    parsed: Parsed[uuid.UUID] = Parsed(kept=keep)

    def id_key(keys: Sequence[str]) -> str | None:
        by_norm = {normal_key(key): key for key in keys}
        return next((by_norm[k] for k in _ID_KEYS if k in by_norm), None)

    column = None if source.header is None else id_key(source.header)
    for record in source.records():
        if isinstance(record, Problem):
            problems.add(record)
            continue
        if source.header is not None and column is None:
            raise InputError(source.source, [Problem(1, "no VoucherId (or Id) column")])
        key = column or id_key(list(record.values))
        value = record.values.get(key) if key is not None else None
        if isinstance(value, str):
            value = value.strip()
        if value is None or value == "":
            problems.add(Problem(record.line, "VoucherId: required"))
            continue
        try:
            parsed.add(to_uuid(value, "VoucherId"), record)
        except MewsValidationError as exc:
            for path, message in exc.errors:
                problems.add(Problem(record.line, f"{path}: {message}"))
    problems.raise_any()
    return parsed
