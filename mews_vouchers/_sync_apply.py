"""Applying a sync plan: check it against Mews as it is now, then write it with the bulk engine.

A plan is a snapshot.  Just before writing, apply re-reads every voucher it would update
or delete (and the vouchers whose codes it changes) and skips as *stale* any that is no
longer as planned: another ``UpdatedUtc``, another value in a field, deleted.  The API
keeps ``UpdatedUtc`` in whole seconds, so the fields are compared as well: a change made
in the same second as the planned state is still seen.  It also looks up the keys of the
vouchers to add, and skips any that an active voucher took meanwhile (another run).
What Mews already holds as planned (a voucher or code deleted, a code added, by another
run say) is left out: it is neither written again nor stale.

Then it writes in an order that keeps each step valid: code deletions and voucher
deletions first (they free code values that other vouchers may want), then updates,
then adds, then the codes of existing and of new vouchers.  Each step is one bulk call
(chunks, rate limit, retries, exactly-once adds); a step that fails in part does not stop
the others, and the failures are raised together as one SyncError at the end.  Whatever
is left undone is what the next plan will find.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from ._batching import ProgressCallback
from ._errors import BulkOperationError, ChunkFailure, MewsError, MewsValidationError, SyncError
from ._models import (
    Voucher,
    VoucherCode,
    VoucherCodeParameters,
    VoucherExtent,
)
from ._sync_models import DesiredVoucher, StaleAction, SyncAction, SyncPlan, SyncResult
from ._validation import (
    Errors,
    validate_voucher_code_parameters,
    validate_voucher_parameters,
    validate_voucher_updates,
)

if TYPE_CHECKING:
    from .resources import VoucherCodes, Vouchers

T = TypeVar("T")

# The fields that make a voucher what the plan saw (besides UpdatedUtc and being active).
_SNAPSHOT_FIELDS = (
    "service_id",
    "external_identifier",
    "name",
    "type",
    "company_id",
    "travel_agency_id",
    "occupiable_interval_start_utc",
    "occupiable_interval_end_utc",
)


def check_plan(plan: object) -> SyncPlan:
    """Return *plan* if it is a SyncPlan whose items are all valid, else raise."""
    if not isinstance(plan, SyncPlan):
        raise MewsValidationError([("plan", f"expected a SyncPlan, got {type(plan).__name__}")])
    errors: Errors = []
    checks: list[tuple[Callable[[Sequence[object], str], None], Sequence[object], str]] = [
        (validate_voucher_parameters, [d.params for d in plan.adds], "plan.adds"),
        (validate_voucher_updates, plan.updates, "plan.updates"),
        (validate_voucher_code_parameters, plan.code_adds, "plan.code_adds"),
    ]
    for validate, items, name in checks:
        try:
            validate(items, name)
        except MewsValidationError as exc:
            errors += exc.errors
    missing = [i for i, u in enumerate(plan.updates) if u.voucher_id not in plan.before]
    errors += [(f"plan.updates[{i}]", "no snapshot in plan.before") for i in missing]
    if errors:
        raise MewsValidationError(errors)
    return plan


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _changed(
    planned: Voucher,
    now: Voucher | None,
    planned_rates: tuple[uuid.UUID, ...] | None,
    rates_now: dict[uuid.UUID, set[uuid.UUID]],
) -> str | None:
    """Say how *now* differs from the voucher as planned; None when it does not."""
    if now is None or not now.is_active:
        return "deleted since planning"
    if now.updated_utc != planned.updated_utc:
        return f"UpdatedUtc is {_utc(now.updated_utc)}, planned against {_utc(planned.updated_utc)}"
    for name in _SNAPSHOT_FIELDS:
        if getattr(now, name) != getattr(planned, name):
            return f"{name} changed since planning"
    if planned_rates is not None and set(planned_rates) != rates_now.get(now.id, set()):
        return "assigned rates changed since planning"
    return None


@attrs.define
class _Apply:
    """One application of a plan: what is still to write, and what happened so far."""

    vouchers: Vouchers
    voucher_codes: VoucherCodes
    plan: SyncPlan
    on_progress: ProgressCallback | None
    stale: list[StaleAction] = attrs.field(factory=list)
    failures: list[ChunkFailure[Any]] = attrs.field(factory=list)

    @property
    def _enterprises(self) -> list[uuid.UUID] | None:
        eid = self.plan.enterprise_id
        return None if eid is None else [eid]

    def skip(self, action: SyncAction, item: Any, reason: str) -> None:
        """Record that *item* is not written, because Mews changed since planning."""
        self.stale.append(StaleAction(action=action, item=item, reason=reason))

    # -- checks ---------------------------------------------------------------

    async def current_targets(self) -> tuple[dict[uuid.UUID, Voucher], dict[uuid.UUID, set[Any]]]:
        """Re-read the vouchers the plan updates, deletes or changes the codes of."""
        plan = self.plan
        ids = {u.voucher_id for u in plan.updates}
        ids.update(v.id for v in plan.deletes)
        ids.update(c.voucher_id for c in plan.code_adds)
        ids.update(c.voucher_id for c in plan.code_deletes)
        if not ids:
            return {}, {}
        current = await self.vouchers.get_all(
            service_ids=plan.service_ids,
            enterprise_ids=self._enterprises,
            voucher_ids=sorted(ids, key=str),
            extent=VoucherExtent(voucher_assignments=bool(plan.before_rate_ids)),
        )
        rates: dict[uuid.UUID, set[Any]] = {}
        for assignment in current.voucher_assignments:
            rates.setdefault(assignment.voucher_id, set()).add(assignment.rate_id)
        return {v.id: v for v in current.vouchers}, rates

    async def taken_keys(self) -> dict[tuple[uuid.UUID, str | None], uuid.UUID]:
        """Look up the keys of the vouchers to add: an active voucher may hold one by now."""
        adds = self.plan.adds
        if not adds:
            return {}
        keys = {(d.params.service_id, d.params.external_identifier) for d in adds}
        found = await self.vouchers.find_by_external_identifiers(
            sorted({str(ext) for _, ext in keys}),
            service_ids=sorted({service for service, _ in keys}, key=str),
            enterprise_id=self.plan.enterprise_id,
        )
        return {key: voucher.id for key, voucher in found.items() if key in keys}

    async def active_codes(self, voucher_ids: set[uuid.UUID]) -> list[VoucherCode]:
        """Return the active codes of *voucher_ids*."""
        if not voucher_ids:
            return []
        stream = self.voucher_codes.iter_all(
            voucher_ids=sorted(voucher_ids, key=str), enterprise_ids=self._enterprises
        )
        async with stream:
            return [code async for code in stream if code.is_active]

    # -- writing --------------------------------------------------------------

    async def write(
        self,
        send: Callable[..., Awaitable[Any]],
        items: list[Any],
        entries: list[Any],
        positions: list[int],
    ) -> list[Any]:
        """Send *items* with one bulk call; return results aligned with them (None: failed).

        Failures are recorded with the plan's *entries* and their *positions* in the plan.
        """
        if not items:
            return []
        try:
            results = await send(
                items, enterprise_id=self.plan.enterprise_id, on_progress=self.on_progress
            )
        except BulkOperationError as exc:
            for failure in exc.failures:
                self.failures.append(
                    ChunkFailure(
                        indices=[positions[i] for i in failure.indices],
                        items=[entries[i] for i in failure.indices],
                        error=failure.error,
                        ambiguous=failure.ambiguous,
                    )
                )
            return list(exc.results)
        except MewsError as exc:
            # Not a bulk outcome (the client was closed, say): every item of the step is
            # in doubt, unless it was refused before anything was sent.
            self.failures.append(
                ChunkFailure(
                    indices=list(positions),
                    items=list(entries),
                    error=exc,
                    ambiguous=not isinstance(exc, MewsValidationError),
                )
            )
            return [None] * len(items)
        # delete answers None: every id was deleted.
        return list(items) if results is None else list(results)


def _fresh(entries: Sequence[T], keep: Callable[[T], bool]) -> tuple[list[T], list[int]]:
    """Return the entries *keep* accepts, with their positions."""
    kept = [(i, e) for i, e in enumerate(entries) if keep(e)]
    return [e for _, e in kept], [i for i, _ in kept]


async def apply_sync(
    vouchers: Vouchers,
    voucher_codes: VoucherCodes,
    plan: SyncPlan,
    *,
    on_progress: ProgressCallback | None = None,
) -> SyncResult:
    """Apply *plan*; see ``Vouchers.apply_sync``."""
    check_plan(plan)
    if plan.is_empty:
        return SyncResult()
    run = _Apply(vouchers, voucher_codes, plan, on_progress)
    vouchers_now, rates_now = await run.current_targets()
    taken = await run.taken_keys()
    code_targets = {c.voucher_id for c in plan.code_adds}
    code_targets.update(c.voucher_id for c in plan.code_deletes)
    codes_now = await run.active_codes(code_targets)
    values_now = {(c.voucher_id, c.value) for c in codes_now}
    ids_now = {c.id for c in codes_now}

    # What is already as planned (a voucher or code deleted, a code added) is not written
    # again, and is not stale either: Mews holds what the plan wanted.
    def live(action: SyncAction, entry: Any, planned: Voucher) -> bool:
        now = vouchers_now.get(planned.id)
        if action == "delete" and (now is None or not now.is_active):
            return False
        rates = plan.before_rate_ids.get(planned.id) if action == "update" else None
        reason = _changed(planned, now, rates, rates_now)
        if reason is not None:
            run.skip(action, entry, reason)
        return reason is None

    def code_live(code: VoucherCodeParameters) -> bool:
        voucher = vouchers_now.get(code.voucher_id)
        if voucher is None or not voucher.is_active:
            run.skip("code_add", code, "its voucher was deleted since planning")
            return False
        return (code.voucher_id, code.value) not in values_now

    def add_live(desired: DesiredVoucher) -> bool:
        key = (desired.params.service_id, desired.params.external_identifier)
        holder = taken.get(key)
        if holder is not None:
            run.skip("add", desired, f"voucher {holder} took this identifier since planning")
        return holder is None

    code_deletes, code_delete_at = _fresh(plan.code_deletes, lambda c: c.id in ids_now)
    deletes, delete_at = _fresh(plan.deletes, lambda v: live("delete", v, v))
    updates, update_at = _fresh(
        plan.updates, lambda u: live("update", u, plan.before[u.voucher_id])
    )
    adds, add_at = _fresh(plan.adds, add_live)
    code_adds, code_add_at = _fresh(plan.code_adds, code_live)

    deleted_codes = await run.write(
        voucher_codes.delete, [c.id for c in code_deletes], code_deletes, code_delete_at
    )
    deleted = await run.write(vouchers.delete, [v.id for v in deletes], deletes, delete_at)
    updated = await run.write(vouchers.update, updates, updates, update_at)
    added = await run.write(vouchers.add, [d.params for d in adds], adds, add_at)

    # The codes of the vouchers just added, numbered after the plan's own code adds.
    new_codes = [
        VoucherCodeParameters(voucher_id=voucher.id, value=value)
        for voucher, desired in zip(added, adds, strict=True)
        if voucher is not None
        for value in desired.codes or ()
    ]
    first_new = len(plan.code_adds)
    code_entries = code_adds + new_codes
    code_positions = code_add_at + list(range(first_new, first_new + len(new_codes)))
    codes_added = await run.write(voucher_codes.add, code_entries, code_entries, code_positions)

    result = SyncResult(
        added=[v for v in added if v is not None],
        updated=[v for v in updated if v is not None],
        deleted=[i for i in deleted if i is not None],
        codes_added=[c for c in codes_added if c is not None],
        codes_deleted=[i for i in deleted_codes if i is not None],
        stale=run.stale,
        failures=run.failures,
    )
    if run.failures:
        raise SyncError(_failure_message(result), result)
    return result


def _failure_message(result: SyncResult) -> str:
    failed = sum(len(f.indices) for f in result.failures)
    ambiguous = sum(len(f.indices) for f in result.failures if f.ambiguous)
    text = f"sync: {failed:,} writes failed"
    if ambiguous:
        text += f" ({ambiguous:,} ambiguous: they may have been applied)"
    text += f"; {result.summary()} First error: {result.failures[0].error}"
    return text + "; run the sync again to do what is left"
