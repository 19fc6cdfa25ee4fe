"""getAll queries: the arguments checked and normalised, then planned as cursor chains.

``vouchers.get_all`` (and ``iter_pages``, ``iter_all``, ``find_by_external_identifiers``)
and ``voucher_codes.get_all`` check their arguments here, before any request, into a
:class:`VoucherQuery` or :class:`CodeQuery`.  A query then plans its chains
(:meth:`VoucherQuery.chains`): one per enterprise, per slice of any filter list longer
than the API takes, per window of an ``updated_utc`` interval longer than it allows, and
(vouchers) per extent, as the API advises.  An empty filter list matches nothing: no chain.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, Protocol

import attrs

from ._converter import pascal, unstructure
from ._envelopes import (
    Limitation,
    VoucherCodeFilter,
    VoucherFilter,
)
from ._errors import MewsValidationError
from ._models import (
    ActivityState,
    TimeInterval,
    VoucherExtent,
)
from ._pagination import plan, split_interval, split_values
from ._validation import (
    Errors,
    check_interval,
    to_activity_states,
    to_optional_uuid,
    to_str_list,
    to_uuid_list,
)

Ids = tuple[uuid.UUID, ...]


@attrs.frozen
class ChainSpec:
    """One cursor chain of a getAll call: what each of its requests sends, and its bounds."""

    params: Callable[[Limitation], dict[str, Any]]
    """The request's parameters for one page (its ``Limitation``)."""
    at_most: int | None = None
    """The most items the chain can hold (a filter by ids), or None."""
    sized: bool = True
    """Whether a page lists the items its cursor pages (not so: an extent without vouchers)."""


class Query(Protocol):
    """A checked getAll query: it plans its own chains."""

    def chains(self, *, items_only: bool = False) -> list[ChainSpec]:
        """Return the chains that read the query (only its items' chains with *items_only*)."""
        ...


@attrs.frozen(kw_only=True)
class VoucherQuery:
    """The checked arguments of ``vouchers/getAll``; ``None`` is no filter, ``()`` matches none."""

    service_ids: Ids
    enterprise_ids: Ids | None = None
    voucher_ids: Ids | None = None
    company_ids: Ids | None = None
    voucher_code_values: tuple[str, ...] | None = None
    external_identifiers: tuple[str, ...] | None = None
    activity_states: tuple[ActivityState, ...] | None = None
    updated_utc: TimeInterval | None = None
    extent: VoucherExtent = VoucherExtent()

    def chains(self, *, items_only: bool = False) -> list[ChainSpec]:
        """Return one chain per enterprise, filter slice, 3-month window and extent.

        With *items_only*, only the chains of the ``vouchers`` extent (``iter_all``).
        """
        lists = {
            "voucher_ids": self.voucher_ids,
            "company_ids": self.company_ids,
            "voucher_code_values": self.voucher_code_values,
            "external_identifiers": self.external_identifiers,
        }
        if () in (self.service_ids, self.enterprise_ids, self.activity_states, *lists.values()):
            return []
        queries = plan(
            enterprise_ids=_each(self.enterprise_ids),
            service_ids=split_values(self.service_ids),
            updated_utc=split_interval(self.updated_utc),
            **{name: split_values(values) for name, values in lists.items()},
        )
        extents = _one_extent_each(self.extent)
        if items_only:
            extents = [(vouchers, wire) for vouchers, wire in extents if vouchers]
        return [
            ChainSpec(
                partial(_voucher_params, query, self.activity_states, wire),
                at_most=_id_bound(query["voucher_ids"]),
                sized=vouchers,
            )
            for query in queries
            for vouchers, wire in extents
        ]


@attrs.frozen(kw_only=True)
class CodeQuery:
    """The checked arguments of ``voucherCodes/getAll``; ``()`` matches none."""

    voucher_ids: Ids
    enterprise_ids: Ids | None = None
    voucher_code_ids: Ids | None = None
    updated_utc: TimeInterval | None = None

    def chains(self, *, items_only: bool = False) -> list[ChainSpec]:
        """Return one chain per enterprise, id slice and 3-month window."""
        if () in (self.voucher_ids, self.enterprise_ids, self.voucher_code_ids):
            return []
        queries = plan(
            enterprise_ids=_each(self.enterprise_ids),
            voucher_ids=split_values(self.voucher_ids),
            voucher_code_ids=split_values(self.voucher_code_ids),
            updated_utc=split_interval(self.updated_utc),
        )
        return [
            ChainSpec(partial(_code_params, query), at_most=_id_bound(query["voucher_code_ids"]))
            for query in queries
        ]


# --- checks ------------------------------------------------------------------------------------


