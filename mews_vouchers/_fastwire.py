"""Answers read by the thousand, from the body bytes straight to models, with msgspec.

The converter (``_converter``) states the wire rules; this module reads the common case of
the answers that come by the thousand (vouchers, codes, assignments) faster, and leaves
everything else to the converter:

- each bulk model gets a msgspec struct *declared from the model itself*
  (``msgspec.defstruct`` over ``attrs.fields``: no source code is generated), its keys
  named by the converter's :func:`~mews_vouchers._converter.pascal`; the structs are not
  tracked by the garbage collector (``gc=False``) and only live while a page is read;
- the ids that repeat across a page (service, enterprise, company, voucher, rate) are
  declared ``object``: msgspec hands a value of a type it does not know to ``dec_hook``,
  which returns the UUID of :func:`~mews_vouchers._ids.parse_uuid`'s cache, so a page
  of 1000 vouchers of one service holds one service id, not 1000 tracked copies;
- one pass over each list then moves datetimes to UTC (:func:`~._converter.to_utc`) and
  settles ``IsActive`` / ``ActivityState`` (:func:`~._converter.settle_activity`), each
  only when a record needs it; ``msgspec.convert`` builds the attrs models in C;
- the other lists of a page (rates, companies) are kept as raw JSON and given to the
  converter, as is any body the structs cannot take: a missing or mistyped field, an
  enum value added after this release, a body that is not a JSON object.  The converter
  then reads it by its rules, or raises the error the requester reports as a malformed
  response.

``tests/engine/test_fastwire.py`` checks that for every input both ways give equal models or
both refuse.  One known, deliberate difference: msgspec skips the values of keys it does
not read without looking inside, so a body whose only flaw sits in such a value (bytes
that are not UTF-8, a number beyond a double) is read here where orjson refuses it.
"""

from __future__ import annotations

import enum
import typing
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import attrs
import msgspec
import orjson

from ._converter import ACTIVITY_FIELDS, pascal, settle_activity, structure, to_utc
from ._envelopes import (
    VoucherCodeResult,
    VoucherWriteResult,
)
from ._ids import CACHED, parse_uuid
from ._models import (
    Company,
    Rate,
    Voucher,
    VoucherAssignment,
    VoucherCode,
    VouchersResult,
)

__all__ = ["Lazy", "LazyPage", "decode", "decode_lazily", "loads_object"]

T = TypeVar("T")

# Ids that repeat across the records of a page: read through parse_uuid's cache.
SHARED_IDS = frozenset(
    {"service_id", "enterprise_id", "company_id", "travel_agency_id", "voucher_id", "rate_id"}
)
_NONE = type(None)


def loads_object(body: bytes) -> dict[str, Any]:
    """Decode *body* as a JSON object (orjson.JSONDecodeError or TypeError otherwise)."""
    data = orjson.loads(body)
    if not isinstance(data, dict):
        raise TypeError(f"expected a JSON object, got {type(data).__name__}")
    return data


def _shared_id(kind: Any, value: Any, cached: Callable[[str], uuid.UUID | None] = CACHED) -> Any:
    """msgspec's ``dec_hook``: the id in a field declared ``object``.

    The cache is read here first: one Python call per id instead of two.  A value that is
    no string misses it (or, unhashable, raises TypeError) and parse_uuid refuses it.
    """
    return cached(value) or parse_uuid(value)


def _base_type(t: Any) -> Any:
    """*t* without its ``| None``."""
    args = [arg for arg in typing.get_args(t) if arg is not _NONE]
    return args[0] if len(args) == 1 and _NONE in typing.get_args(t) else t


def _wire_type(t: Any, name: str) -> Any:
    """The type msgspec reads for a model field of type *t*."""
    if _base_type(t) is not t:
        return _wire_type(_base_type(t), name) | None
    if t is uuid.UUID:
        return object if name in SHARED_IDS else uuid.UUID
    if t in (str, bool, datetime) or (isinstance(t, type) and issubclass(t, enum.Enum)):
        return t
    raise TypeError(f"no fast rule for {name}: {t}")


def _vouchers_need_care(records: list[Any]) -> bool:
    """Whether a voucher has a datetime outside UTC or leaves IsActive/ActivityState out."""
    for r in records:
        if (
            r.is_active is None
            or r.activity_state is None
            or r.created_utc.tzinfo is not UTC
            or r.updated_utc.tzinfo is not UTC
            or ((d := r.occupiable_interval_start_utc) is not None and d.tzinfo is not UTC)
            or ((d := r.occupiable_interval_end_utc) is not None and d.tzinfo is not UTC)
        ):
            return True
    return False


