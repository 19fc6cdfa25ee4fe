"""The ``voucherCodes/*`` operations: ``client.voucher_codes``.

The same machinery as ``client.vouchers`` (:mod:`._base`), with this resource's data: a
code is named by its voucher and value, which is how an add in doubt finds its codes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .._batching import ProgressCallback, WriteLedger
from .._constants import VOUCHER_CODES_ADD, VOUCHER_CODES_DELETE, VOUCHER_CODES_GET_ALL
from .._envelopes import (
    VoucherCodeAddRequest,
    VoucherCodeDeleteRequest,
    VoucherCodeResult,
)
from .._fastwire import decode
from .._merge import CodeMerge
from .._models import (
    TimeInterval,
    VoucherCode,
    VoucherCodeParameters,
)
from .._pagination import ItemStream, PageStream
from .._queries import CodeQuery, code_query
from .._validation import validate_voucher_code_parameters
from ._base import Adding, Deleting, Paging, Resource

if TYPE_CHECKING:
    from .._context import Context

Key = tuple[uuid.UUID, str | None]
"""A code's key: its voucher and its value."""


def _page(body: bytes) -> VoucherCodeResult:
    return decode(body, VoucherCodeResult)


def _codes_of(page: VoucherCodeResult) -> list[VoucherCode]:
    return page.voucher_codes


def _written(body: bytes) -> list[VoucherCode]:
    return _page(body).voucher_codes


def _key_of(code: VoucherCode) -> Key:
    return (code.voucher_id, code.value)


def _param_key(params: VoucherCodeParameters) -> Key:
    return (params.voucher_id, params.value)


_PAGING = Paging(operation=VOUCHER_CODES_GET_ALL, parse=_page, items_of=_codes_of)
_ADDING = Adding(
    operation=VOUCHER_CODES_ADD,
    kind=VoucherCodeParameters,
    validate=validate_voucher_code_parameters,
    request=lambda chunk, eid: VoucherCodeAddRequest(
        voucher_code_parameters=chunk, enterprise_id=eid
    ),
    parse=_written,
    noun="codes",
    key=_param_key,
)
_DELETING = Deleting(
    operation=VOUCHER_CODES_DELETE,
    ids_name="voucher_code_ids",
    request=lambda ids, eid: VoucherCodeDeleteRequest(voucher_code_ids=ids, enterprise_id=eid),
)


class VoucherCodes(Resource[VoucherCodeResult, VoucherCode]):
    """The ``voucherCodes/*`` operations: ``client.voucher_codes``."""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx, _PAGING)

    async def add(
        self,
        params: Iterable[VoucherCodeParameters],
        *,
        enterprise_id: uuid.UUID | str | None = None,
        on_progress: ProgressCallback | None = None,
        ledger: WriteLedger[VoucherCode] | None = None,
    ) -> list[VoucherCode]:
        """Add voucher codes; return one :class:`VoucherCode` per input item, in input order.

        A chunk whose outcome is unknown is never re-sent blindly: the client looks its
        codes up (a voucher and a value name a code) and re-sends only the missing ones;
        with a code repeated inside the chunk it is reported ``ambiguous``.
        """
        return await self._add(_ADDING, params, self._lookup, enterprise_id, on_progress, ledger)

    async def _lookup(
        self, enterprise_id: uuid.UUID | None, items: list[VoucherCodeParameters]
    ) -> dict[Key, VoucherCode]:
        """Find the active codes with the vouchers and values of *items*."""
        query = CodeQuery(
            voucher_ids=tuple(sorted({p.voucher_id for p in items}, key=str)),
            enterprise_ids=None if enterprise_id is None else (enterprise_id,),
        )
        return await self._collect(query, _key_of)

    async def delete(
        self,
        voucher_code_ids: Iterable[uuid.UUID | str],
        *,
        enterprise_id: uuid.UUID | str | None = None,
        on_progress: ProgressCallback | None = None,
        ledger: WriteLedger[uuid.UUID] | None = None,
    ) -> None:
        """Delete voucher codes by id (``.results`` of a partial failure: ids deleted)."""
        await self._delete(_DELETING, voucher_code_ids, enterprise_id, on_progress, ledger)

    async def get_all(
        self,
        *,
        voucher_ids: Iterable[uuid.UUID | str],
        enterprise_ids: Iterable[uuid.UUID | str] | None = None,
        voucher_code_ids: Iterable[uuid.UUID | str] | None = None,
        updated_utc: TimeInterval | None = None,
    ) -> list[VoucherCode]:
        """Fetch every voucher code of *voucher_ids*, all pages and chains, each once (by id)."""
        query = code_query(
            voucher_ids=voucher_ids,
            enterprise_ids=enterprise_ids,
            voucher_code_ids=voucher_code_ids,
            updated_utc=updated_utc,
        )
        return await self._gather(query, CodeMerge())

    def iter_pages(
        self,
        *,
        voucher_ids: Iterable[uuid.UUID | str],
        enterprise_ids: Iterable[uuid.UUID | str] | None = None,
        voucher_code_ids: Iterable[uuid.UUID | str] | None = None,
        updated_utc: TimeInterval | None = None,
    ) -> PageStream[VoucherCodeResult]:
        """Stream the pages of ``get_all`` as they arrive."""
        query = code_query(
            voucher_ids=voucher_ids,
            enterprise_ids=enterprise_ids,
            voucher_code_ids=voucher_code_ids,
            updated_utc=updated_utc,
        )
        return self._pages(query)

    def iter_all(
        self,
        *,
        voucher_ids: Iterable[uuid.UUID | str],
        enterprise_ids: Iterable[uuid.UUID | str] | None = None,
        voucher_code_ids: Iterable[uuid.UUID | str] | None = None,
        updated_utc: TimeInterval | None = None,
    ) -> ItemStream[VoucherCodeResult, VoucherCode]:
        """Stream every voucher code, memory bounded by a few pages."""
        query = code_query(
            voucher_ids=voucher_ids,
            enterprise_ids=enterprise_ids,
            voucher_code_ids=voucher_code_ids,
            updated_utc=updated_utc,
        )
        return self._items(query)
