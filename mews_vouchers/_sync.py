"""Planning a sync: check the desired state, read what Mews holds in scope, diff the two.

Level-triggered: the plan depends only on the desired state and on what Mews holds now,
so planning again after a crash or a partial failure yields exactly what is left to do.
The key of a voucher is ``(service_id, external_identifier)``.

The desired state is validated and indexed by key before any request; the read streams
the pages of ``vouchers.iter_pages`` through the diff (``_sync_diff``) as they arrive, in
O(n) with dicts, keeping only what the plan acts on.  Rates are read (extent
``voucher_assignments``) only when some desired item manages them, and codes
(``voucher_codes.iter_all``) only for the existing vouchers whose codes are managed, so
planning without either costs one read of the vouchers in scope.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from itertools import repeat
from typing import TYPE_CHECKING, Any

import anyio.lowlevel
import attrs

from ._errors import MewsValidationError, SyncError
from ._models import (
    ActivityState,
    Voucher,
    VoucherCode,
    VoucherCodeParameters,
    VoucherExtent,
    VoucherParameters,
)
from ._queries import VoucherQuery
from ._sync_diff import Desired, Differ, Draft, IntKey, diff_codes
from ._sync_models import DesiredVoucher, SyncPlan, SyncResult
from ._validation import (
    Errors,
    index_voucher_parameters,
    to_optional_uuid,
    to_uuid_list,
    validate_voucher_code_parameters,
)

if TYPE_CHECKING:
    from .resources import VoucherCodes, Vouchers

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
    eid = to_optional_uuid(enterprise_id, "enterprise_id", errors)
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


def _reindex(errors: Errors, positions: Sequence[int]) -> Errors:
    """Map ``desired[k]`` paths of a filtered list back to the items' own positions."""

    def fix(path: str) -> str:
        return _INDEX.sub(lambda m: f"{m[1]}[{positions[int(m[2])]}]", path, count=1)

    return [(fix(path), message) for path, message in errors]


def check_desired(desired: Iterable[object], options: Options, errors: Errors) -> Desired:
    """Return the desired state checked and indexed, adding every problem to *errors*.

    Each item is validated as ``vouchers.add`` validates it, and its codes as
    ``voucher_codes.add`` does; an item needs an external identifier, unique within its
    service, within ``owned_prefix`` when one is given, in ``service_ids`` when given.
    """
    state = Desired(params=[], codes=[], index={}, services=[])
    if isinstance(desired, str | bytes | VoucherParameters | DesiredVoucher) or not isinstance(
        desired, Iterable
    ):
        errors.append(("desired", "expected an iterable of VoucherParameters or DesiredVoucher"))
        return state
    params, codes = state.params, state.codes
    # Positions in *desired* of the items kept, once an item of the wrong type was left out.
    kept: list[int] | None = None
    items: list[Any] = desired if isinstance(desired, list) else list(desired)
    if list(map(type, items)).count(VoucherParameters) == len(items):
        # The common case, plain parameters: no item to unwrap, no code to manage.
        params.extend(items)
        codes.extend([None] * len(items))
        items = []
    for i, item in enumerate(items):
        if type(item) is VoucherParameters:
            params.append(item)
            codes.append(None)
        elif isinstance(item, DesiredVoucher) and isinstance(item.params, VoucherParameters):
            params.append(item.params)
            codes.append(item.codes)
        elif isinstance(item, VoucherParameters):
            params.append(item)
            codes.append(None)
        else:
            got = f"{item!r:.80}"
            errors.append(
                (f"desired[{i}]", f"expected VoucherParameters or DesiredVoucher, got {got}")
            )
            if kept is None:
                kept = list(range(i))
            continue
        if kept is not None:
            kept.append(i)
    positions: Sequence[int] = range(len(params)) if kept is None else kept
    try:
        keys = index_voucher_parameters(params, name="desired", unique_keys=False)
    except MewsValidationError as exc:
        errors += _reindex(exc.errors, positions)
    else:
        if _take_index(state, keys, options):
            return state
    _index(state, positions, options, errors)
    return state


def _take_index(state: Desired, keys: dict[int, dict[str, int]], options: Options) -> bool:
    """Take the index validation built, when every key is as sync needs it (the common case).

    That is: every item has an identifier (not empty), unique within its service, within
    ``owned_prefix`` and ``service_ids``, and no item manages codes.  Returns False,
    having changed nothing, for any other input: the loop of ``_index`` then finds and
    names each problem.  Decided with passes over the index in C, not a loop per item.
    """
    params, codes = state.params, state.codes
    n = len(params)
    if not n or codes.count(None) != n or sum(map(len, keys.values())) != n:
        return False  # codes to check, or an identifier missing or repeated
    services = [uuid.UUID(int=service) for service in keys]
    allowed = options.service_ids
    if allowed is not None and not all(service in allowed for service in services):
        return False
    prefix = options.owned_prefix
    for seen in keys.values():
        if "" in seen or (prefix and not all(map(str.startswith, seen, repeat(prefix)))):
            return False
    state.index.update(keys)
    state.services.extend(services)
    return True