def _codes_need_care(records: list[Any]) -> bool:
    """Whether a code has a datetime outside UTC or leaves IsActive/ActivityState out."""
    for r in records:
        if (
            r.is_active is None
            or r.activity_state is None
            or ((d := r.validity_start_utc) is not None and d.tzinfo is not UTC)
            or ((d := r.validity_end_utc) is not None and d.tzinfo is not UTC)
            or ((d := r.created_utc) is not None and d.tzinfo is not UTC)
            or ((d := r.updated_utc) is not None and d.tzinfo is not UTC)
        ):
            return True
    return False


def _never(records: list[Any]) -> bool:
    return False


# Models built at a time as a Lazy is iterated: few enough that they die young when the
# reader drops them, many enough that the call into msgspec costs nothing per model.
_SLICE = 256


class Lazy(Sequence[T]):
    """Records of a page as msgspec decoded them, each made a model only when it is read.

    ``iter_all`` and sync read pages this way: a decoded record is an object the garbage
    collector does not track (of what it holds, only its own id is; the other ids are
    shared), where its model would be one more that it does and walks while the page
    waits for its reader; models built a slice at a time as the reader goes, and dropped
    by it, die young and cheap.  Sync compares the :attr:`records` themselves and builds
    the few models its plan holds.  Records that the converter read (the fallback) are
    models already: *build* is then ``list``.
    """

    __slots__ = ("_build", "records")

    def __init__(self, records: list[Any], build: Callable[[list[Any]], list[T]]) -> None:
        self.records = records
        """Decoded, settled records: the models' fields under the models' names."""
        self._build = build

    def __len__(self) -> int:
        return len(self.records)

    @typing.overload
    def __getitem__(self, index: int) -> T: ...

    @typing.overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return self._build(self.records[index])
        return self._build([self.records[index]])[0]

    def __iter__(self) -> Iterator[T]:
        records, build = self.records, self._build
        for start in range(0, len(records), _SLICE):
            yield from build(records[start : start + _SLICE])

    def at(self, positions: list[int]) -> list[T]:
        """Return the models of the records at *positions*, built in one call."""
        records = self.records
        return self._build([records[i] for i in positions])


@attrs.frozen
class _Bulk:
    """How the records of one bulk model are read: their struct and the pass after it.

    *needs_care* is written out by hand for each model (a loop reading named fields costs
    a third of one reading them by name from a list); ``tests/engine/test_fastwire.py`` checks
    that it looks at every datetime and activity field the model has.
    """

    model: type[Any]
    struct: type[msgspec.Struct]
    needs_care: Callable[[list[Any]], bool]
    datetimes: tuple[str, ...]
    settled: bool

    @classmethod
    def of(cls, model: type[Any], needs_care: Callable[[list[Any]], bool]) -> _Bulk:
        """Declare the struct of *model* from its attrs fields."""
        hints = typing.get_type_hints(model)
        names = [field.name for field in attrs.fields(model)]
        settled = set(ACTIVITY_FIELDS) <= set(names)
        fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
        for field in attrs.fields(model):
            wire = _wire_type(hints[field.name], field.name)
            # Absent or null is allowed where the model allows None, has a default, or
            # the field is one the converter derives from another.
            optional = (
                _NONE in typing.get_args(hints[field.name])
                or field.default is not attrs.NOTHING
                or (settled and field.name in ACTIVITY_FIELDS)
            )
            fields.append((field.name, wire | None, None) if optional else (field.name, wire))
        struct = msgspec.defstruct(
            f"{model.__name__}Wire", fields, kw_only=True, rename=pascal, gc=False
        )
        datetimes = tuple(n for n in names if _base_type(hints[n]) is datetime)
        return cls(model, struct, needs_care, datetimes, settled)

    def settle(self, records: list[Any] | None) -> list[Any]:
        """Apply the rules msgspec cannot state to decoded structs, in place; return them."""
        if not records:
            return []
        if self.needs_care(records):
            for record in records:
                for name in self.datetimes:
                    value = getattr(record, name)
                    if value is not None and value.tzinfo is not UTC:
                        setattr(record, name, to_utc(value))
                if self.settled:
                    record.is_active, record.activity_state = settle_activity(
                        record.is_active, record.activity_state
                    )
        return records

    def build(self, records: list[Any]) -> list[Any]:
        """Build the models of settled structs, in C."""
        return msgspec.convert(records, list[self.model], from_attributes=True)  # type: ignore[name-defined]

    def models(self, records: list[Any] | None) -> list[Any]:
        """Turn decoded structs into models, after the rules msgspec cannot state."""
        return self.build(self.settle(records)) if records else []

    def lazy(self, records: list[Any] | None) -> Lazy[Any]:
        """Settle decoded structs now; build their models only as they are read."""
        return Lazy(self.settle(records), self.build)


