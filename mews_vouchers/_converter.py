"""The one cattrs converter that owns every wire rule.

Models know nothing of the wire; this module says how they travel:

- keys are PascalCase (``service_id`` <-> ``ServiceId``); unknown response keys are ignored;
- datetimes are read from ISO 8601 (``Z``, ``z`` or an offset; without one, UTC) and
  written as ``YYYY-MM-DDThh:mm:ssZ``; digits of a second beyond the microsecond round to
  the nearest microsecond, halves up (``.1234565`` -> ``.123457``, ``59.9999995`` -> the
  next second), as msgspec reads them, so that both ways of reading agree; UUIDs are
  strings on the wire, read by :func:`~mews_vouchers._ids.parse_uuid`; both are written
  by :func:`encode` (orjson with :data:`WIRE_OPTIONS`), the one way wire data becomes
  bytes (whole seconds: microseconds are dropped, not rounded);
- strings and booleans are JSON strings and booleans: nothing else is coerced into one;
- enums travel as their values; a value the server adds later reads as a stand-in
  member (see :func:`is_known_member`) instead of making the whole page unreadable;
- ``null`` lists read as empty lists; optional request fields that are ``None`` are left out;
- :class:`VoucherUpdate` fields are update values: ``UNSET`` -> ``null`` (not updated),
  any value -> ``{"Value": value}`` (``None`` -> ``{"Value": null}``, which clears it;
  but ``AssignedRateIds`` ``{"Value": null}`` is "not updated": rates clear with ``[]``);
- a voucher or code without ``IsActive`` takes it from ``ActivityState``, and the reverse
  (:func:`settle_activity`); a field whose type admits ``None`` may be absent (a code
  without ``Id``, as the older docs show some, reads with ``id=None``).

``_fastwire`` reads the models that come by the thousand straight from the body bytes
with msgspec; it follows these rules, leaves anything out of the ordinary to this
converter, and ``tests/engine/test_fastwire.py`` checks that the two read every input alike.

Leaf hooks (UUID, datetime, str, bool, enums, lists) are registered before the class hook
factory, which builds each class hook lazily on first use, so every class hook sees them.
"""

from __future__ import annotations

import enum
import re
import typing
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import attrs
import cattrs
import orjson
from cattrs.fns import identity
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._ids import parse_uuid
from ._models import UNSET, ActivityState, VoucherUpdate

T = TypeVar("T")

__all__ = [
    "ACTIVITY_FIELDS",
    "converter",
    "encode",
    "is_known_member",
    "parse_datetime",
    "settle_activity",
    "structure",
    "to_utc",
    "to_wire",
    "unstructure",
]

_new = object.__new__
_set = object.__setattr__


