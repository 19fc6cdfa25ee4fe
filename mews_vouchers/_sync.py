"""Planning a sync: read what Mews holds in scope, and diff it against the desired state.

Level-triggered: the plan depends only on the desired state and on what Mews holds now,
so planning again after a crash or a partial failure yields exactly what is left to do.
The key of a voucher is ``(service_id, external_identifier)``.

Reading streams the pages of ``vouchers.iter_pages`` (memory: a few pages, plus one
entry per voucher in scope, which the plan needs to find deletions and conflicts), and
the diff is one pass over each side with dicts: O(n).  Rates are read (extent
``voucher_assignments``) only when some desired item manages them, and codes
(``voucher_codes.iter_all``) only for the existing vouchers whose codes are managed, so
planning without either costs one read of the vouchers in scope.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from ._errors import MewsValidationError, SyncError
from ._models import (
    UNSET,
    ActivityState,
    Voucher,
    VoucherCode,
    VoucherCodeParameters,
    VoucherExtent,
    VoucherParameters,
    VoucherUpdate,
    to_uuid,
)
from ._sync_models import DesiredVoucher, SyncPlan, SyncResult
from ._validation import (
    Errors,
    to_uuid_list,
    validate_voucher_code_parameters,
    validate_voucher_parameters,
)

if TYPE_CHECKING:
    from ._client import MewsClient

Key = tuple[uuid.UUID, str]

_NIL = uuid.UUID(int=0)
_INDEX = re.compile(r"^(\w+)\[(\d+)\]")


# --- validation --------------------------------------------------------------------------


@attrs.frozen
class Options:
    """The checked options of a plan."""

    enterprise_id: uuid.UUID | None
    service_ids: tuple[uuid.UUID, ...] | None
    delete_missing: bool
    owned_prefix: str | None
    max_deletes: int | None


def check_options(
    *,
    enterprise_id: uuid.UUID | str | None,
    service_ids: Iterable[uuid.UUID | str] | None,
    delete_missing: bool,
    owned_prefix: str | None,
    max_deletes: int | None,
    errors: Errors,
) -> Options:
    """Check the keyword arguments of plan_sync, adding a path-named error for each problem."""
    eid = None
    if enterprise_id is not None:
        try:
            eid = to_uuid(enterprise_id, "enterprise_id")
        except MewsValidationError as exc:
            errors += exc.errors
    services = None
    if service_ids is not None:
        services = tuple(dict.fromkeys(to_uuid_list(service_ids, "service_ids", errors)))
        if not services and not any(p.startswith("service_ids") for p, _ in errors):
            errors.append(("service_ids", "at least one service id, or None for the desired's"))
    if not isinstance(delete_missing, bool):
        errors.append(("delete_missing", f"expected True or False, got {delete_missing!r}"))
    if owned_prefix is not None and not isinstance(owned_prefix, str):
        errors.append(("owned_prefix", f"expected a string, got {type(owned_prefix).__name__}"))
    if delete_missing is True and owned_prefix is None:
        # kubectl's --prune deleted what it did not own; ownership here is always explicit.
        errors.append(
            (
                "owned_prefix",
                "required with delete_missing: only vouchers whose external identifier starts "
                "with it are deleted (give '' to own every identified voucher in scope)",
            )
        )
    if max_deletes is not None and (
        not isinstance(max_deletes, int) or isinstance(max_deletes, bool) or max_deletes < 0
    ):
        errors.append(("max_deletes", f"expected a whole number >= 0, got {max_deletes!r}"))
    return Options(eid, services, delete_missing is True, owned_prefix, max_deletes)


def _reindex(errors: Errors, positions: list[int]) -> Errors:
    """Map ``desired[k]`` paths of a filtered list back to the items' own positions."""

    def fix(path: str) -> str:
        return _INDEX.sub(lambda m: f"{m[1]}[{positions[int(m[2])]}]", path, count=1)

    return [(fix(path), message) for path, message in errors]


