"""Client-side validation: every rule the API would enforce, checked before any request.

Each function collects every problem of its input, with a path naming the argument, the
item's index and the field (``params[3].name``), and raises one MewsValidationError.
The limits come from ``_constants``, the same names the simulator enforces.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from ._constants import (
    MAX_ASSIGNED_RATE_IDS,
    MAX_EXTERNAL_IDENTIFIER_LENGTH,
    MAX_NAME_LENGTH,
    MAX_VOUCHER_CODE_VALUE_LENGTH,
    text_length,
)
from ._converter import is_known_member
from ._errors import MewsValidationError
from ._models import (
    UNSET,
    ActivityState,
    TimeInterval,
    VoucherCodeParameters,
    VoucherParameters,
    VoucherType,
    VoucherUpdate,
    to_enum,
    to_uuid,
)

T = TypeVar("T")
Errors = list[tuple[str, str]]

_NEEDS_COMPANY = (VoucherType.PARTNER_COMPANY, VoucherType.TRAVEL_AGENCY)
_PUBLIC = VoucherType.PUBLIC
_PARTNER_COMPANY = VoucherType.PARTNER_COMPANY
_TRAVEL_AGENCY = VoucherType.TRAVEL_AGENCY


def _raise_if(errors: Errors) -> None:
    if errors:
        raise MewsValidationError(errors)


def encodable(text: str) -> bool:
    """Return whether *text* can be sent: it has no lone surrogate, so it encodes as UTF-8."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text(errors: Errors, path: str, value: object, maximum: int, *, minimum: int = 0) -> None:
    if not isinstance(value, str):
        errors.append((path, f"expected a string, got {type(value).__name__}"))
    elif not encodable(value):
        errors.append((path, f"cannot be sent: it holds a lone surrogate: {value!r}"))
    elif not minimum <= (length := text_length(value)) <= maximum:
        errors.append((path, f"must be {minimum}..{maximum} characters, got {length}"))


def _rate_ids(errors: Errors, path: str, rate_ids: Sequence[uuid.UUID]) -> None:
    if len(rate_ids) > MAX_ASSIGNED_RATE_IDS:
        errors.append((path, f"at most {MAX_ASSIGNED_RATE_IDS} rates, got {len(rate_ids)}"))
    repeated = [str(r) for r, n in Counter(rate_ids).items() if n > 1]
    if repeated:
        errors.append((path, f"rate ids must be unique; repeated: {', '.join(repeated)}"))


def _interval(errors: Errors, path: str, start: object, end: object) -> None:
    if isinstance(start, datetime) and isinstance(end, datetime) and end < start:
        errors.append((path, f"end {end.isoformat()} is before start {start.isoformat()}"))


def _type(errors: Errors, path: str, value: object) -> None:
    if not isinstance(value, VoucherType) or not is_known_member(value):
        errors.append((path, f"must be a VoucherType, got {value!r}"))


def materialize(items: Iterable[T], name: str, kind: type[Any]) -> list[T]:
    """Return *items* as a list, refusing a lone string or model where a list belongs."""
    if isinstance(items, str | bytes | kind):
        raise MewsValidationError([(name, f"expected an iterable of {kind.__name__}")])
    return list(items)


def _repeat(errors: Errors, path: str, first: str, what: str) -> None:
    # A lookup by key could not tell the two apart, so an add in doubt could not be settled
    # exactly once (README, "Exactly once"): refused before anything is sent.
    errors.append((path, f"repeats {first}: {what} must be unique within one add"))


def validate_voucher_parameters(
    items: Sequence[object], name: str = "params", *, unique_keys: bool = True
) -> None:
    """Check every item of a ``vouchers.add`` input.

    With *unique_keys*, an external identifier repeated within a service is refused too
    (sync checks its keys itself, and says why in its own words).
    """
    index_voucher_parameters(items, name, unique_keys=unique_keys)


