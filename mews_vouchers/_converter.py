"""The one cattrs converter that owns every wire rule.

Models know nothing of the wire; this module says how they travel:

- keys are PascalCase (``service_id`` <-> ``ServiceId``); unknown response keys are ignored;
- datetimes are read from ISO 8601 (``Z`` or an offset, up to 7 fractional digits) and
  written as ``YYYY-MM-DDThh:mm:ssZ``; UUIDs are strings on the wire; both are written by
  :func:`encode` (orjson with :data:`WIRE_OPTIONS`), the one way wire data becomes bytes;
- enums travel as their values; a value the server adds later reads as a stand-in member
  (see :func:`is_known_member`) instead of making the whole page unreadable;
- ``null`` lists read as empty lists; optional request fields that are ``None`` are left out;
- :class:`VoucherUpdate` fields are update values: ``UNSET`` -> ``null`` (not updated),
  any value -> ``{"Value": value}`` (``None`` -> ``{"Value": null}``, which clears it;
  but ``AssignedRateIds`` ``{"Value": null}`` is "not updated": rates clear with ``[]``);
- a voucher or code without ``IsActive`` takes it from ``ActivityState``, and the reverse;
  a code without ``Id`` (the older docs show some) reads with ``id=None``.

Leaf hooks (UUID, datetime, enums, lists) are registered before the class hook factory,
which builds each class hook lazily on first use, so every class hook sees them.
"""

from __future__ import annotations

import enum
import typing
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import attrs
import cattrs
import orjson
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._models import (
    UNSET,
    ActivityState,
    Voucher,
    VoucherAssignment,
    VoucherCode,
    VoucherCodeParameters,
    VoucherParameters,
    VoucherUpdate,
)

T = TypeVar("T")

__all__ = ["converter", "encode", "is_known_member", "structure", "to_wire", "unstructure"]


