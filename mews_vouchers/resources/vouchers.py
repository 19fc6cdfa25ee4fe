"""The ``vouchers/*`` operations: ``client.vouchers``.

Each method checks its whole input first, then hands the work to the shared machinery of
:mod:`._base` (chunked writes, exactly-once adds, page chains) with this resource's data:
its operations, how to read their answers, how to key a voucher.  Sync's three methods
delegate to ``_sync`` and ``_sync_apply``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING, cast

from .. import _sync, _sync_apply
from .._batching import ProgressCallback, WriteLedger
from .._constants import VOUCHERS_ADD, VOUCHERS_DELETE, VOUCHERS_GET_ALL, VOUCHERS_UPDATE
from .._envelopes import (
    VoucherAddRequest,
    VoucherDeleteRequest,
    VoucherUpdateRequest,
    VoucherWriteResult,
)
from .._fastwire import LazyPage, decode, decode_lazily
from .._merge import VoucherMerge
from .._models import (
    ActivityState,
    TimeInterval,
    Voucher,
    VoucherExtent,
    VoucherParameters,
    VouchersResult,
    VoucherUpdate,
)
from .._pagination import ItemStream, PageStream
from .._queries import VoucherQuery, by_identifiers, identifier_query, voucher_query
from .._sync_models import DesiredVoucher, SyncPlan, SyncResult
from .._validation import (
    enterprise_id_of,
    materialize,
    validate_voucher_parameters,
    validate_voucher_updates,
)
from ._base import Adding, Deleting, Paging, Resource

if TYPE_CHECKING:
    from .._context import Context
    from .voucher_codes import VoucherCodes

Key = tuple[uuid.UUID, str]
"""A voucher's key: its service and external identifier."""


def _written(body: bytes) -> list[Voucher]:
    return decode(body, VoucherWriteResult).vouchers


def _page(body: bytes) -> VouchersResult:
    return decode(body, VouchersResult)


def _vouchers_of(page: VouchersResult) -> list[Voucher]:
    return page.vouchers


def _key_of(voucher: Voucher) -> Key:
    return (voucher.service_id, str(voucher.external_identifier))


def _param_key(params: VoucherParameters) -> Key | None:
    # An item without an external identifier cannot be looked up.
    ext = params.external_identifier
    return None if ext is None else (params.service_id, ext)


def _lazy_vouchers_of(page: LazyPage) -> list[Voucher]:
    # A Lazy is read as the machinery reads a page's list: its length, its last item,
    # its items in order.
    return cast(list[Voucher], page.vouchers)


_PAGING = Paging(operation=VOUCHERS_GET_ALL, parse=_page, items_of=_vouchers_of)
# iter_all and sync read the same pages, their vouchers built only as they are read.
_LAZY_PAGING = Paging(operation=VOUCHERS_GET_ALL, parse=decode_lazily, items_of=_lazy_vouchers_of)
_ADDING = Adding(
    operation=VOUCHERS_ADD,
    kind=VoucherParameters,
    validate=validate_voucher_parameters,
    request=lambda chunk, eid: VoucherAddRequest(voucher_parameters=chunk, enterprise_id=eid),
    parse=_written,
    noun="vouchers",
    key=_param_key,
)
_DELETING = Deleting(
    operation=VOUCHERS_DELETE,
    ids_name="voucher_ids",
    request=lambda ids, eid: VoucherDeleteRequest(voucher_ids=ids, enterprise_id=eid),
)