def check_desired(
    desired: Iterable[object], options: Options, errors: Errors
) -> list[DesiredVoucher]:
    """Return the desired items as DesiredVouchers, adding every problem to *errors*.

    Each is validated as ``vouchers.add`` validates it, and its codes as
    ``voucher_codes.add`` does; an item needs an external identifier, unique within its
    service, within ``owned_prefix`` when one is given, in ``service_ids`` when given.
    """
    if isinstance(desired, str | bytes | VoucherParameters | DesiredVoucher) or not isinstance(
        desired, Iterable
    ):
        errors.append(("desired", "expected an iterable of VoucherParameters or DesiredVoucher"))
        return []
    items: list[DesiredVoucher] = []
    positions: list[int] = []
    for i, item in enumerate(desired):
        if type(item) is VoucherParameters:
            items.append(DesiredVoucher(params=item))
        elif isinstance(item, DesiredVoucher) and isinstance(item.params, VoucherParameters):
            items.append(item)
        elif isinstance(item, VoucherParameters):
            items.append(DesiredVoucher(params=item))
        else:
            errors.append(
                (f"desired[{i}]", f"expected VoucherParameters or DesiredVoucher, got {item!r:.80}")
            )
            continue
        positions.append(i)
    try:
        validate_voucher_parameters([d.params for d in items], name="desired")
    except MewsValidationError as exc:
        errors += _reindex(exc.errors, positions)
    seen: dict[Key, int] = {}
    code_seen: dict[tuple[uuid.UUID, str], str] = {}
    services = None if options.service_ids is None else set(options.service_ids)
    prefix = options.owned_prefix
    for i, d in zip(positions, items, strict=True):
        p = d.params
        ext = p.external_identifier
        at = f"desired[{i}]"
        if services is not None and p.service_id not in services:
            errors.append((f"{at}.service_id", f"{p.service_id} is not in service_ids"))
        if not ext:
            errors.append(
                (f"{at}.external_identifier", "required: sync keys a voucher by its identifier")
            )
        elif isinstance(ext, str):
            first = seen.setdefault((p.service_id, ext), i)
            if first != i:
                errors.append(
                    (
                        f"{at}.external_identifier",
                        f"{ext!r} repeats desired[{first}] (same service)",
                    )
                )
            if prefix and not ext.startswith(prefix):
                errors.append(
                    (
                        f"{at}.external_identifier",
                        f"{ext!r} is outside owned_prefix {prefix!r}: sync would never delete it",
                    )
                )
        if d.codes is not None:
            _check_codes(d.codes, p.service_id, at, code_seen, errors)
    return items


def _check_codes(
    codes: tuple[Any, ...],
    service_id: uuid.UUID,
    at: str,
    seen: dict[tuple[uuid.UUID, str], str],
    errors: Errors,
) -> None:
    try:
        validate_voucher_code_parameters(
            [VoucherCodeParameters(voucher_id=_NIL, value=c) for c in codes], name=f"{at}.codes"
        )
    except MewsValidationError as exc:
        errors += [(path.removesuffix(".value"), message) for path, message in exc.errors]
    for k, code in enumerate(codes):
        if not isinstance(code, str):
            continue
        # Code values are unique among the active codes of an enterprise, and a service
        # is in one enterprise: the same value on two desired vouchers cannot both exist.
        first = seen.setdefault((service_id, code), f"{at}.codes[{k}]")
        if first != f"{at}.codes[{k}]":
            errors.append((f"{at}.codes[{k}]", f"{code!r} repeats {first}"))


# --- the diff ----------------------------------------------------------------------------


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
class _Found:
    """What the read found in scope, keyed for the diff."""

    by_key: dict[Key, Voucher] = attrs.field(factory=dict)
    conflicted: dict[Key, list[Voucher]] = attrs.field(factory=dict)
    unmanaged: list[Voucher] = attrs.field(factory=list)
    rate_ids: dict[uuid.UUID, list[uuid.UUID]] = attrs.field(factory=dict)

    def add(self, vouchers: list[Voucher]) -> None:
        by_key, unmanaged = self.by_key, self.unmanaged
        for voucher in vouchers:
            ext = voucher.external_identifier
            if not voucher.is_active:
                continue  # asked for active ones only; a deleted one is in no plan
            if not ext:
                unmanaged.append(voucher)
                continue
            key = (voucher.service_id, ext)
            first = by_key.setdefault(key, voucher)
            if first is not voucher:
                self._again(key, first, voucher)

    def _again(self, key: Key, first: Voucher, voucher: Voucher) -> None:
        if first.id == voucher.id:
            # The same voucher twice (a chain retried); the newer copy wins.
            if voucher.updated_utc > first.updated_utc:
                self.by_key[key] = voucher
            return
        held = self.conflicted.setdefault(key, [first])
        if all(v.id != voucher.id for v in held):
            held.append(voucher)


async def _read(
    client: MewsClient, options: Options, services: tuple[uuid.UUID, ...], rates: bool
) -> _Found:
    found = _Found()
    pages = client.vouchers.iter_pages(
        service_ids=services,
        enterprise_ids=None if options.enterprise_id is None else [options.enterprise_id],
        activity_states=[ActivityState.ACTIVE],
        extent=VoucherExtent(vouchers=True, voucher_assignments=rates),
    )
    async with pages:
        async for page in pages:
            found.add(page.vouchers)
            # Assignments are paged on their own cursor: they are gathered from every page.
            for assignment in page.voucher_assignments:
                found.rate_ids.setdefault(assignment.voucher_id, []).append(assignment.rate_id)
    return found


