"""The diff of a sync: each voucher read is compared with its desired state as its page arrives.

Diffing as the pages stream in, rather than after the read, keeps two costs away from a
large sync.  Time: a page is diffed while the next one is on its way, so the diff hides
behind the read's own waiting.  Memory: a voucher that is as desired is dropped at once,
like any voucher ``iter_all`` yields; what is kept is a flag per desired item and the
keys in scope that are not desired, none of which the garbage collector has to visit.
Only the vouchers the plan acts on (updates, deletions, managed rates or codes) and the
unmanaged ones, which the plan reports, are kept whole.

Each voucher is in exactly one chain of the read, and the pages of a chain do not
overlap, so a key met twice is held by two vouchers: a conflict.  (A server sending one
voucher twice would make a false conflict, which is the safe side: it is not written.)
Conflicts are known only once every page is in; the plan then leaves those keys alone,
and the vouchers holding them are read again by their identifiers, which is rare and
cheap, to be reported.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from operator import attrgetter
from typing import Any, Final

import attrs

from ._fastwire import LazyPage
from ._models import (
    UNSET,
    Voucher,
    VoucherCode,
    VoucherCodeParameters,
    VoucherParameters,
    VoucherUpdate,
)
from ._sync_models import DesiredVoucher

# A key as the diff holds it: the service id as an int (hashed in C, unlike a UUID) and
# the external identifier.
IntKey = tuple[int, str]

_NO_KEYS: Final[dict[str, int]] = {}
_UNMANAGED: Final = -1
_DELETABLE: Final = -2
_RATES = attrgetter("assigned_rate_ids")


@attrs.define
class Desired:
    """The desired state, checked, and indexed by service and identifier for the diff."""

    params: list[VoucherParameters]
    codes: list[tuple[str, ...] | None]
    index: dict[int, dict[str, int]]
    """Service id (as an int) -> external identifier -> position in ``params``."""
    services: list[uuid.UUID]
    """The services named, in the order first named."""

    @property
    def manages_rates(self) -> bool:
        """Return whether any item manages its assigned rates."""
        # An empty tuple manages rates too (none), so None is counted, in C.
        rates = list(map(_RATES, self.params))
        return rates.count(None) != len(rates)

    def item(self, i: int) -> DesiredVoucher:
        """Return item *i* as a DesiredVoucher."""
        return DesiredVoucher(params=self.params[i], codes=self.codes[i])

    def key(self, i: int) -> IntKey:
        """Return the key of item *i*."""
        p = self.params[i]
        return p.service_id.int, str(p.external_identifier)


def _whole_seconds(moment: datetime | None) -> datetime | None:
    # The wire carries whole seconds: a desired microsecond would never read back.
    if moment is None or not moment.microsecond:
        return moment
    return moment.replace(microsecond=0)


def diff(
    params: VoucherParameters,
    voucher: Voucher,
    rate_ids: Iterable[uuid.UUID] | None,
) -> VoucherUpdate | None:
    """Return the update that makes *voucher* match *params*, setting only what differs.

    Text is compared exactly, datetimes as instants (in whole seconds, as the wire
    carries them), rates as sets and only when *params* manages them (not None) and
    *rate_ids* (the voucher's current rates) is given.  None when nothing differs.
    """
    changes: dict[str, Any] = {}
    if params.name != voucher.name:
        changes["name"] = params.name
    if params.type is not voucher.type:
        changes["type"] = params.type
    # A travel agency voucher may come back with its company in TravelAgencyId only.
    company = voucher.company_id if voucher.company_id is not None else voucher.travel_agency_id
    wanted_company = params.company_id
    if wanted_company is not company and wanted_company != company:
        changes["company_id"] = wanted_company
    start = _whole_seconds(params.occupiable_interval_start_utc)
    if start != voucher.occupiable_interval_start_utc:
        changes["occupiable_interval_start_utc"] = start
    end = _whole_seconds(params.occupiable_interval_end_utc)
    if end != voucher.occupiable_interval_end_utc:
        changes["occupiable_interval_end_utc"] = end
    wanted_rates = params.assigned_rate_ids
    if wanted_rates is not None and rate_ids is not None and set(wanted_rates) != set(rate_ids):
        changes["assigned_rate_ids"] = wanted_rates
    if not changes:
        return None
    return VoucherUpdate(voucher_id=voucher.id, **changes)


@attrs.define
class Draft:
    """A plan being filled in; frozen into a SyncPlan once complete."""

    adds: list[DesiredVoucher] = attrs.field(factory=list)
    updates: list[VoucherUpdate] = attrs.field(factory=list)
    deletes: list[Voucher] = attrs.field(factory=list)
    code_adds: list[VoucherCodeParameters] = attrs.field(factory=list)
    code_deletes: list[VoucherCode] = attrs.field(factory=list)
    unmanaged: list[Voucher] = attrs.field(factory=list)
    conflicts: list[Voucher] = attrs.field(factory=list)
    unchanged: int = 0
    before: dict[uuid.UUID, Voucher] = attrs.field(factory=dict)
    before_rate_ids: dict[uuid.UUID, tuple[uuid.UUID, ...]] = attrs.field(factory=dict)


class Differ:
    """Diffs the pages of a read against the desired state, one page at a time."""

    def __init__(self, desired: Desired, *, delete_missing: bool, owned_prefix: str) -> None:
        self.desired = desired
        self.delete_missing = delete_missing
        self.owned_prefix = owned_prefix
        # For each desired item, 1 once a voucher holding its key was read.
        self.matched = bytearray(len(desired.params))
        # Desired items that need more than the inline check: diffed once all is read.
        self.kept: dict[int, Voucher] = {}
        # Keys in scope that are not desired, by service, for conflicts.
        self.others: dict[int, set[str]] = {}
        self.conflicted: set[IntKey] = set()
        self.deletable: dict[IntKey, Voucher] = {}
        self.unmanaged: list[Voucher] = []
        self.rate_ids: dict[uuid.UUID, list[uuid.UUID]] = {}

    def see(self, page: LazyPage) -> None:
        """Diff the vouchers of one page, and gather its rate assignments.

        The page's records are compared as decoded (they hold the models' fields); only
        the vouchers the plan may act on are built as models, in one call per page.
        """
        index, params, codes = self.desired.index, self.desired.params, self.desired.codes
        matched = self.matched
        last_service: uuid.UUID | None = None
        service = 0
        positions = _NO_KEYS
        others: set[str] = set()
        records = page.vouchers.records
        # What the plan may hold, by position in *records*: kept for a closer diff (the
        # desired item's position), unmanaged (-1), or deletable (-2, with its key).
        held: list[int] = []
        why: list[int] = []
        deletable: list[IntKey] = []
        for j, voucher in enumerate(records):
            ext = voucher.external_identifier
            if not voucher.is_active:
                continue  # asked for active ones only; a deleted one is in no plan
            if not ext:
                held.append(j)
                why.append(_UNMANAGED)
                continue
            service_id = voucher.service_id
            if service_id is not last_service:
                # The reader shares one UUID object between the vouchers of a service.
                last_service, service = service_id, service_id.int
                positions = index.get(service, _NO_KEYS)
                others = self.others.setdefault(service, set())
            i = positions.get(ext)
            if i is None:
                if ext in others:
                    self.conflicted.add((service, ext))
                else:
                    others.add(ext)
                    if self.delete_missing and ext.startswith(self.owned_prefix):
                        held.append(j)
                        why.append(_DELETABLE)
                        deletable.append((service, ext))
                continue
            if matched[i]:
                self.conflicted.add((service, ext))
                continue
            matched[i] = 1
            p = params[i]
            # Most vouchers of a nightly sync are as desired: that is decided inline, and
            # anything else (or in doubt) waits for diff() once every page is in.
            if (
                p.name == voucher.name
                and p.type is voucher.type
                and p.company_id == voucher.company_id
                and p.occupiable_interval_start_utc == voucher.occupiable_interval_start_utc
                and p.occupiable_interval_end_utc == voucher.occupiable_interval_end_utc
                and p.assigned_rate_ids is None
                and codes[i] is None
            ):
                continue
            held.append(j)
            why.append(i)
        if held:
            keys = iter(deletable)
            for voucher, i in zip(page.vouchers.at(held), why, strict=True):
                if i >= 0:
                    self.kept[i] = voucher
                elif i == _UNMANAGED:
                    self.unmanaged.append(voucher)
                else:
                    self.deletable[next(keys)] = voucher
        for assignment in page.voucher_assignments:
            # Assignments may be paged on their own cursor: gathered from every page.
            self.rate_ids.setdefault(assignment.voucher_id, []).append(assignment.rate_id)

    def finish(self, draft: Draft) -> list[tuple[Voucher, tuple[str, ...]]]:
        """Fill in the voucher actions; return the vouchers whose codes are managed."""
        desired, conflicted = self.desired, self.conflicted
        managed_codes: list[tuple[Voucher, tuple[str, ...]]] = []
        held_conflicted = 0
        if conflicted:
            held_conflicted = sum(
                1 for i, held in enumerate(self.matched) if held and desired.key(i) in conflicted
            )
        for i in sorted(self.kept):
            voucher = self.kept[i]
            if conflicted and desired.key(i) in conflicted:
                continue
            p = desired.params[i]
            rates = None if p.assigned_rate_ids is None else self.rate_ids.get(voucher.id, [])
            update = diff(p, voucher, rates)
            if update is not None:
                draft.updates.append(update)
                draft.before[voucher.id] = voucher
                if rates is not None and update.assigned_rate_ids is not UNSET:
                    draft.before_rate_ids[voucher.id] = tuple(rates)
            codes = desired.codes[i]
            if codes is not None:
                managed_codes.append((voucher, codes))
        held = len(self.matched) - self.matched.count(0)
        draft.unchanged = held - held_conflicted - len(draft.updates)
        if held < len(self.matched):
            draft.adds.extend(desired.item(i) for i, h in enumerate(self.matched) if not h)
        draft.deletes.extend(v for key, v in self.deletable.items() if key not in conflicted)
        draft.unmanaged.extend(self.unmanaged)
        return managed_codes


def diff_codes(
    draft: Draft,
    managed: list[tuple[Voucher, tuple[str, ...]]],
    current: dict[uuid.UUID, list[VoucherCode]],
    delete_missing: bool,
) -> None:
    """Add the code actions that make each managed voucher hold exactly its codes."""
    for voucher, codes in managed:
        active = current.get(voucher.id, [])
        values = {code.value for code in active}
        draft.code_adds.extend(
            VoucherCodeParameters(voucher_id=voucher.id, value=value)
            for value in codes
            if value not in values
        )
        if delete_missing:
            wanted = set(codes)
            draft.code_deletes.extend(code for code in active if code.value not in wanted)
