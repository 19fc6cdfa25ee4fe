"""The resources: ``client.vouchers`` and ``client.voucher_codes``, one method per operation.

Each method validates its whole input first, then hands the work to the batcher (writes)
or to the pagination (getAll).  The methods are thin: the rules live in the modules they
call.
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

import attrs

from .. import _sync, _sync_apply
from .._batching import ProgressCallback, WriteLedger
from .._constants import VOUCHERS_ADD, VOUCHERS_DELETE, VOUCHERS_GET_ALL, VOUCHERS_UPDATE
from .._converter import pascal, structure, unstructure
from .._errors import MewsValidationError
from .._exactly_once import _add_exactly_once
from .._merge import _VoucherMerge
from .._models import (
    ActivityState,
    Limitation,
    TimeInterval,
    Voucher,
    VoucherAddRequest,
    VoucherDeleteRequest,
    VoucherExtent,
    VoucherFilter,
    VoucherParameters,
    VouchersResult,
    VoucherUpdate,
    VoucherUpdateRequest,
    VoucherWriteResult,
)
from .._pagination import Chain, ItemStream, PageStream, plan, split_interval, split_values
from .._requester import AttemptRecord
from .._sync_models import DesiredVoucher, SyncPlan, SyncResult
from .._validation import (
    Errors,
    check_interval,
    materialize,
    to_activity_states,
    to_str_list,
    to_uuid_list,
    validate_voucher_parameters,
    validate_voucher_updates,
)
from ._base import _enterprise, _id_bound, _nothing, _opt, _Resource

if TYPE_CHECKING:
    from .._context import Context
    from .voucher_codes import VoucherCodes


def _write_result(data: dict[str, Any]) -> list[Voucher]:
    return structure(data, VoucherWriteResult).vouchers


def _voucher_page(data: dict[str, Any]) -> VouchersResult:
    return structure(data, VouchersResult)


def _updated_in_input_order(chunk: list[VoucherUpdate], data: dict[str, Any]) -> list[Voucher]:
    """Read an update answer and align it with *chunk* by voucher id.

    Raises ValueError (a malformed answer) unless the answer holds each voucher of the
    chunk exactly once and nothing else.
    """
    vouchers = _write_result(data)
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


class Vouchers(_Resource):
    """The ``vouchers/*`` operations: ``client.vouchers``."""

    def __init__(self, ctx: Context, *, codes: VoucherCodes) -> None:
        super().__init__(ctx)
        self._codes = codes  # sync reads and writes codes too

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
        items = materialize(params, "params", VoucherParameters)
        validate_voucher_parameters(items)
        eid = _enterprise(enterprise_id)
        if not items:
            return []
        return await self._write(
            VOUCHERS_ADD, items, partial(self._add_chunk, eid), on_progress, ledger
        )

    async def _send_add(
        self, eid: uuid.UUID | None, chunk: list[VoucherParameters], record: AttemptRecord
    ) -> list[Voucher]:
        params = unstructure(VoucherAddRequest(voucher_parameters=chunk, enterprise_id=eid))
        return await self._send_once(
            VOUCHERS_ADD, params, len(chunk), _write_result, record, noun="vouchers"
        )

    async def _add_chunk(
        self, eid: uuid.UUID | None, chunk: list[VoucherParameters]
    ) -> list[Voucher]:
        # An item without an external identifier cannot be looked up.
        keys = [
            None if p.external_identifier is None else (p.service_id, p.external_identifier)
            for p in chunk
        ]
        return await _add_exactly_once(
            self._ctx, chunk, keys, partial(self._send_add, eid), partial(self._lookup, eid)
        )

    async def _lookup(
        self, eid: uuid.UUID | None, items: list[VoucherParameters]
    ) -> dict[Hashable, Voucher]:
        """Find the active vouchers with the external identifiers of *items*."""
        found: dict[Hashable, Voucher] = {}
        base = VoucherFilter(
            service_ids=tuple(sorted({p.service_id for p in items}, key=str)),
            external_identifiers=tuple(str(p.external_identifier) for p in items),
            enterprise_ids=(eid,) if eid else None,
            activity_states=(ActivityState.ACTIVE,),
            limitation=Limitation(count=1),
        )

        async def collect(page: VouchersResult) -> None:
            for voucher in page.vouchers:
                # Newest first: an older voucher with the same identifier does not win.
                found.setdefault((voucher.service_id, voucher.external_identifier), voucher)

        chain = self._chain(
            VOUCHERS_GET_ALL,
            lambda limitation: unstructure(attrs.evolve(base, limitation=limitation)),
            _voucher_page,
            _page_size,
            _last_voucher_id,
        )
        await chain(collect)
        return found

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
        eid = _enterprise(enterprise_id)
        if not items:
            return []

        async def send(chunk: list[VoucherUpdate]) -> list[Voucher]:
            params = unstructure(VoucherUpdateRequest(voucher_updates=chunk, enterprise_id=eid))
            parse = partial(_updated_in_input_order, chunk)
            return await self._idempotent_chunk(VOUCHERS_UPDATE, params, len(chunk), parse)

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
        errors: Errors = []
        ids = to_uuid_list(voucher_ids, "voucher_ids", errors)
        if errors:
            raise MewsValidationError(errors)
        eid = _enterprise(enterprise_id)
        if not ids:
            return None

        async def send(chunk: list[uuid.UUID]) -> list[uuid.UUID]:
            params = unstructure(VoucherDeleteRequest(voucher_ids=chunk, enterprise_id=eid))
            await self._idempotent_chunk(VOUCHERS_DELETE, params, len(chunk), _nothing)
            return chunk

        await self._write(VOUCHERS_DELETE, ids, send, on_progress, ledger, idempotent=True)
        return None

    def _chains(
        self,
        *,
        service_ids: Iterable[uuid.UUID | str],
        enterprise_ids: Iterable[uuid.UUID | str] | None,
        voucher_ids: Iterable[uuid.UUID | str] | None,
        company_ids: Iterable[uuid.UUID | str] | None,
        voucher_code_values: Iterable[str] | None,
        external_identifiers: Iterable[str] | None,
        activity_states: Iterable[ActivityState | str] | None,
        updated_utc: TimeInterval | None,
        extent: VoucherExtent,
        vouchers_only: bool = False,
    ) -> list[Chain[VouchersResult]]:
        errors: Errors = []
        services = to_uuid_list(service_ids, "service_ids", errors)
        if not services and not any(path.startswith("service_ids") for path, _ in errors):
            errors.append(("service_ids", "at least one service id is required"))
        filters: dict[str, list[Any] | None] = {
            "enterprise_ids": _opt(enterprise_ids, to_uuid_list, "enterprise_ids", errors),
            "voucher_ids": _opt(voucher_ids, to_uuid_list, "voucher_ids", errors),
            "company_ids": _opt(company_ids, to_uuid_list, "company_ids", errors),
            "voucher_code_values": _opt(
                voucher_code_values, to_str_list, "voucher_code_values", errors
            ),
            "external_identifiers": _opt(
                external_identifiers, to_str_list, "external_identifiers", errors
            ),
            "activity_states": _opt(activity_states, to_activity_states, "activity_states", errors),
        }
        interval = check_interval(updated_utc, "updated_utc", errors)
        if not isinstance(extent, VoucherExtent):
            errors.append(("extent", f"expected a VoucherExtent, got {type(extent).__name__}"))
        if errors:
            raise MewsValidationError(errors)
        if any(values == [] for values in filters.values()):
            return []  # a filter that matches nothing: no request needed
        enterprises = filters.pop("enterprise_ids")
        states = filters.pop("activity_states")
        queries = plan(
            enterprise_ids=[None] if enterprises is None else [(e,) for e in enterprises],
            service_ids=split_values(services),
            updated_utc=split_interval(interval),
            **{name: split_values(values) for name, values in filters.items()},
        )
        extents = _one_extent_each(extent)
        if vouchers_only:
            extents = [(vouchers, wire) for vouchers, wire in extents if vouchers]
        return [
            self._chain(
                VOUCHERS_GET_ALL,
                partial(_voucher_params, query, states, wire),
                _voucher_page,
                _page_size if vouchers else _size_unseen,
                _last_voucher_id,
                at_most=_id_bound(query.get("voucher_ids")),
            )
            for query in queries
            for vouchers, wire in extents
        ]

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
        chains = self._chains(
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
        merged = _VoucherMerge()
        async with (
            self._call(VOUCHERS_GET_ALL),
            self._stream(chains) as pages,
        ):
            async for page in pages:
                merged.add(page)
        return merged.result()

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
        chains = self._chains(
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
        return self._stream(chains)

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
        chains = self._chains(
            service_ids=service_ids,
            enterprise_ids=enterprise_ids,
            voucher_ids=voucher_ids,
            company_ids=company_ids,
            voucher_code_values=voucher_code_values,
            external_identifiers=external_identifiers,
            activity_states=activity_states,
            updated_utc=updated_utc,
            extent=extent,
            vouchers_only=True,
        )
        return ItemStream(self._stream(chains), _vouchers_of)

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


def _one_extent_each(extent: VoucherExtent) -> list[tuple[bool, dict[str, Any]]]:
    """Return one wire ``Extent`` per flag set in *extent*, each with whether it is vouchers.

    The API advises "if you need to use multiple extents, instead create a separate call
    for each individual extent": lighter requests, fewer 408s.  Built on the wire form, so
    that the deprecated flags are not set again on a model, which would warn again.
    """
    wire = unstructure(extent)
    return [
        (field.name == "vouchers", {key: key == pascal(field.name) for key in wire})
        for field in attrs.fields(VoucherExtent)
        if getattr(extent, field.name)
    ]


def _voucher_params(
    query: dict[str, Any],
    states: list[ActivityState] | None,
    extent: dict[str, Any],
    limitation: Limitation,
) -> dict[str, Any]:
    params = unstructure(
        VoucherFilter(
            limitation=limitation,
            activity_states=None if states is None else tuple(states),
            **query,
        )
    )
    params["Extent"] = extent
    return params


def _page_size(page: VouchersResult) -> int:
    return len(page.vouchers)


def _size_unseen(page: VouchersResult) -> None:
    """A page without the vouchers extent: how many vouchers it covered is not shown."""
    return None


def _last_voucher_id(page: VouchersResult) -> uuid.UUID | None:
    return page.vouchers[-1].id if page.vouchers else None


def _vouchers_of(page: VouchersResult) -> list[Voucher]:
    return page.vouchers