def pascal(name: str) -> str:
    """Return the PascalCase wire name of a snake_case field name."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


# --- UUIDs -----------------------------------------------------------------------------------

_new = object.__new__
_set = object.__setattr__
_UNKNOWN_SAFETY = uuid.SafeUUID.unknown
# Ids that repeat across a page (service, enterprise, company, rate) are parsed once; the cache
# is cleared when full so a long stream cannot grow it without bound.
_UUID_CACHE: dict[str, uuid.UUID] = {}
_CACHE_LIMIT = 4096


def parse_uuid(text: str) -> uuid.UUID:
    """Parse a canonical UUID string quickly, falling back to ``uuid.UUID`` for other forms.

    Only ASCII is read: int() would take any Unicode digit for a hex one.
    """
    if len(text) == 36 and text[8] == text[13] == text[18] == text[23] == "-" and text.isascii():
        # uuid.UUID(text) spends most of its time in checks that the canonical form
        # already passes; int() still refuses any non-hex character.
        value = _new(uuid.UUID)
        _set(value, "int", int(text.replace("-", ""), 16))
        _set(value, "is_safe", _UNKNOWN_SAFETY)
        return value
    if not text.isascii():
        raise ValueError(f"not a UUID: {text!r}")
    return uuid.UUID(text)


def _structure_uuid(value: Any, _: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str):
        raise TypeError(f"expected a UUID string, got {type(value).__name__}")
    return parse_uuid(value)


def structure_shared_uuid(value: Any, _: Any = None) -> uuid.UUID:
    """Structure an id that likely repeats across items, through a small cache."""
    cached = _UUID_CACHE.get(value)
    if cached is None:
        cached = _structure_uuid(value, None)
        if len(_UUID_CACHE) >= _CACHE_LIMIT:
            _UUID_CACHE.clear()
        _UUID_CACHE[value] = cached
    return cached


def structure_shared_opt_uuid(value: Any, _: Any = None) -> uuid.UUID | None:
    """Structure an optional id that likely repeats across items (``null`` reads as None)."""
    return None if value is None else structure_shared_uuid(value)


# --- datetimes -------------------------------------------------------------------------------

_DATETIME_CACHE: dict[str, datetime] = {}


def parse_datetime(text: str) -> datetime:
    """Parse an ISO 8601 datetime into an aware UTC datetime (naive input is taken as UTC)."""
    try:
        value = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValueError(f"not an ISO 8601 datetime: {text!r}") from None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value


def _datetime_miss(value: Any) -> datetime:
    """Parse a datetime the cache does not hold yet, and remember it."""
    if type(value) is not str:
        return _structure_datetime(value, None)
    parsed = parse_datetime(value)
    if len(_DATETIME_CACHE) >= _CACHE_LIMIT:
        _DATETIME_CACHE.clear()
    _DATETIME_CACHE[value] = parsed
    return parsed


def _structure_datetime(value: Any, _: Any) -> datetime:
    if isinstance(value, str):
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
        member = members.get(value)
        if member is not None:
            return typing.cast(E, member)
        if not isinstance(value, str):
            raise TypeError(f"expected a {cls.__name__} string, got {type(value).__name__}")
        return _stand_in(cls, value)

    return structure_enum


# --- the converter ---------------------------------------------------------------------------

converter = cattrs.Converter(detailed_validation=False)

# UUIDs and datetimes are handed to the encoder as they are: orjson writes them in Rust, a
# canonical UUID string and ``YYYY-MM-DDThh:mm:ssZ`` (WIRE_OPTIONS), many times faster than
# str() and strftime() in Python.  The hook only makes sure a datetime is aware UTC.
converter.register_structure_hook(uuid.UUID, _structure_uuid)
converter.register_unstructure_hook(uuid.UUID, lambda value: value)
converter.register_structure_hook(datetime, _structure_datetime)
converter.register_unstructure_hook(datetime, _wire_datetime)
converter.register_structure_hook_factory(
    lambda t: isinstance(t, type) and issubclass(t, enum.Enum), _enum_structure_factory
)
converter.register_unstructure_hook_factory(
    # _value_ is the plain attribute behind the (slow, descriptor-based) .value property.
    lambda t: isinstance(t, type) and issubclass(t, enum.Enum),
    lambda _: lambda m: m._value_,
)


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

# Fields holding ids that repeat across the items of a page.
_SHARED_IDS = frozenset(
    {"service_id", "enterprise_id", "company_id", "travel_agency_id", "voucher_id", "rate_id"}
)


def _class_structure_factory(cls: type[Any]) -> Callable[[Any, Any], Any]:
    overrides = {}
    for field in attrs.fields(cls):
        hook: Callable[[Any, Any], Any] | None = None
        if field.name in _SHARED_IDS:
            hook = structure_shared_opt_uuid if field.default is None else structure_shared_uuid
        overrides[field.name] = override(rename=pascal(field.name), struct_hook=hook)
    return make_dict_structure_fn(cls, converter, **overrides)  # type: ignore[arg-type]


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


# --- the hot path: response models read by the thousand ------------------------------------------

# The models read in bulk get a straight-line hook generated from their fields: each value is
# type-checked and converted inline, and the instance __dict__ is filled in one step, since
# attrs' keyword __init__ costs more than all the conversions together.  IsActive and
# ActivityState stand in for each other when the server leaves one out (the docs' own
# examples do).  Anything unexpected raises TypeError/ValueError/KeyError, which the
# requester reports as a malformed response.


def _hot_structure_fn(cls: type[T]) -> Callable[[Any, Any], T]:
    """Generate the straight-line structure hook of a hot response model.

    Every conversion is written inline (a Python call costs as much as the work it would
    do): cache lookups for repeating ids and datetimes, the canonical-UUID fast path, type
    checks, enum lookups.  Locals are named ``f_<field>``.
    """
    hints = typing.get_type_hints(cls)
    namespace: dict[str, Any] = {
        "cls": cls,
        "new": _new,
        "setattr": _set,
        "UUID": uuid.UUID,
        "UNKNOWN_SAFETY": _UNKNOWN_SAFETY,
        "uuid_slow": _structure_uuid,
        "shared_uuid": structure_shared_uuid,
        "uuid_cache": _UUID_CACHE,
        "dt_miss": _datetime_miss,
        "dt_cache": _DATETIME_CACHE,
        "ACTIVE": ActivityState.ACTIVE,
        "DELETED": ActivityState.DELETED,
    }

    def convert(name: str, key: str, kind: Any) -> list[str]:
        """Lines that turn ``v`` (not None) into ``f_<name>``."""
        out = f"f_{name}"
        if kind is uuid.UUID and name in _SHARED_IDS:
            return [
                f"{out} = uuid_cache.get(v) if type(v) is str else None",
                f"if {out} is None: {out} = shared_uuid(v, None)",
            ]
        if kind is uuid.UUID:
            # uuid.UUID() itself drops every hyphen and wants 32 hex digits; so do we.
            return [
                "h = v.replace('-', '') if type(v) is str else ''",
                "if len(h) == 32 and h.isascii():",
                f"    {out} = new(UUID)",
                f"    setattr({out}, 'int', int(h, 16))",
                f"    setattr({out}, 'is_safe', UNKNOWN_SAFETY)",
                "else:",
                f"    {out} = uuid_slow(v, None)",
            ]
        if kind is datetime:
            return [
                f"{out} = dt_cache.get(v) if type(v) is str else None",
                f"if {out} is None: {out} = dt_miss(v)",
            ]
        if isinstance(kind, type) and issubclass(kind, enum.Enum):
            namespace[f"members_{name}"] = kind._value2member_map_
            namespace[f"enum_{name}"] = _enum_structure_factory(kind)
            return [
                f"{out} = members_{name}.get(v) if type(v) is str else None",
                f"if {out} is None: {out} = enum_{name}(v, None)",
            ]
        if kind in (str, bool):
            return [
                f"if type(v) is not {kind.__name__}:",
                f"    raise TypeError('{key}: expected {kind.__name__}, got ' + type(v).__name__)",
                f"{out} = v",
            ]
        raise TypeError(f"no hot-path rule for {cls.__name__}.{name}: {kind}")

    def generate(fn: str, read: Callable[[str], str]) -> list[str]:
        """The source of one variant; *read* gives the expression that reads a key."""
        body = [
            f"def {fn}(o):",
            "    if type(o) is not dict:",
            f"        raise TypeError('expected an object for {cls.__name__}')",
        ]
        names = []
        for field in attrs.fields(typing.cast(Any, cls)):
            key, name = pascal(field.name), field.name
            names.append(name)
            args = typing.get_args(hints[name])
            optional = type(None) in args or field.default is not attrs.NOTHING
            kind = next((t for t in args if t is not type(None)), hints[name])
            lines = convert(name, key, kind)
            if name == "is_active":
                body += [
                    f"    v = {read(key)}",
                    "    if v is None:",
                    f"        state = {read('ActivityState')}",
                    "        if state is None:",
                    f"            raise KeyError({key!r})",
                    "        v = state == 'Active'",
                    *(f"    {line}" for line in lines),
                ]
            elif optional:
                body += [f"    v = {read(key)}", "    if v is None:", f"        f_{name} = None"]
                body += ["    else:", *(f"        {line}" for line in lines)]
            else:
                body += [f"    v = o[{key!r}]", *(f"    {line}" for line in lines)]
        if "activity_state" in names:
            body += [
                "    if f_activity_state is None:",
                "        f_activity_state = ACTIVE if f_is_active else DELETED",
            ]
        body += [
            "    obj = new(cls)",
            "    setattr(obj, '__dict__', {" + ", ".join(f"{n!r}: f_{n}" for n in names) + "})",
            "    return obj",
        ]
        return body

    # The API sends every key, nulls included, so the fast variant reads by subscript (far
    # cheaper than a .get call); an answer that leaves keys out takes the tolerant one.
    source = [
        *generate("fast", lambda key: f"o[{key!r}]"),
        *generate("tolerant", lambda key: f"o.get({key!r})"),
        "def structure(o, _=None):",
        "    try:",
        "        return fast(o)",
        "    except KeyError:",
        "        return tolerant(o)",
    ]
    exec(compile("\n".join(source), f"<mews_vouchers hot hook {cls.__name__}>", "exec"), namespace)
    return typing.cast(Callable[[Any, Any], T], namespace["structure"])


def _hot_unstructure_fn(cls: type[Any]) -> Callable[[Any], dict[str, Any]]:
    """Generate the straight-line unstructure hook of a request model sent by the thousand.

    Ids, strings and datetimes (aware UTC, as the models hold them) go to the encoder as
    they are, enums as their values, id tuples as lists; optional fields that are None are
    left out, as the cattrs-generated hooks of the other models do.
    """
    hints = typing.get_type_hints(cls)
    lines = ["def unstructure(o):"]
    required, optional = [], []
    for field in attrs.fields(cls):
        args = typing.get_args(hints[field.name])
        kind = next((t for t in args if t is not type(None)), hints[field.name])
        value = f"o.{field.name}"
        if isinstance(kind, type) and issubclass(kind, enum.Enum):
            value += "._value_"
        elif typing.get_origin(kind) is tuple:
            value = f"list({value})"
        elif kind not in (uuid.UUID, str, datetime):
            raise TypeError(f"no hot-path rule for {cls.__name__}.{field.name}: {kind}")
        if field.default is None:
            optional.append((field.name, pascal(field.name), value))
        else:
            required.append(f"{pascal(field.name)!r}: {value}")
    lines.append("    d = {" + ", ".join(required) + "}")
    for name, key, value in optional:
        lines += [f"    if o.{name} is not None:", f"        d[{key!r}] = {value}"]
    lines.append("    return d")
    namespace: dict[str, Any] = {}
    exec(compile("\n".join(lines), f"<mews_vouchers hot hook {cls.__name__}>", "exec"), namespace)
    return typing.cast(Callable[[Any], dict[str, Any]], namespace["unstructure"])


converter.register_unstructure_hook(VoucherParameters, _hot_unstructure_fn(VoucherParameters))
converter.register_unstructure_hook(
    VoucherCodeParameters, _hot_unstructure_fn(VoucherCodeParameters)
)
converter.register_structure_hook(Voucher, _hot_structure_fn(Voucher))
converter.register_structure_hook(VoucherCode, _hot_structure_fn(VoucherCode))
converter.register_structure_hook(VoucherAssignment, _hot_structure_fn(VoucherAssignment))


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
