"""The models: attrs classes with snake_case fields and no wire knowledge.

Input models (``VoucherParameters``, ``VoucherUpdate``, ``VoucherCodeParameters``,
``TimeInterval``) accept ids as ``UUID`` or UUID strings and datetimes as aware
``datetime`` or ISO 8601 strings with an offset; they always hold ``UUID`` and
aware UTC ``datetime``.  A malformed id or a naive datetime raises
:class:`~mews_vouchers.MewsValidationError` naming the field at construction.
Rules that span items (lengths, counts, consistency) are checked when a call is
made, so that one error lists every problem with the item's index.

Response models (``Voucher``, ``VoucherCode`` ...) are built by the SDK from
the API's answers and do no conversion, which keeps reading large pages cheap.
Like every model they are slotted: one object per voucher, no instance ``__dict__``
for the garbage collector to track beside it.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Final, Literal, TypeAlias, TypeVar

import attrs

from ._deprecations import warn_deprecated_extents
from ._errors import MewsValidationError
from ._ids import parse_uuid

__all__ = [
    "UNSET",
    "ActivityState",
    "Company",
    "Rate",
    "TimeInterval",
    "Unset",
    "Voucher",
    "VoucherAssignment",
    "VoucherCode",
    "VoucherCodeParameters",
    "VoucherExtent",
    "VoucherParameters",
    "VoucherType",
    "VoucherUpdate",
    "VouchersResult",
]


class VoucherType(enum.Enum):
    """The type of a voucher."""

    PUBLIC = "Public"
    PARTNER_COMPANY = "PartnerCompany"
    TRAVEL_AGENCY = "TravelAgency"


class ActivityState(enum.Enum):
    """Whether a record is active or deleted."""

    ACTIVE = "Active"
    DELETED = "Deleted"


class _UnsetType(enum.Enum):
    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Final = _UnsetType.UNSET
"""Sentinel of :class:`VoucherUpdate`: leave this field as it is."""

Unset: TypeAlias = Literal[_UnsetType.UNSET]
"""The type of :data:`UNSET`, for annotations."""

IdLike: TypeAlias = uuid.UUID | str
DatetimeLike: TypeAlias = datetime | str

E = TypeVar("E", bound=enum.Enum)
_UUID = uuid.UUID
_type = type


# --- input conversion ------------------------------------------------------------------------


def to_uuid(value: object, path: str) -> uuid.UUID:
    """Return *value* as a UUID, or raise MewsValidationError naming *path*."""
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return parse_uuid(value if type(value) is str else str.__str__(value))
        except ValueError:
            pass
    raise MewsValidationError([(path, f"not a valid UUID: {value!r}")])


def to_aware_utc(value: object, path: str) -> datetime:
    """Return *value* as an aware UTC datetime; naive datetimes are refused."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise MewsValidationError([(path, f"not an ISO 8601 datetime: {text!r}")]) from None
    if not isinstance(value, datetime):
        raise MewsValidationError([(path, f"expected a datetime, got {type(value).__name__}")])
    if value.tzinfo is None or value.utcoffset() is None:
        raise MewsValidationError(
            [(path, f"naive datetime {value.isoformat()!r}: give it a timezone (Z or +hh:mm)")]
        )
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise MewsValidationError(
            [(path, f"{value.isoformat()!r} is outside the calendar in UTC")]
        ) from None


def to_enum(cls: type[E], value: object, path: str) -> E:
    """Return *value* as a member of *cls*, accepting the member or its wire value."""
    if isinstance(value, cls):
        return value
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in cls)
        raise MewsValidationError([(path, f"{value!r} is not one of {allowed}")]) from None


def _uuids(values: Iterable[IdLike], name: str) -> tuple[uuid.UUID, ...]:
    if isinstance(values, str | bytes):
        raise MewsValidationError([(name, "expected a list of ids, got a single string")])
    if not isinstance(values, Iterable):
        raise MewsValidationError([(name, f"expected a list of ids, got {type(values).__name__}")])
    ids = tuple(values)
    if all(type(v) is uuid.UUID for v in ids):
        return ids  # type: ignore[return-value]  # checked just above
    return tuple(to_uuid(v, f"{name}[{i}]") for i, v in enumerate(ids))


def _opt_datetime(value: DatetimeLike | None, name: str) -> datetime | None:
    return None if value is None else to_aware_utc(value, name)


def _update_uuid(value: IdLike | None | Unset, name: str) -> uuid.UUID | None | Unset:
    return value if value is UNSET or value is None else to_uuid(value, name)


def _update_datetime(value: DatetimeLike | None | Unset, name: str) -> datetime | None | Unset:
    return value if value is UNSET or value is None else to_aware_utc(value, name)


