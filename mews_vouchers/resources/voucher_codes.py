"""The ``voucherCodes/*`` operations: ``client.voucher_codes``."""

from __future__ import annotations

import uuid
from collections.abc import Hashable, Iterable
from functools import partial
from typing import Any

import attrs

from .._batching import ProgressCallback, WriteLedger
from .._constants import VOUCHER_CODES_ADD, VOUCHER_CODES_DELETE, VOUCHER_CODES_GET_ALL
from .._converter import structure, unstructure
from .._errors import MewsValidationError
from .._exactly_once import _add_exactly_once
from .._merge import _code_key
from .._models import (
    Limitation,
    TimeInterval,
    VoucherCode,
    VoucherCodeAddRequest,
    VoucherCodeDeleteRequest,
    VoucherCodeFilter,
    VoucherCodeParameters,
    VoucherCodeResult,
)
from .._pagination import Chain, ItemStream, PageStream, plan, split_interval, split_values
from .._requester import AttemptRecord
from .._validation import (
    Errors,
    check_interval,
    materialize,
    to_uuid_list,
    validate_voucher_code_parameters,
)
from ._base import _enterprise, _id_bound, _nothing, _opt, _Resource


def _code_result(data: dict[str, Any]) -> VoucherCodeResult:
    return structure(data, VoucherCodeResult)