def pascal(name: str) -> str:
    """Return the PascalCase wire name of a snake_case field name."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


# --- leaf values -----------------------------------------------------------------------------


def _structure_uuid(value: Any, _: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if type(value) is not str:
        raise TypeError(f"expected a UUID string, got {type(value).__name__}")
    return parse_uuid(value)


def _structure_str(value: Any, _: Any) -> str:
    if type(value) is not str:
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _structure_bool(value: Any, _: Any = None) -> bool:
    if type(value) is not bool:
        raise TypeError(f"expected a boolean, got {type(value).__name__}")
    return value


# --- datetimes -------------------------------------------------------------------------------

_CACHE_LIMIT = 4096
_DATETIME_CACHE: dict[str, datetime] = {}
# Digits of a second past the sixth: a datetime holds microseconds.
_LONG_FRACTION = re.compile(r"[.,][0-9]{6}([0-9]+)")
_MICROSECOND = timedelta(microseconds=1)


def to_utc(value: datetime) -> datetime:
    """Return *value* in UTC; a naive datetime is taken as UTC already."""
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value.isoformat()} is outside the calendar in UTC") from None


def parse_datetime(text: str) -> datetime:
    """Parse an ISO 8601 datetime into an aware UTC datetime (naive input is taken as UTC).

    A second written with more than six decimals rounds to the nearest microsecond, halves
    up; a trailing lower-case ``z`` reads as ``Z``.
    """
    round_up = False
    try:
        if text[-1:] == "z":
            text = text[:-1] + "Z"
        extra = _LONG_FRACTION.search(text)
        if extra is not None:
            round_up = extra.group(1)[0] >= "5"
            text = text[: extra.start(1)] + text[extra.end(1) :]
        value = datetime.fromisoformat(text)
        if round_up:
            value += _MICROSECOND
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"not an ISO 8601 datetime: {text!r}") from None
    return to_utc(value)


def _datetime_miss(value: str) -> datetime:
    """Parse a datetime the cache does not hold yet, and remember it."""
    parsed = parse_datetime(value)
    if len(_DATETIME_CACHE) >= _CACHE_LIMIT:
        _DATETIME_CACHE.clear()
    _DATETIME_CACHE[value] = parsed
    return parsed


def _structure_datetime(value: Any, _: Any) -> datetime:
    if type(value) is str:
        cached = _DATETIME_CACHE.get(value)
        return cached if cached is not None else _datetime_miss(value)
    if isinstance(value, datetime):
        return parse_datetime(value.isoformat())
    raise TypeError(f"expected a datetime string, got {type(value).__name__}")


def _wire_datetime(value: datetime) -> datetime:
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r} cannot be sent")
    return value.astimezone(UTC)


WIRE_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_OMIT_MICROSECONDS
"""How wire data becomes JSON: UTC datetimes end in ``Z``, in whole seconds."""


def encode(data: Any) -> bytes:
    """Encode unstructured wire data as the JSON bytes the API receives."""
    return orjson.dumps(data, option=WIRE_OPTIONS)


def to_wire(obj: Any) -> Any:
    """Return a model as the plain JSON value the API sees (strings for ids and datetimes)."""
    return orjson.loads(encode(converter.unstructure(obj)))


# --- enums -----------------------------------------------------------------------------------

E = TypeVar("E", bound=enum.Enum)
_STAND_INS: dict[tuple[type[enum.Enum], Any], enum.Enum] = {}


def _stand_in(cls: type[E], value: Any) -> E:
    """Return a stand-in member of *cls* for a value the server added after this release."""
    key = (cls, value)
    member = _STAND_INS.get(key)
    if member is None:
        member = _new(cls)
        _set(member, "_value_", value)
        _set(member, "_name_", f"UNKNOWN_{value}")
        _set(member, "_sort_order_", len(cls.__members__))
        _STAND_INS[key] = member
    return typing.cast(E, member)


def is_known_member(member: enum.Enum) -> bool:
    """Return whether *member* is a real member of its enum, not a stand-in read from the wire."""
    return type(member)._value2member_map_.get(member._value_) is member


def _enum_structure_factory(cls: type[E]) -> Callable[[Any, Any], E]:
    members = cls._value2member_map_

    def structure_enum(value: Any, _: Any) -> E:
        if type(value) is not str:
            raise TypeError(f"expected a {cls.__name__} string, got {type(value).__name__}")
        member = members.get(value)
        return typing.cast(E, member) if member is not None else _stand_in(cls, value)

    return structure_enum


# --- the converter ---------------------------------------------------------------------------

converter = cattrs.Converter(detailed_validation=False)

# UUIDs and datetimes are handed to the encoder as they are: orjson writes them in Rust, a
# canonical UUID string and ``YYYY-MM-DDThh:mm:ssZ`` (WIRE_OPTIONS), many times faster than
# str() and strftime() in Python.  The hook only makes sure a datetime is aware UTC.
converter.register_structure_hook(uuid.UUID, _structure_uuid)
# cattrs' own identity: its generated hooks then read the field inline, without a call.
converter.register_unstructure_hook(uuid.UUID, identity)
converter.register_structure_hook(datetime, _structure_datetime)
converter.register_unstructure_hook(datetime, _wire_datetime)
converter.register_structure_hook(str, _structure_str)
converter.register_structure_hook(bool, _structure_bool)
converter.register_structure_hook_factory(
    lambda t: isinstance(t, type) and issubclass(t, enum.Enum), _enum_structure_factory
)
converter.register_unstructure_hook_factory(
    # _value_ is the plain attribute behind the (slow, descriptor-based) .value property.
    lambda t: isinstance(t, type) and issubclass(t, enum.Enum),
    lambda _: lambda m: m._value_,
)


def _is_optional_plain(t: Any) -> bool:
    """Whether *t* is ``X | None`` for an X the encoder writes as it is (an id, a text)."""
    args = typing.get_args(t)
    return len(args) == 2 and type(None) in args and (uuid.UUID in args or str in args)


# cattrs' hook for an optional field is a Python call per value; these need none.
converter.register_unstructure_hook_factory(_is_optional_plain, lambda _: identity)


def _is_list(t: Any) -> bool:
    return typing.get_origin(t) is list


def _list_structure_factory(t: Any) -> Callable[[Any, Any], list[Any]]:
    (item_type,) = typing.get_args(t)
    item_hook = converter.get_structure_hook(item_type)

    def structure_list(value: Any, _: Any) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise TypeError(f"expected a list, got {type(value).__name__}")
        return [item_hook(item, item_type) for item in value]

    return structure_list


def _is_sequence(t: Any) -> bool:
    return typing.get_origin(t) in (list, tuple)


def _sequence_unstructure_factory(t: Any) -> Callable[[Any], list[Any]]:
    item_type = typing.get_args(t)[0]
    if item_type in (uuid.UUID, str):
        return list  # the encoder writes ids and strings as they are
    item_hook = converter.get_unstructure_hook(item_type)
    return lambda values: [item_hook(v) for v in values]


converter.register_structure_hook_factory(_is_list, _list_structure_factory)
converter.register_unstructure_hook_factory(_is_sequence, _sequence_unstructure_factory)


# --- models ----------------------------------------------------------------------------------

ACTIVITY_FIELDS = ("is_active", "activity_state")
"""The two fields that stand in for each other (see :func:`settle_activity`)."""


def settle_activity(
    is_active: bool | None, state: ActivityState | None
) -> tuple[bool, ActivityState]:
    """Fill in whichever of ``IsActive`` and ``ActivityState`` the server left out.

    The docs deprecate ``ActivityState`` for ``IsActive``, yet their own examples show
    some records with only the first: each stands in for the other.  Raises KeyError when
    both are missing.
    """
    if is_active is None:
        if state is None:
            raise KeyError("IsActive")
        is_active = state is ActivityState.ACTIVE
    if state is None:
        state = ActivityState.ACTIVE if is_active else ActivityState.DELETED
    return is_active, state


def _admits_none(t: Any) -> bool:
    return type(None) in typing.get_args(t)


def _class_structure_factory(cls: type[Any]) -> Callable[[Any, Any], Any]:
    fields = attrs.fields(cls)
    hints = typing.get_type_hints(cls)
    overrides = {f.name: override(rename=pascal(f.name)) for f in fields}
    base = make_dict_structure_fn(cls, converter, **overrides)  # type: ignore[arg-type]
    # A required field whose type admits None: the server may leave it out.
    may_be_absent = [
        pascal(f.name) for f in fields if f.default is attrs.NOTHING and _admits_none(hints[f.name])
    ]
    activity = set(ACTIVITY_FIELDS) <= {f.name for f in fields}
    if not may_be_absent and not activity:
        return base

    def structure_model(value: Any, t: Any) -> Any:
        if not isinstance(value, dict):
            raise TypeError(f"expected an object for {cls.__name__}, got {type(value).__name__}")
        patch: dict[str, Any] = {key: None for key in may_be_absent if key not in value}
        active, state = value.get("IsActive"), value.get("ActivityState")
        if activity and (active is None or state is None):
            settled = settle_activity(
                None if active is None else _structure_bool(active),
                None if state is None else converter.structure(state, ActivityState),
            )
            patch["IsActive"], patch["ActivityState"] = settled[0], settled[1]._value_
        return base({**value, **patch} if patch else value, t)

    return structure_model


def _class_unstructure_factory(cls: type[Any]) -> Callable[[Any], dict[str, Any]]:
    overrides = {
        # Optional request fields that are None are left out; defaults that are values
        # (an Extent's False flags) are always sent.
        field.name: override(rename=pascal(field.name), omit_if_default=field.default is None)
        for field in attrs.fields(cls)
    }
    return make_dict_unstructure_fn(cls, converter, **overrides)  # type: ignore[arg-type]


converter.register_structure_hook_factory(attrs.has, _class_structure_factory)
converter.register_unstructure_hook_factory(attrs.has, _class_unstructure_factory)


# --- update values -------------------------------------------------------------------------------

_UPDATE_KEYS = [
    (field.name, pascal(field.name))
    for field in attrs.fields(VoucherUpdate)
    if field.name != "voucher_id"
]


def _update_value(value: Any) -> Any:
    """The ``Value`` of an update wrapper: ids, strings and datetimes go to the encoder."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, datetime):
        return _wire_datetime(value)
    return value