async def _read_codes(
    client: MewsClient, options: Options, voucher_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[VoucherCode]]:
    codes: dict[uuid.UUID, list[VoucherCode]] = {voucher_id: [] for voucher_id in voucher_ids}
    stream = client.voucher_codes.iter_all(
        voucher_ids=voucher_ids,
        enterprise_ids=None if options.enterprise_id is None else [options.enterprise_id],
    )
    async with stream:
        async for code in stream:
            if code.is_active and code.voucher_id in codes:
                codes[code.voucher_id].append(code)
    return codes


@attrs.define
class _Draft:
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


async def plan_sync(
    client: MewsClient,
    desired: Iterable[VoucherParameters | DesiredVoucher],
    *,
    enterprise_id: uuid.UUID | str | None = None,
    service_ids: Iterable[uuid.UUID | str] | None = None,
    delete_missing: bool = False,
    owned_prefix: str | None = None,
    max_deletes: int | None = None,
) -> SyncPlan:
    """Compute what would make Mews match *desired*; see ``Vouchers.plan_sync``."""
    errors: Errors = []
    options = check_options(
        enterprise_id=enterprise_id,
        service_ids=service_ids,
        delete_missing=delete_missing,
        owned_prefix=owned_prefix,
        max_deletes=max_deletes,
        errors=errors,
    )
    items = check_desired(desired, options, errors)
    if errors:
        raise MewsValidationError(errors)
    services = options.service_ids
    if services is None:
        services = tuple(dict.fromkeys(d.params.service_id for d in items))
    draft = _Draft()
    # Nothing desired and no scope given: nothing to read, nothing to write.
    if services:
        manage_rates = any(d.params.assigned_rate_ids is not None for d in items)
        found = await _read(client, options, services, manage_rates)
        managed_codes = _diff_vouchers(draft, items, found, options)
        if managed_codes:
            current = await _read_codes(client, options, [v.id for v, _ in managed_codes])
            _diff_codes(draft, managed_codes, current, options.delete_missing)
    plan = SyncPlan(
        enterprise_id=options.enterprise_id,
        service_ids=services,
        delete_missing=options.delete_missing,
        owned_prefix=options.owned_prefix,
        **attrs.asdict(draft, recurse=False),
    )
    _check_deletes(plan, options.max_deletes)
    return plan


def _diff_vouchers(
    draft: _Draft, items: list[DesiredVoucher], found: _Found, options: Options
) -> list[tuple[Voucher, tuple[str, ...]]]:
    """Fill in the voucher actions; return the existing vouchers whose codes are managed."""
    by_key, conflicted, rate_ids = found.by_key, found.conflicted, found.rate_ids
    managed_codes: list[tuple[Voucher, tuple[str, ...]]] = []
    no_rates: list[uuid.UUID] = []
    for d in items:
        p = d.params
        key = (p.service_id, p.external_identifier or "")
        voucher = by_key.get(key)
        if voucher is None:
            draft.adds.append(d)
            continue
        if key in conflicted:
            continue
        rates = None
        if p.assigned_rate_ids is not None:
            rates = rate_ids.get(voucher.id, no_rates)
        update = diff(p, voucher, rates)
        if update is None:
            draft.unchanged += 1
        else:
            draft.updates.append(update)
            draft.before[voucher.id] = voucher
            if rates is not None and update.assigned_rate_ids is not UNSET:
                draft.before_rate_ids[voucher.id] = tuple(rates)
        if d.codes is not None:
            managed_codes.append((voucher, d.codes))
    if options.delete_missing:
        prefix = options.owned_prefix or ""
        wanted = {(d.params.service_id, d.params.external_identifier) for d in items}
        draft.deletes.extend(
            voucher
            for key, voucher in by_key.items()
            if key not in wanted and key not in conflicted and key[1].startswith(prefix)
        )
    draft.unmanaged.extend(found.unmanaged)
    draft.conflicts.extend(v for held in conflicted.values() for v in held)
    return managed_codes


def _diff_codes(
    draft: _Draft,
    managed: list[tuple[Voucher, tuple[str, ...]]],
    current: dict[uuid.UUID, list[VoucherCode]],
    delete_missing: bool,
) -> None:
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


def _check_deletes(plan: SyncPlan, max_deletes: int | None) -> None:
    deletes = len(plan.deletes) + len(plan.code_deletes)
    if max_deletes is not None and deletes > max_deletes:
        raise SyncError(
            f"the plan deletes {len(plan.deletes):,} vouchers and {len(plan.code_deletes):,} "
            f"codes, {deletes:,} in all, more than max_deletes={max_deletes:,}; "
            "nothing was written",
            SyncResult(),
            plan,
        )