def _index(state: Desired, positions: Sequence[int], options: Options, errors: Errors) -> None:
    """Index the items by service and identifier, adding the problems of their keys."""
    index, services, codes = state.index, state.services, state.codes
    allowed = None if options.service_ids is None else set(options.service_ids)
    prefix = options.owned_prefix
    code_seen: dict[tuple[int, str], str] = {}
    last_service: uuid.UUID | None = None
    keys: dict[str, int] = {}
    for k, p in enumerate(state.params):
        ext = p.external_identifier
        service = p.service_id
        if service is not last_service:
            last_service = service
            found = index.get(service.int)
            if found is None:
                found = index[service.int] = {}
                services.append(service)
                if allowed is not None and service not in allowed:
                    where = f"desired[{positions[k]}].service_id"
                    errors.append((where, f"{service} is not in service_ids"))
            keys = found
        # Every rule met is decided inline (this runs for every item of a large sync).
        if type(ext) is str and ext:
            first = keys.setdefault(ext, k)
            if first == k and (not prefix or ext.startswith(prefix)) and codes[k] is None:
                continue
        else:
            first = k
        at = f"desired[{positions[k]}]"
        if not ext:
            errors.append(
                (f"{at}.external_identifier", "required: sync keys a voucher by its identifier")
            )
        elif type(ext) is str:
            if first != k:
                where = f"{ext!r} repeats desired[{positions[first]}] (same service)"
                errors.append((f"{at}.external_identifier", where))
            if prefix and not ext.startswith(prefix):
                errors.append(
                    (
                        f"{at}.external_identifier",
                        f"{ext!r} is outside owned_prefix {prefix!r}: sync would never delete it",
                    )
                )
        item_codes = codes[k]
        if item_codes is not None:
            _check_codes(item_codes, service.int, at, code_seen, errors)


def _check_codes(
    codes: tuple[Any, ...],
    service_id: int,
    at: str,
    seen: dict[tuple[int, str], str],
    errors: Errors,
) -> None:
    try:
        validate_voucher_code_parameters(
            [VoucherCodeParameters(voucher_id=_NIL, value=c) for c in codes],
            name=f"{at}.codes",
            unique_keys=False,
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


# --- planning ------------------------------------------------------------------------------


async def _read(vouchers: Vouchers, options: Options, desired: Desired, differ: Differ) -> None:
    # The pages of iter_pages, their vouchers left as msgspec decoded them: the diff
    # compares those, and builds models only of the vouchers the plan holds.
    query = VoucherQuery(
        service_ids=tuple(options.service_ids or desired.services),
        enterprise_ids=None if options.enterprise_id is None else (options.enterprise_id,),
        activity_states=(ActivityState.ACTIVE,),
        extent=VoucherExtent(vouchers=True, voucher_assignments=desired.manages_rates),
    )
    pages = vouchers._pages_lazily(query)
    async with pages:
        async for page in pages:
            # The chain that fetched this page is about to ask for the next one: let that
            # request leave first, so the diff overlaps with the server's work on it.
            await anyio.lowlevel.checkpoint()
            differ.see(page)


async def _read_codes(
    voucher_codes: VoucherCodes, options: Options, voucher_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[VoucherCode]]:
    codes: dict[uuid.UUID, list[VoucherCode]] = {voucher_id: [] for voucher_id in voucher_ids}
    stream = voucher_codes.iter_all(
        voucher_ids=voucher_ids,
        enterprise_ids=None if options.enterprise_id is None else [options.enterprise_id],
    )
    async with stream:
        async for code in stream:
            if code.is_active and code.voucher_id in codes:
                codes[code.voucher_id].append(code)
    return codes


async def _read_conflicts(
    vouchers: Vouchers, options: Options, conflicted: set[IntKey]
) -> list[Voucher]:
    """Read the active vouchers that hold the conflicting keys, to report them."""
    stream = vouchers.iter_all(
        service_ids=sorted({uuid.UUID(int=service) for service, _ in conflicted}, key=str),
        enterprise_ids=None if options.enterprise_id is None else [options.enterprise_id],
        external_identifiers=sorted({ext for _, ext in conflicted}),
        activity_states=[ActivityState.ACTIVE],
    )
    async with stream:
        return [
            v
            async for v in stream
            if v.is_active and (v.service_id.int, str(v.external_identifier)) in conflicted
        ]


async def plan_sync(
    vouchers: Vouchers,
    voucher_codes: VoucherCodes,
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
    state = check_desired(desired, options, errors)
    if errors:
        raise MewsValidationError(errors)
    services = options.service_ids or tuple(state.services)
    draft = Draft()
    # Nothing desired and no scope given: nothing to read, nothing to write.
    if services:
        differ = Differ(
            state, delete_missing=options.delete_missing, owned_prefix=options.owned_prefix or ""
        )
        await _read(vouchers, options, state, differ)
        managed_codes = differ.finish(draft)
        if managed_codes:
            current = await _read_codes(voucher_codes, options, [v.id for v, _ in managed_codes])
            diff_codes(draft, managed_codes, current, options.delete_missing)
        if differ.conflicted:
            draft.conflicts = await _read_conflicts(vouchers, options, differ.conflicted)
    plan = SyncPlan(
        enterprise_id=options.enterprise_id,
        service_ids=tuple(services),
        delete_missing=options.delete_missing,
        owned_prefix=options.owned_prefix,
        **attrs.asdict(draft, recurse=False),
    )
    _check_deletes(plan, options.max_deletes)
    return plan


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