# Named converters, one per field: mypy's attrs plugin understands only named functions, and
# each names its field in the error it raises.


def _voucher_id(value: IdLike) -> uuid.UUID:
    return value if type(value) is uuid.UUID else to_uuid(value, "voucher_id")


def _validity_start(value: DatetimeLike | None) -> datetime | None:
    return _opt_datetime(value, "validity_start_utc")


def _validity_end(value: DatetimeLike | None) -> datetime | None:
    return _opt_datetime(value, "validity_end_utc")


def _start_utc(value: DatetimeLike) -> datetime:
    return to_aware_utc(value, "start_utc")


def _end_utc(value: DatetimeLike) -> datetime:
    return to_aware_utc(value, "end_utc")


def _update_type(value: VoucherType | str | Unset) -> VoucherType | Unset:
    return value if value is UNSET else to_enum(VoucherType, value, "type")


def _update_company_id(value: IdLike | None | Unset) -> uuid.UUID | None | Unset:
    return _update_uuid(value, "company_id")


def _update_rate_ids(value: Iterable[IdLike] | None | Unset) -> tuple[uuid.UUID, ...] | Unset:
    # None and [] both clear the rates: the API reads a null value as "no change".
    return value if value is UNSET else _uuids(() if value is None else value, "assigned_rate_ids")


def _update_interval_start(value: DatetimeLike | None | Unset) -> datetime | None | Unset:
    return _update_datetime(value, "occupiable_interval_start_utc")


def _update_interval_end(value: DatetimeLike | None | Unset) -> datetime | None | Unset:
    return _update_datetime(value, "occupiable_interval_end_utc")


# --- input models ----------------------------------------------------------------------------


@attrs.frozen(kw_only=True, init=False)
class VoucherParameters:
    """One voucher to add (``vouchers/add``)."""

    service_id: uuid.UUID
    name: str
    type: VoucherType
    company_id: uuid.UUID | None = None
    assigned_rate_ids: tuple[uuid.UUID, ...] | None = None
    occupiable_interval_start_utc: datetime | None = None
    occupiable_interval_end_utc: datetime | None = None
    external_identifier: str | None = None

    def __init__(
        self,
        *,
        service_id: IdLike,
        name: str,
        type: VoucherType | str,
        company_id: IdLike | None = None,
        assigned_rate_ids: Iterable[IdLike] | None = None,
        occupiable_interval_start_utc: DatetimeLike | None = None,
        occupiable_interval_end_utc: DatetimeLike | None = None,
        external_identifier: str | None = None,
    ) -> None:
        # Written out, not generated by attrs with a converter per field: adds and syncs
        # build these by the hundred thousand, and one function that checks each value
        # inline and sets its slot directly costs a third less (benchmarks/README.md).
        _set_service_id(
            self,
            service_id if _type(service_id) is _UUID else to_uuid(service_id, "service_id"),
        )
        _set_name(self, name)
        _set_type(self, type if _type(type) is VoucherType else to_enum(VoucherType, type, "type"))
        _set_company_id(
            self,
            company_id
            if company_id is None or _type(company_id) is _UUID
            else to_uuid(company_id, "company_id"),
        )
        _set_assigned_rate_ids(
            self,
            None if assigned_rate_ids is None else _uuids(assigned_rate_ids, "assigned_rate_ids"),
        )
        _set_interval_start(
            self,
            None
            if occupiable_interval_start_utc is None
            else to_aware_utc(occupiable_interval_start_utc, "occupiable_interval_start_utc"),
        )
        _set_interval_end(
            self,
            None
            if occupiable_interval_end_utc is None
            else to_aware_utc(occupiable_interval_end_utc, "occupiable_interval_end_utc"),
        )
        _set_external_identifier(self, external_identifier)


# The slots' own setters: what object.__setattr__ finds for each field, without the search.
(
    _set_service_id,
    _set_name,
    _set_type,
    _set_company_id,
    _set_assigned_rate_ids,
    _set_interval_start,
    _set_interval_end,
    _set_external_identifier,
) = (getattr(VoucherParameters, f.name).__set__ for f in attrs.fields(VoucherParameters))


@attrs.frozen(kw_only=True)
class VoucherUpdate:
    """Changes to one voucher (``vouchers/update``).

    A field left at :data:`UNSET` is not updated; any other value, ``None`` included, is
    set (``None`` clears a nullable field; ``assigned_rate_ids`` holds it as ``()``).
    """

    voucher_id: uuid.UUID = attrs.field(converter=_voucher_id)
    name: str | Unset = UNSET
    type: VoucherType | Unset = attrs.field(default=UNSET, converter=_update_type)
    company_id: uuid.UUID | None | Unset = attrs.field(default=UNSET, converter=_update_company_id)
    assigned_rate_ids: tuple[uuid.UUID, ...] | Unset = attrs.field(
        default=UNSET, converter=_update_rate_ids
    )
    occupiable_interval_start_utc: datetime | None | Unset = attrs.field(
        default=UNSET, converter=_update_interval_start
    )
    occupiable_interval_end_utc: datetime | None | Unset = attrs.field(
        default=UNSET, converter=_update_interval_end
    )
    external_identifier: str | None | Unset = UNSET