def _updated_in_input_order(chunk: list[VoucherUpdate], body: bytes) -> list[Voucher]:
    """Read an update answer and align it with *chunk* by voucher id.

    Raises ValueError (a malformed answer) unless the answer holds each voucher of the
    chunk exactly once and nothing else.
    """
    vouchers = _written(body)
    by_id = {voucher.id: voucher for voucher in vouchers}
    wanted = [update.voucher_id for update in chunk]
    if len(vouchers) == len(by_id) == len(wanted) and by_id.keys() == set(wanted):
        return [by_id[voucher_id] for voucher_id in wanted]
    missing = [str(i) for i in wanted if i not in by_id]
    unexpected = [str(i) for i in by_id.keys() - set(wanted)]
    repeated = len(vouchers) - len(by_id)
    raise ValueError(
        f"the answer does not hold each updated voucher once: {len(missing)} missing"
        f" {missing[:3]}, {len(unexpected)} unexpected {unexpected[:3]}, {repeated} repeated"
    )


class Vouchers(Resource[VouchersResult, Voucher]):
    """The ``vouchers/*`` operations: ``client.vouchers``."""

    def __init__(self, ctx: Context, *, codes: VoucherCodes) -> None:
        super().__init__(ctx, _PAGING)
        self._codes = codes  # sync reads and writes codes too
        self._lazily = Resource(ctx, _LAZY_PAGING)

    async def add(
        self,
        params: Iterable[VoucherParameters],
        *,
        enterprise_id: uuid.UUID | str | None = None,
        on_progress: ProgressCallback | None = None,
        ledger: WriteLedger[Voucher] | None = None,
    ) -> list[Voucher]:
        """Add vouchers; return one :class:`Voucher` per input item, in input order.

        Any number of items is sent in chunks.  A chunk whose outcome is unknown (timeout,
        lost connection, 5xx) is never re-sent blindly: when every item of it has an
        ``external_identifier``, the client looks them up and re-sends only the missing
        ones; otherwise the chunk is reported ``ambiguous`` in :class:`BulkOperationError`.
        """
        return await self._add(_ADDING, params, self._lookup, enterprise_id, on_progress, ledger)

    async def _lookup(
        self, enterprise_id: uuid.UUID | None, items: list[VoucherParameters]
    ) -> dict[Key, Voucher]:
        """Find the vouchers of an add in doubt, as ``find_by_external_identifiers`` does."""
        query = by_identifiers(
            [str(p.external_identifier) for p in items],
            sorted({p.service_id for p in items}, key=str),
            enterprise_id,
        )
        return await self._find(query)

    async def find_by_external_identifiers(
        self,
        external_identifiers: Iterable[str],
        *,
        service_ids: Iterable[uuid.UUID | str],
        enterprise_id: uuid.UUID | str | None = None,
    ) -> dict[tuple[uuid.UUID, str], Voucher]:
        """Return the active vouchers with these external identifiers, by (service, identifier).

        Only vouchers of *service_ids* count, and for each key the newest one (an older
        voucher with the same key does not win).  Any number of identifiers is read in
        getAll queries of at most 1000; identifiers not found are absent from the answer.
        The arguments are checked as ``get_all`` checks its filters, before any request.
        """
        query = identifier_query(
            external_identifiers, service_ids=service_ids, enterprise_id=enterprise_id
        )
        async with self._ctx.call("vouchers.find_by_external_identifiers"):
            return await self._find(query)

    async def _find(self, query: VoucherQuery) -> dict[Key, Voucher]:
        return await self._collect(query, _key_of)

    async def update(
        self,
        updates: Iterable[VoucherUpdate],
        *,
        enterprise_id: uuid.UUID | str | None = None,
        on_progress: ProgressCallback | None = None,
        ledger: WriteLedger[Voucher] | None = None,
    ) -> list[Voucher]:
        """Update vouchers; return one :class:`Voucher` per input item, in input order.

        The answer is matched to the input by voucher id (the API promises no order).  An
        answer that does not hold each updated voucher exactly once is malformed: the
        chunk is sent again (an update is idempotent), and reported ambiguous if no
        attempt answers right.
        """
        items = materialize(updates, "updates", VoucherUpdate)
        validate_voucher_updates(items)
        eid = enterprise_id_of(enterprise_id)
        if not items:
            return []

        async def send(chunk: list[VoucherUpdate]) -> list[Voucher]:
            request = VoucherUpdateRequest(voucher_updates=chunk, enterprise_id=eid)
            parse = partial(_updated_in_input_order, chunk)
            return await self._idempotent_chunk(VOUCHERS_UPDATE, request, len(chunk), parse)

        return await self._write(VOUCHERS_UPDATE, items, send, on_progress, ledger, idempotent=True)

    async def delete(
        self,
        voucher_ids: Iterable[uuid.UUID | str],
        *,
        enterprise_id: uuid.UUID | str | None = None,
        on_progress: ProgressCallback | None = None,
        ledger: WriteLedger[uuid.UUID] | None = None,
    ) -> None:
        """Delete vouchers by id.

        On partial failure, :class:`BulkOperationError` ``.results`` holds the id of each
        deleted voucher and ``None`` for each that was not.
        """
        await self._delete(_DELETING, voucher_ids, enterprise_id, on_progress, ledger)

    async def get_all(
        self,
        *,
        service_ids: Iterable[uuid.UUID | str],
        enterprise_ids: Iterable[uuid.UUID | str] | None = None,
        voucher_ids: Iterable[uuid.UUID | str] | None = None,
        company_ids: Iterable[uuid.UUID | str] | None = None,
        voucher_code_values: Iterable[str] | None = None,
        external_identifiers: Iterable[str] | None = None,
        activity_states: Iterable[ActivityState | str] | None = None,
        updated_utc: TimeInterval | None = None,
        extent: VoucherExtent = VoucherExtent(),
    ) -> VouchersResult:
        """Fetch every page of every chain concurrently and merge them, each entity once.

        Chains: one per enterprise in *enterprise_ids* (else one over every enterprise
        the token reaches), times the slices of any filter list over 1000 items, times the
        3-month windows of *updated_utc*, times the flags set in *extent*: each extent is
        paged on its own cursor, as the API advises.  An empty filter list matches nothing.
        """
        query = voucher_query(
            service_ids=service_ids,
            enterprise_ids=enterprise_ids,
            voucher_ids=voucher_ids,
            company_ids=company_ids,
            voucher_code_values=voucher_code_values,
            external_identifiers=external_identifiers,
            activity_states=activity_states,
            updated_utc=updated_utc,
            extent=extent,
        )
        return await self._gather(query, VoucherMerge())

    def iter_pages(
        self,
        *,
        service_ids: Iterable[uuid.UUID | str],
        enterprise_ids: Iterable[uuid.UUID | str] | None = None,
        voucher_ids: Iterable[uuid.UUID | str] | None = None,
        company_ids: Iterable[uuid.UUID | str] | None = None,
        voucher_code_values: Iterable[str] | None = None,
        external_identifiers: Iterable[str] | None = None,
        activity_states: Iterable[ActivityState | str] | None = None,
        updated_utc: TimeInterval | None = None,
        extent: VoucherExtent = VoucherExtent(),
    ) -> PageStream[VouchersResult]:
        """Stream the pages of ``get_all`` as they arrive (``async for page in ...``).

        The arguments are validated at once.  Pages of different chains interleave (each
        extent of *extent* has chains of its own, so a page holds one of the lists);
        nothing is merged or de-duplicated.  Use ``async with`` (or ``aclose()``) to stop
        the requests at once when leaving the loop early.
        """
        query = voucher_query(
            service_ids=service_ids,
            enterprise_ids=enterprise_ids,
            voucher_ids=voucher_ids,
            company_ids=company_ids,
            voucher_code_values=voucher_code_values,
            external_identifiers=external_identifiers,
            activity_states=activity_states,
            updated_utc=updated_utc,
            extent=extent,
        )
        return self._pages(query)

    def iter_all(
        self,
        *,
        service_ids: Iterable[uuid.UUID | str],
        enterprise_ids: Iterable[uuid.UUID | str] | None = None,
        voucher_ids: Iterable[uuid.UUID | str] | None = None,
        company_ids: Iterable[uuid.UUID | str] | None = None,
        voucher_code_values: Iterable[str] | None = None,
        external_identifiers: Iterable[str] | None = None,
        activity_states: Iterable[ActivityState | str] | None = None,
        updated_utc: TimeInterval | None = None,
        extent: VoucherExtent = VoucherExtent(),
    ) -> ItemStream[VouchersResult, Voucher]:
        """Stream every voucher (``async for voucher in ...``), memory bounded by a few pages.

        Only the vouchers are yielded, so only the chains of the ``vouchers`` extent run.
        """
        query = voucher_query(
            service_ids=service_ids,
            enterprise_ids=enterprise_ids,
            voucher_ids=voucher_ids,
            company_ids=company_ids,
            voucher_code_values=voucher_code_values,
            external_identifiers=external_identifiers,
            activity_states=activity_states,
            updated_utc=updated_utc,
            extent=extent,
        )
        # Each voucher is built as the loop reaches it (a slice at a time, see Lazy): a
        # page waiting its turn holds records the collector does not track (but for their
        # ids), and the vouchers a caller drops die young.  The pages are never handed out.
        return cast(ItemStream[VouchersResult, Voucher], self._lazily._items(query))

    def _pages_lazily(self, query: VoucherQuery) -> PageStream[LazyPage]:
        """Stream the pages of *query* as iter_pages does, their vouchers built as read."""
        return self._lazily._pages(query)

    # -- sync (the work is in _sync and _sync_apply) -----------------------------------------

    async def plan_sync(
        self,
        desired: Iterable[VoucherParameters | DesiredVoucher],
        *,
        enterprise_id: uuid.UUID | str | None = None,
        service_ids: Iterable[uuid.UUID | str] | None = None,
        delete_missing: bool = False,
        owned_prefix: str | None = None,
        max_deletes: int | None = None,
    ) -> SyncPlan:
        """Compute what would make Mews match *desired*, keyed by (service, external id).

        Reads the active vouchers of *service_ids* (default: the services *desired* names)
        and diffs them: adds, updates of only the fields that differ, and with
        *delete_missing* deletions of vouchers whose identifier starts with *owned_prefix*
        (required then; ``""`` owns every identified voucher).  Vouchers without an
        identifier, and identifiers held twice, are reported and never touched.  Raises
        :class:`SyncError` before any write if the plan deletes more than *max_deletes*.
        """
        return await _sync.plan_sync(
            self,
            self._codes,
            desired,
            enterprise_id=enterprise_id,
            service_ids=service_ids,
            delete_missing=delete_missing,
            owned_prefix=owned_prefix,
            max_deletes=max_deletes,
        )

    async def apply_sync(
        self, plan: SyncPlan, *, on_progress: ProgressCallback | None = None
    ) -> SyncResult:
        """Write *plan*, skipping as stale what changed in Mews since it was planned.

        Raises :class:`SyncError` (with ``.result``) after everything else was written
        if any write failed; running the sync again does what is left.
        """
        return await _sync_apply.apply_sync(self, self._codes, plan, on_progress=on_progress)

    async def sync(
        self,
        desired: Iterable[VoucherParameters | DesiredVoucher],
        *,
        enterprise_id: uuid.UUID | str | None = None,
        service_ids: Iterable[uuid.UUID | str] | None = None,
        delete_missing: bool = False,
        owned_prefix: str | None = None,
        max_deletes: int | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> SyncResult:
        """Plan and apply in one call: make Mews match *desired* (see :meth:`plan_sync`)."""
        plan = await self.plan_sync(
            desired,
            enterprise_id=enterprise_id,
            service_ids=service_ids,
            delete_missing=delete_missing,
            owned_prefix=owned_prefix,
            max_deletes=max_deletes,
        )
        return await self.apply_sync(plan, on_progress=on_progress)
