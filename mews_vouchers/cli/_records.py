"""From input records to the SDK's models, with every problem reported at its line.

Keys may be the API's PascalCase names (``ServiceId``) or the models' snake_case names
(``service_id``).  In CSV every cell is text: an empty cell means "not given", and
``AssignedRateIds`` holds ids separated by ``;``.  For updates, a field that is absent or
empty is not updated; in JSONL a value may be given plainly (``"Name": "x"``) or in the
API's wire form (``"Name": {"Value": "x"}``), and ``{"Value": null}`` clears the field;
in CSV a cell holding exactly ``null`` clears it.

After the models are built, the SDK's own validation runs over all of them, and each of
its paths (``params[3].name``) is mapped back to the line of item 3.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

import attrs

from .._converter import pascal
from .._errors import MewsValidationError
from .._models import VoucherParameters, VoucherType, VoucherUpdate, to_uuid
from .._validation import validate_voucher_parameters, validate_voucher_updates
from ._io import LIST_SEPARATOR, InputError, InputFile, Problem

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


def _norm(key: str) -> str:
    """Return the form in which PascalCase, snake_case and camelCase keys coincide."""
    return key.replace("_", "").replace("-", "").replace(" ", "").lower()


def _field_names(cls: type[Any]) -> dict[str, str]:
    return {_norm(field.name): field.name for field in attrs.fields(cls)}


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


def _resolve_keys(keys: Sequence[str], names: dict[str, str], accepted: str) -> _Keys:
    fields: dict[str, str] = {}
    seen: dict[str, str] = {}
    problems: list[str] = []
    for key in keys:
        name = names.get(_norm(key))
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
        wanted = _norm(value)
        for member in VoucherType:
            if wanted in (_norm(member.value), _norm(member.name)):
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


def _build(
    source: InputFile,
    cls: Callable[..., T],
    names: dict[str, str],
    *,
    update: bool,
    required: Sequence[str],
) -> tuple[list[T], list[int], list[Problem]]:
    """Build a model per record; return those built, their lines, and the problems met."""
    accepted = _accepted(names)
    header_keys = None
    problems = list(source.problems)
    if source.header is not None:
        header_keys = _resolve_keys(source.header, names, accepted)
        if header_keys.problems:
            # The header's line is 1; nothing below it can be read without it.
            return [], [], [Problem(1, message) for message in header_keys.problems] + problems
    items: list[T] = []
    lines: list[int] = []
    for record in source.records:
        keys = header_keys or _resolve_keys(list(record.values), names, accepted)
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
        if not errors:
            try:
                items.append(cls(**kwargs))
                lines.append(record.line)
            except MewsValidationError as exc:
                errors += [f"{display(path)}: {message}" for path, message in exc.errors]
        problems += [Problem(record.line, message) for message in errors]
    return items, lines, problems


def _validate(
    items: Sequence[object], lines: Sequence[int], validate: Callable[[Sequence[object]], None]
) -> list[Problem]:
    """Run the SDK's validation and place each of its paths at the line of its item."""
    try:
        validate(items)
    except MewsValidationError as exc:
        return [_place(path, message, lines) for path, message in exc.errors]
    return []


def _place(path: str, message: str, lines: Sequence[int]) -> Problem:
    def reference(match: re.Match[str]) -> str:
        return f"{pascal(match[2])} of line {lines[int(match[1])]}"

    message = _INDEXED_REFERENCE.sub(reference, message)
    match = _INDEXED_PATH.match(path)
    if match is None:
        return Problem(0, f"{path}: {message}")
    line = lines[int(match[1])]
    return Problem(line, f"{display(match[2])}: {message}" if match[2] else message)


def voucher_parameters(source: InputFile) -> list[VoucherParameters]:
    """Return one VoucherParameters per record, or raise InputError with every problem."""
    items, lines, problems = _build(
        source, VoucherParameters, _ADD_FIELDS, update=False, required=_REQUIRED_ADD
    )
    # The items that could be built are validated too, so one run reports every problem.
    problems += _validate(items, lines, validate_voucher_parameters)
    if problems:
        raise InputError(source.source, problems)
    return items


def voucher_updates(source: InputFile) -> list[VoucherUpdate]:
    """Return one VoucherUpdate per record, or raise InputError with every problem."""
    items, lines, problems = _build(
        source, VoucherUpdate, _UPDATE_FIELDS, update=True, required=("voucher_id",)
    )
    problems += _validate(items, lines, validate_voucher_updates)
    if problems:
        raise InputError(source.source, problems)
    return items


def voucher_ids(source: InputFile) -> list[uuid.UUID]:
    """Return the ``VoucherId`` (or ``Id``) of each record; other keys are ignored.

    Ignoring them lets the output of ``list`` be fed straight to ``delete``.
    """
    problems = list(source.problems)
    ids: list[uuid.UUID] = []

    def id_key(keys: Sequence[str]) -> str | None:
        by_norm = {_norm(key): key for key in keys}
        return next((by_norm[k] for k in _ID_KEYS if k in by_norm), None)

    column = None
    if source.header is not None:
        column = id_key(source.header)
        if column is None and source.records:
            raise InputError(source.source, [Problem(1, "no VoucherId (or Id) column")])
    for record in source.records:
        key = column or id_key(list(record.values))
        value = record.values.get(key) if key is not None else None
        if isinstance(value, str):
            value = value.strip()
        if value is None or value == "":
            problems.append(Problem(record.line, "VoucherId: required"))
            continue
        try:
            ids.append(to_uuid(value, "VoucherId"))
        except MewsValidationError as exc:
            problems += [Problem(record.line, f"{path}: {message}") for path, message in exc.errors]
    if problems:
        raise InputError(source.source, problems)
    return ids
