"""The envelopes of requests and answers: what one request carries, internal to the SDK.

The public models (``_models``) are what a caller gives and gets; these wrap them as one
request or answer of an operation, so that the converter can write and read them whole.
"""

from __future__ import annotations

import uuid

import attrs

from ._models import (
    ActivityState,
    TimeInterval,
    Voucher,
    VoucherCode,
    VoucherCodeParameters,
    VoucherExtent,
    VoucherParameters,
    VoucherUpdate,
)


@attrs.frozen(kw_only=True)
class Limitation:
    """Paging of a getAll request."""

    count: int
    cursor: uuid.UUID | None = None


@attrs.frozen(kw_only=True)
class VoucherFilter:
    """The parameters of one ``vouchers/getAll`` request."""

    service_ids: tuple[uuid.UUID, ...]
    limitation: Limitation
    extent: VoucherExtent = VoucherExtent()
    enterprise_ids: tuple[uuid.UUID, ...] | None = None
    voucher_ids: tuple[uuid.UUID, ...] | None = None
    company_ids: tuple[uuid.UUID, ...] | None = None
    voucher_code_values: tuple[str, ...] | None = None
    external_identifiers: tuple[str, ...] | None = None
    activity_states: tuple[ActivityState, ...] | None = None
    updated_utc: TimeInterval | None = None


@attrs.frozen(kw_only=True)
class VoucherCodeFilter:
    """The parameters of one ``voucherCodes/getAll`` request."""

    voucher_ids: tuple[uuid.UUID, ...]
    limitation: Limitation
    enterprise_ids: tuple[uuid.UUID, ...] | None = None
    voucher_code_ids: tuple[uuid.UUID, ...] | None = None
    updated_utc: TimeInterval | None = None


@attrs.frozen(kw_only=True)
class VoucherAddRequest:
    """The parameters of one ``vouchers/add`` request."""

    voucher_parameters: list[VoucherParameters]
    enterprise_id: uuid.UUID | None = None


@attrs.frozen(kw_only=True)
class VoucherUpdateRequest:
    """The parameters of one ``vouchers/update`` request."""

    voucher_updates: list[VoucherUpdate]
    enterprise_id: uuid.UUID | None = None


@attrs.frozen(kw_only=True)
class VoucherDeleteRequest:
    """The parameters of one ``vouchers/delete`` request."""

    voucher_ids: list[uuid.UUID]
    enterprise_id: uuid.UUID | None = None


@attrs.frozen(kw_only=True)
class VoucherCodeAddRequest:
    """The parameters of one ``voucherCodes/add`` request."""

    voucher_code_parameters: list[VoucherCodeParameters]
    enterprise_id: uuid.UUID | None = None


@attrs.frozen(kw_only=True)
class VoucherCodeDeleteRequest:
    """The parameters of one ``voucherCodes/delete`` request."""

    voucher_code_ids: list[uuid.UUID]
    enterprise_id: uuid.UUID | None = None


@attrs.frozen(kw_only=True)
class VoucherWriteResult:
    """The answer of ``vouchers/add`` and ``vouchers/update``."""

    vouchers: list[Voucher] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class VoucherCodeResult:
    """The answer of ``voucherCodes/getAll`` and ``voucherCodes/add``."""

    voucher_codes: list[VoucherCode] = attrs.field(factory=list)
    cursor: uuid.UUID | None = None