def index_voucher_parameters(
    items: Sequence[object], name: str = "params", *, unique_keys: bool = True
) -> dict[int, dict[str, int]]:
    """Check every item as :func:`validate_voucher_parameters` does; return their keys.

    The index holds, for each service (by its UUID's int), each external identifier at
    the first position that holds it: sync's index, built in the same loop.
    """
    errors: Errors = []
    known_types = VoucherType._value2member_map_
    # External identifiers seen, by service (its UUID's int: UUID.__hash__ is Python code);
    # dicts of strings and ints are not tracked by the garbage collector, tuples would be.
    keys: dict[int, dict[str, int]] = {}
    service: uuid.UUID | None = None  # the service of *seen*, most often every item's
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        if type(item) is not VoucherParameters and not isinstance(item, VoucherParameters):
            errors.append(
                (f"{name}[{i}]", f"expected VoucherParameters, got {type(item).__name__}")
            )
            continue
        # The common case, every rule met, runs inline; a broken rule is described below.
        # (This loop runs for every item of every add and sync: each test is the cheapest
        # that decides the common case, a public voucher with a short ASCII name.)
        text = item.name
        if type(text) is not str or not text.isascii() or not 0 < len(text) <= MAX_NAME_LENGTH:
            _text(errors, f"{name}[{i}].name", text, MAX_NAME_LENGTH, minimum=1)
        kind = item.type
        if kind is not _PUBLIC:
            if known_types.get(kind._value_) is not kind:
                _type(errors, f"{name}[{i}].type", kind)
            if (kind is _PARTNER_COMPANY or kind is _TRAVEL_AGENCY) and item.company_id is None:
                errors.append((f"{name}[{i}].company_id", f"required for type {kind.value}"))
        rates = item.assigned_rate_ids
        if rates is not None and (
            len(rates) > MAX_ASSIGNED_RATE_IDS or (len(rates) > 1 and len(set(rates)) != len(rates))
        ):
            _rate_ids(errors, f"{name}[{i}].assigned_rate_ids", rates)
        start = item.occupiable_interval_start_utc
        if start is not None:
            end = item.occupiable_interval_end_utc
            if end is not None and end < start:
                _interval(errors, f"{name}[{i}].occupiable_interval_end_utc", start, end)
        ext = item.external_identifier
        if ext is None:
            continue
        if type(ext) is not str or not ext.isascii() or len(ext) > MAX_EXTERNAL_IDENTIFIER_LENGTH:
            _text(errors, f"{name}[{i}].external_identifier", ext, MAX_EXTERNAL_IDENTIFIER_LENGTH)
            if not isinstance(ext, str):
                continue
        if item.service_id is not service:
            service = item.service_id
            seen = keys.setdefault(service.int, {})
        first = seen.setdefault(ext, i)
        if first != i and unique_keys:
            _repeat(
                errors,
                f"{name}[{i}].external_identifier",
                f"{name}[{first}].external_identifier",
                "an external identifier of a service",
            )
    _raise_if(errors)
    return keys


def validate_voucher_updates(items: Sequence[object], name: str = "updates") -> None:
    """Check every item of a ``vouchers.update`` input."""
    errors: Errors = []
    first_seen: dict[uuid.UUID, int] = {}
    for i, item in enumerate(items):
        at = f"{name}[{i}]"
        if not isinstance(item, VoucherUpdate):
            errors.append((at, f"expected VoucherUpdate, got {type(item).__name__}"))
            continue
        if item.voucher_id in first_seen:
            # Two updates of one voucher could land in different chunks and race.
            errors.append(
                (f"{at}.voucher_id", f"repeats {name}[{first_seen[item.voucher_id]}].voucher_id")
            )
        else:
            first_seen[item.voucher_id] = i
        if item.name is not UNSET:
            _text(errors, f"{at}.name", item.name, MAX_NAME_LENGTH, minimum=1)
        if item.type is not UNSET:
            _type(errors, f"{at}.type", item.type)
            if item.type in _NEEDS_COMPANY and item.company_id is None:
                errors.append((f"{at}.company_id", f"cannot be cleared for type {item.type.value}"))
        rate_ids = item.assigned_rate_ids
        if rate_ids is not UNSET and rate_ids is not None:
            _rate_ids(errors, f"{at}.assigned_rate_ids", rate_ids)
        _interval(
            errors,
            f"{at}.occupiable_interval_end_utc",
            item.occupiable_interval_start_utc,
            item.occupiable_interval_end_utc,
        )
        ext = item.external_identifier
        if ext is not UNSET and ext is not None:
            _text(errors, f"{at}.external_identifier", ext, MAX_EXTERNAL_IDENTIFIER_LENGTH)
    _raise_if(errors)