def _unstructure_update(update: VoucherUpdate) -> dict[str, Any]:
    wire: dict[str, Any] = {"VoucherId": update.voucher_id}
    for name, key in _UPDATE_KEYS:
        value = getattr(update, name)
        wire[key] = None if value is UNSET else {"Value": _update_value(value)}
    return wire


def _structure_update(value: Any, _: Any) -> VoucherUpdate:
    if not isinstance(value, dict):
        raise TypeError(f"expected an object for VoucherUpdate, got {type(value).__name__}")
    kwargs: dict[str, Any] = {"voucher_id": value["VoucherId"]}
    for name, key in _UPDATE_KEYS:
        wrapper = value.get(key)
        if wrapper is None:
            continue  # absent or null: not updated
        if not isinstance(wrapper, dict) or "Value" not in wrapper:
            raise TypeError(f'{key} must be null or {{"Value": ...}}')
        if wrapper["Value"] is None and name == "assigned_rate_ids":
            continue  # the docs: "or null should it not be updated"
        kwargs[name] = wrapper["Value"]
    # The model's own converters parse ids, datetimes and the type.
    return VoucherUpdate(**kwargs)


converter.register_unstructure_hook(VoucherUpdate, _unstructure_update)
converter.register_structure_hook(VoucherUpdate, _structure_update)


def structure(data: Any, cls: type[T]) -> T:
    """Structure wire data into *cls* with the one converter."""
    return converter.structure(data, cls)


def unstructure(obj: Any) -> dict[str, Any]:
    """Unstructure a model into its wire object with the one converter."""
    return typing.cast(dict[str, Any], converter.unstructure(obj))