def voucher_query(
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
) -> VoucherQuery:
    """Check the arguments of ``vouchers.get_all``; raise one MewsValidationError for all."""
    errors: Errors = []
    query = VoucherQuery(
        service_ids=_service_ids(service_ids, errors),
        enterprise_ids=_optional(enterprise_ids, to_uuid_list, "enterprise_ids", errors),
        voucher_ids=_optional(voucher_ids, to_uuid_list, "voucher_ids", errors),
        company_ids=_optional(company_ids, to_uuid_list, "company_ids", errors),
        voucher_code_values=_optional(
            voucher_code_values, to_str_list, "voucher_code_values", errors
        ),
        external_identifiers=_optional(
            external_identifiers, to_str_list, "external_identifiers", errors
        ),
        activity_states=_optional(activity_states, to_activity_states, "activity_states", errors),
        updated_utc=check_interval(updated_utc, "updated_utc", errors),
    )
    if not isinstance(extent, VoucherExtent):
        errors.append(("extent", f"expected a VoucherExtent, got {type(extent).__name__}"))
    if errors:
        raise MewsValidationError(errors)
    return attrs.evolve(query, extent=extent)


def identifier_query(
    external_identifiers: Iterable[str],
    *,
    service_ids: Iterable[uuid.UUID | str],
    enterprise_id: uuid.UUID | str | None,
) -> VoucherQuery:
    """Check the arguments of ``find_by_external_identifiers``, as get_all checks its filters.

    The query asks for the active vouchers with these identifiers in these services.
    """
    errors: Errors = []
    services = _service_ids(service_ids, errors)
    identifiers = to_str_list(external_identifiers, "external_identifiers", errors)
    eid = to_optional_uuid(enterprise_id, "enterprise_id", errors)
    if errors:
        raise MewsValidationError(errors)
    return by_identifiers(identifiers, services, eid)


def by_identifiers(
    identifiers: Iterable[str], service_ids: Iterable[uuid.UUID], enterprise_id: uuid.UUID | None
) -> VoucherQuery:
    """Return the query for the active vouchers of *identifiers* in *service_ids* (checked)."""
    return VoucherQuery(
        service_ids=tuple(dict.fromkeys(service_ids)),
        enterprise_ids=None if enterprise_id is None else (enterprise_id,),
        external_identifiers=tuple(dict.fromkeys(identifiers)),
        activity_states=(ActivityState.ACTIVE,),
    )


def code_query(
    *,
    voucher_ids: Iterable[uuid.UUID | str],
    enterprise_ids: Iterable[uuid.UUID | str] | None,
    voucher_code_ids: Iterable[uuid.UUID | str] | None,
    updated_utc: TimeInterval | None,
) -> CodeQuery:
    """Check the arguments of ``voucher_codes.get_all``; raise one MewsValidationError for all."""
    errors: Errors = []
    query = CodeQuery(
        voucher_ids=tuple(to_uuid_list(voucher_ids, "voucher_ids", errors)),
        voucher_code_ids=_optional(voucher_code_ids, to_uuid_list, "voucher_code_ids", errors),
        enterprise_ids=_optional(enterprise_ids, to_uuid_list, "enterprise_ids", errors),
        updated_utc=check_interval(updated_utc, "updated_utc", errors),
    )
    if errors:
        raise MewsValidationError(errors)
    return query


def _service_ids(values: Iterable[uuid.UUID | str], errors: Errors) -> Ids:
    """Check the service ids that a getAll of vouchers requires (the API's ServiceIds)."""
    ids = to_uuid_list(values, "service_ids", errors)
    if not ids and not any(path.startswith("service_ids") for path, _ in errors):
        errors.append(("service_ids", "at least one service id is required"))
    return tuple(ids)


def _optional(
    values: Iterable[Any] | None,
    convert: Callable[[Iterable[Any] | None, str, Errors], list[Any]],
    name: str,
    errors: Errors,
) -> tuple[Any, ...] | None:
    return None if values is None else tuple(convert(values, name, errors))


# --- planning ----------------------------------------------------------------------------------


def _each(enterprise_ids: Ids | None) -> list[Ids | None]:
    """One chain per enterprise (the docs page each on its own), or one over all."""
    return [None] if enterprise_ids is None else [(e,) for e in enterprise_ids]


def _id_bound(ids: Ids | None) -> int | None:
    """A chain filtered by ids can answer at most one item per distinct id."""
    return None if ids is None else len(set(ids))


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
    states: tuple[ActivityState, ...] | None,
    extent: dict[str, Any],
    limitation: Limitation,
) -> dict[str, Any]:
    params = unstructure(VoucherFilter(limitation=limitation, activity_states=states, **query))
    params["Extent"] = extent
    return params


def _code_params(query: dict[str, Any], limitation: Limitation) -> dict[str, Any]:
    return unstructure(VoucherCodeFilter(limitation=limitation, **query))