def validate_voucher_code_parameters(
    items: Sequence[object], name: str = "params", *, unique_keys: bool = True
) -> None:
    """Check every item of a ``voucher_codes.add`` input.

    With *unique_keys*, a code value repeated for one voucher is refused too (sync checks
    its codes itself).
    """
    errors: Errors = []
    keys: dict[tuple[uuid.UUID, str], int] = {}
    for i, item in enumerate(items):
        at = f"{name}[{i}]"
        if not isinstance(item, VoucherCodeParameters):
            errors.append((at, f"expected VoucherCodeParameters, got {type(item).__name__}"))
            continue
        _text(errors, f"{at}.value", item.value, MAX_VOUCHER_CODE_VALUE_LENGTH, minimum=1)
        value = item.value
        first = i
        if unique_keys and isinstance(value, str):
            first = keys.setdefault((item.voucher_id, value), i)
        if first != i:
            _repeat(errors, f"{at}.value", f"{name}[{first}].value", "a voucher's code value")
        _interval(errors, f"{at}.validity_end_utc", item.validity_start_utc, item.validity_end_utc)
    _raise_if(errors)


def to_optional_uuid(value: object, name: str, errors: Errors) -> uuid.UUID | None:
    """Convert an optional id (``enterprise_id``), adding a path-named error if malformed."""
    if value is None:
        return None
    try:
        return to_uuid(value, name)
    except MewsValidationError as exc:
        errors.extend(exc.errors)
        return None


def enterprise_id_of(value: object) -> uuid.UUID | None:
    """Convert a write's optional ``enterprise_id``; raise MewsValidationError if malformed."""
    return None if value is None else to_uuid(value, "enterprise_id")


def to_uuid_list(values: Iterable[object] | None, name: str, errors: Errors) -> list[uuid.UUID]:
    """Convert ids to UUIDs, adding a path-named error for each malformed one."""
    if values is None:
        return []
    if isinstance(values, str | bytes | uuid.UUID):
        errors.append((name, "expected a list of ids, got a single value"))
        return []
    result = []
    for i, value in enumerate(values):
        try:
            result.append(to_uuid(value, f"{name}[{i}]"))
        except MewsValidationError as exc:
            errors.extend(exc.errors)
    return result


def to_str_list(values: Iterable[object] | None, name: str, errors: Errors) -> list[str]:
    """Check a list of strings (codes, external identifiers), adding path-named errors."""
    if values is None:
        return []
    if isinstance(values, str | bytes):
        errors.append((name, "expected a list of strings, got a single string"))
        return []
    result = []
    for i, value in enumerate(values):
        if not isinstance(value, str):
            errors.append((f"{name}[{i}]", f"expected a string, got {type(value).__name__}"))
        elif not encodable(value):
            errors.append((f"{name}[{i}]", f"cannot be sent: it holds a lone surrogate: {value!r}"))
        else:
            result.append(value)
    return result


def to_activity_states(
    values: Iterable[object] | None, name: str, errors: Errors
) -> list[ActivityState]:
    """Convert activity states given as members or wire values, adding path-named errors."""
    if values is None:
        return []
    if isinstance(values, str | ActivityState):
        errors.append((name, "expected a list of activity states, got a single value"))
        return []
    result = []
    for i, value in enumerate(values):
        try:
            result.append(to_enum(ActivityState, value, f"{name}[{i}]"))
        except MewsValidationError as exc:
            errors.extend(exc.errors)
    return result


def check_interval(value: object, name: str, errors: Errors) -> TimeInterval | None:
    """Check an ``updated_utc`` filter: a TimeInterval whose end is not before its start."""
    if value is None:
        return None
    if not isinstance(value, TimeInterval):
        errors.append((name, f"expected a TimeInterval, got {type(value).__name__}"))
        return None
    if value.end_utc < value.start_utc:
        errors.append(
            (
                f"{name}.end_utc",
                f"end {value.end_utc.isoformat()} is before start {value.start_utc.isoformat()}",
            )
        )
        return None
    return value