_BULK = {
    Voucher: _Bulk.of(Voucher, _vouchers_need_care),
    VoucherCode: _Bulk.of(VoucherCode, _codes_need_care),
    VoucherAssignment: _Bulk.of(VoucherAssignment, _never),
}


def _list_item(t: Any) -> Any:
    return typing.get_args(t)[0] if typing.get_origin(t) is list else None


@attrs.frozen
class _Envelope:
    """How one answer is read: its struct, and how each of its fields becomes a value."""

    result: type[Any]
    decoder: msgspec.json.Decoder[Any]
    readers: tuple[tuple[str, Callable[[Any], Any]], ...]

    @classmethod
    def of(cls, result: type[Any], *, lazily: type[Any] | None = None) -> _Envelope:
        """Declare the struct of the answer *result*: bulk lists as structs, others raw.

        With *lazily* (a class with *result*'s fields), a list of vouchers is read as a
        :class:`Lazy` and the answer is an instance of that class.
        """
        hints = typing.get_type_hints(result)
        fields: list[tuple[str, Any, Any]] = []
        readers: list[tuple[str, Callable[[Any], Any]]] = []
        for field in attrs.fields(result):
            t = hints[field.name]
            bulk = _BULK.get(_list_item(t))
            if bulk is not None:
                fields.append((field.name, list[bulk.struct] | None, None))  # type: ignore[name-defined]
                lazy = lazily is not None and bulk.model is Voucher
                readers.append((field.name, bulk.lazy if lazy else bulk.models))
            elif t == uuid.UUID | None:
                fields.append((field.name, uuid.UUID | None, None))
                readers.append((field.name, _same))
            else:
                # Few per page (rates, companies): the converter reads them as it would.
                fields.append((field.name, msgspec.Raw, msgspec.Raw()))
                readers.append((field.name, _by_converter(t)))
        struct = msgspec.defstruct(
            f"{result.__name__}Wire", fields, kw_only=True, rename=pascal, gc=False
        )
        return cls(
            result=result if lazily is None else lazily,
            decoder=msgspec.json.Decoder(struct, dec_hook=_shared_id),
            readers=tuple(readers),
        )

    def read(self, body: bytes) -> Any:
        """Read *body*; any exception means: leave it to the converter."""
        page = self.decoder.decode(body)
        kwargs = {name: read(getattr(page, name)) for name, read in self.readers}
        return self.result(**{k: v for k, v in kwargs.items() if v is not _ABSENT})


_ABSENT = object()


def _same(value: Any) -> Any:
    return value


def _by_converter(t: Any) -> Callable[[msgspec.Raw], Any]:
    def read(raw: msgspec.Raw) -> Any:
        return structure(orjson.loads(memoryview(raw)), t) if raw else _ABSENT

    return read


_ENVELOPES: dict[type[Any], _Envelope] = {
    result: _Envelope.of(result)
    for result in (VouchersResult, VoucherWriteResult, VoucherCodeResult)
}


@attrs.frozen(kw_only=True)
class LazyPage:
    """A getAll page as ``iter_all`` and sync read it: a VouchersResult, vouchers :class:`Lazy`."""

    vouchers: Lazy[Voucher] = attrs.field(factory=lambda: Lazy([], list))
    voucher_codes: list[VoucherCode] = attrs.field(factory=list)
    voucher_assignments: list[VoucherAssignment] = attrs.field(factory=list)
    rates: list[Rate] = attrs.field(factory=list)
    companies: list[Company] = attrs.field(factory=list)
    cursor: uuid.UUID | None = None


_LAZY_PAGE = _Envelope.of(VouchersResult, lazily=LazyPage)


def decode_lazily(body: bytes) -> LazyPage:
    """Read the getAll page *body*, its vouchers built only as they are read.

    Raises what ``decode(body, VouchersResult)`` raises for a body it cannot read.
    """
    try:
        return typing.cast(LazyPage, _LAZY_PAGE.read(body))
    except Exception:  # anything unusual: the converter decides
        pass
    page = structure(loads_object(body), VouchersResult)
    fields = attrs.asdict(page, recurse=False)
    return LazyPage(**{**fields, "vouchers": Lazy(page.vouchers, list)})


def decode(body: bytes, cls: type[T]) -> T:
    """Read the JSON object *body* as *cls*, with the same result as the converter would.

    Raises what ``structure(loads_object(body), cls)`` raises for a body it cannot read.
    """
    envelope = _ENVELOPES.get(cls)
    if envelope is not None:
        try:
            return typing.cast(T, envelope.read(body))
        except Exception:  # anything unusual: the converter decides
            pass
    return structure(loads_object(body), cls)