class VoucherCodes(_Resource):
    """The ``voucherCodes/*`` operations: ``client.voucher_codes``."""

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
        items = materialize(params, "params", VoucherCodeParameters)
        validate_voucher_code_parameters(items)
        eid = _enterprise(enterprise_id)
        if not items:
            return []

        async def send(chunk: list[VoucherCodeParameters]) -> list[VoucherCode]:
            keys: list[Hashable | None] = [(p.voucher_id, p.value) for p in chunk]
            return await _add_exactly_once(
                self._ctx, chunk, keys, partial(self._send_add, eid), partial(self._lookup, eid)
            )

        return await self._write(VOUCHER_CODES_ADD, items, send, on_progress, ledger)

    async def _send_add(
        self, eid: uuid.UUID | None, chunk: list[VoucherCodeParameters], record: AttemptRecord
    ) -> list[VoucherCode]:
        params = unstructure(
            VoucherCodeAddRequest(voucher_code_parameters=chunk, enterprise_id=eid)
        )
        return await self._send_once(
            VOUCHER_CODES_ADD, params, len(chunk), _codes_of_result, record, noun="codes"
        )

    async def _lookup(
        self, eid: uuid.UUID | None, items: list[VoucherCodeParameters]
    ) -> dict[Hashable, VoucherCode]:
        """Find the active codes with the vouchers and values of *items*."""
        found: dict[Hashable, VoucherCode] = {}
        base = VoucherCodeFilter(
            voucher_ids=tuple(sorted({p.voucher_id for p in items}, key=str)),
            enterprise_ids=(eid,) if eid else None,
            limitation=Limitation(count=1),
        )

        async def collect(page: VoucherCodeResult) -> None:
            for code in page.voucher_codes:
                if code.is_active:
                    found.setdefault((code.voucher_id, code.value), code)

        chain = self._chain(
            VOUCHER_CODES_GET_ALL,
            lambda limitation: unstructure(attrs.evolve(base, limitation=limitation)),
            _code_result,
            _codes_size,
            _last_code_id,
        )
        await chain(collect)
        return found

    async def delete(
        self,
        voucher_code_ids: Iterable[uuid.UUID | str],
        *,
        enterprise_id: uuid.UUID | str | None = None,
        on_progress: ProgressCallback | None = None,
        ledger: WriteLedger[uuid.UUID] | None = None,
    ) -> None:
        """Delete voucher codes by id (``.results`` of a partial failure: ids deleted)."""
        errors: Errors = []
        ids = to_uuid_list(voucher_code_ids, "voucher_code_ids", errors)
        if errors:
            raise MewsValidationError(errors)
        eid = _enterprise(enterprise_id)
        if not ids:
            return None

        async def send(chunk: list[uuid.UUID]) -> list[uuid.UUID]:
            params = unstructure(
                VoucherCodeDeleteRequest(voucher_code_ids=chunk, enterprise_id=eid)
            )
            await self._idempotent_chunk(VOUCHER_CODES_DELETE, params, len(chunk), _nothing)
            return chunk

        await self._write(VOUCHER_CODES_DELETE, ids, send, on_progress, ledger, idempotent=True)
        return None

    def _chains(
        self,
        *,
        voucher_ids: Iterable[uuid.UUID | str],
        enterprise_ids: Iterable[uuid.UUID | str] | None,
        voucher_code_ids: Iterable[uuid.UUID | str] | None,
        updated_utc: TimeInterval | None,
    ) -> list[Chain[VoucherCodeResult]]:
        errors: Errors = []
        vouchers = to_uuid_list(voucher_ids, "voucher_ids", errors)
        codes = _opt(voucher_code_ids, to_uuid_list, "voucher_code_ids", errors)
        enterprises = _opt(enterprise_ids, to_uuid_list, "enterprise_ids", errors)
        interval = check_interval(updated_utc, "updated_utc", errors)
        if errors:
            raise MewsValidationError(errors)
        if not vouchers or codes == [] or enterprises == []:
            return []
        queries = plan(
            enterprise_ids=[None] if enterprises is None else [(e,) for e in enterprises],
            voucher_ids=split_values(vouchers),
            voucher_code_ids=split_values(codes),
            updated_utc=split_interval(interval),
        )
        return [
            self._chain(
                VOUCHER_CODES_GET_ALL,
                partial(_code_params, query),
                _code_result,
                _codes_size,
                _last_code_id,
                at_most=_id_bound(query.get("voucher_code_ids")),
            )
            for query in queries
        ]

    async def get_all(
        self,
        *,
        voucher_ids: Iterable[uuid.UUID | str],
        enterprise_ids: Iterable[uuid.UUID | str] | None = None,
        voucher_code_ids: Iterable[uuid.UUID | str] | None = None,
        updated_utc: TimeInterval | None = None,
    ) -> list[VoucherCode]:
        """Fetch every voucher code of *voucher_ids*, all pages and chains, each once (by id)."""
        chains = self._chains(
            voucher_ids=voucher_ids,
            enterprise_ids=enterprise_ids,
            voucher_code_ids=voucher_code_ids,
            updated_utc=updated_utc,
        )
        codes: dict[object, VoucherCode] = {}
        async with (
            self._call(VOUCHER_CODES_GET_ALL),
            self._stream(chains) as pages,
        ):
            async for page in pages:
                for code in page.voucher_codes:
                    # By id: a code deleted and added again with its value is two codes.
                    codes.setdefault(_code_key(code) if code.id is None else code.id, code)
        return list(codes.values())

    def iter_pages(
        self,
        *,
        voucher_ids: Iterable[uuid.UUID | str],
        enterprise_ids: Iterable[uuid.UUID | str] | None = None,
        voucher_code_ids: Iterable[uuid.UUID | str] | None = None,
        updated_utc: TimeInterval | None = None,
    ) -> PageStream[VoucherCodeResult]:
        """Stream the pages of ``get_all`` as they arrive."""
        return self._stream(
            self._chains(
                voucher_ids=voucher_ids,
                enterprise_ids=enterprise_ids,
                voucher_code_ids=voucher_code_ids,
                updated_utc=updated_utc,
            )
        )

    def iter_all(
        self,
        *,
        voucher_ids: Iterable[uuid.UUID | str],
        enterprise_ids: Iterable[uuid.UUID | str] | None = None,
        voucher_code_ids: Iterable[uuid.UUID | str] | None = None,
        updated_utc: TimeInterval | None = None,
    ) -> ItemStream[VoucherCodeResult, VoucherCode]:
        """Stream every voucher code, memory bounded by a few pages."""
        pages = self.iter_pages(
            voucher_ids=voucher_ids,
            enterprise_ids=enterprise_ids,
            voucher_code_ids=voucher_code_ids,
            updated_utc=updated_utc,
        )
        return ItemStream(pages, _codes_of)


def _code_params(query: dict[str, Any], limitation: Limitation) -> dict[str, Any]:
    return unstructure(VoucherCodeFilter(limitation=limitation, **query))


def _codes_of_result(data: dict[str, Any]) -> list[VoucherCode]:
    return _code_result(data).voucher_codes


def _codes_size(page: VoucherCodeResult) -> int:
    return len(page.voucher_codes)


def _last_code_id(page: VoucherCodeResult) -> uuid.UUID | None:
    return page.voucher_codes[-1].id if page.voucher_codes else None


def _codes_of(page: VoucherCodeResult) -> list[VoucherCode]:
    return page.voucher_codes