@attrs.frozen(kw_only=True)
class VoucherCodeParameters:
    """One voucher code to add (``voucherCodes/add``)."""

    voucher_id: uuid.UUID = attrs.field(converter=_voucher_id)
    value: str
    validity_start_utc: datetime | None = attrs.field(default=None, converter=_validity_start)
    validity_end_utc: datetime | None = attrs.field(default=None, converter=_validity_end)


@attrs.frozen(kw_only=True)
class TimeInterval:
    """A half-open interval ``[start_utc, end_utc)`` of aware UTC datetimes."""

    start_utc: datetime = attrs.field(converter=_start_utc)
    end_utc: datetime = attrs.field(converter=_end_utc)


@attrs.frozen(kw_only=True)
class VoucherExtent:
    """What ``vouchers/getAll`` returns besides the vouchers.

    ``voucher_codes`` and ``companies`` are deprecated by the API: setting either warns.
    """

    vouchers: bool = True
    voucher_assignments: bool = False
    rates: bool = False
    voucher_codes: bool = False
    companies: bool = False

    def __attrs_post_init__(self) -> None:
        warn_deprecated_extents(voucher_codes=self.voucher_codes, companies=self.companies)


# --- response models -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Voucher:
    """A voucher as the API returns it."""

    id: uuid.UUID
    service_id: uuid.UUID
    name: str
    created_utc: datetime
    updated_utc: datetime
    type: VoucherType
    is_active: bool
    enterprise_id: uuid.UUID | None = None
    activity_state: ActivityState | None = None
    company_id: uuid.UUID | None = None
    travel_agency_id: uuid.UUID | None = None
    occupiable_interval_start_utc: datetime | None = None
    occupiable_interval_end_utc: datetime | None = None
    external_identifier: str | None = None


@attrs.frozen(kw_only=True)
class VoucherCode:
    """A voucher code as the API returns it (``id`` is None where the API leaves it out)."""

    id: uuid.UUID | None
    voucher_id: uuid.UUID
    is_active: bool
    value: str | None = None
    validity_start_utc: datetime | None = None
    validity_end_utc: datetime | None = None
    created_utc: datetime | None = None
    updated_utc: datetime | None = None
    activity_state: ActivityState | None = None


@attrs.frozen(kw_only=True)
class VoucherAssignment:
    """The assignment of a voucher to a rate."""

    voucher_id: uuid.UUID
    rate_id: uuid.UUID


@attrs.frozen(kw_only=True)
class Rate:
    """A rate assigned to vouchers (the core fields of the API's "Rate for extent")."""

    id: uuid.UUID
    service_id: uuid.UUID | None = None
    group_id: uuid.UUID | None = None
    base_rate_id: uuid.UUID | None = None
    business_segment_id: uuid.UUID | None = None
    is_base_rate: bool | None = None
    is_active: bool | None = None
    is_enabled: bool | None = None
    is_public: bool | None = None
    type: str | None = None
    name: str | None = None
    names: dict[str, str] = attrs.field(factory=dict)
    short_name: str | None = None
    updated_utc: datetime | None = None
    external_identifier: str | None = None


@attrs.frozen(kw_only=True)
class Company:
    """A company related to vouchers (the core fields of the API's Company)."""

    id: uuid.UUID
    name: str | None = None
    chain_id: uuid.UUID | None = None
    number: int | None = None
    is_active: bool | None = None
    mother_company_id: uuid.UUID | None = None
    invoicing_email: str | None = None
    website_url: str | None = None
    identifier: str | None = None
    tax_identifier: str | None = None
    iata: str | None = None
    created_utc: datetime | None = None
    updated_utc: datetime | None = None
    external_identifier: str | None = None


@attrs.frozen(kw_only=True)
class VouchersResult:
    """One page of ``vouchers/getAll``, or all pages merged; lists are never ``None``."""

    vouchers: list[Voucher] = attrs.field(factory=list)
    voucher_codes: list[VoucherCode] = attrs.field(factory=list)
    voucher_assignments: list[VoucherAssignment] = attrs.field(factory=list)
    rates: list[Rate] = attrs.field(factory=list)
    companies: list[Company] = attrs.field(factory=list)
    cursor: uuid.UUID | None = None
