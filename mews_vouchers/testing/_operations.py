"""The seven voucher operations of the simulated API: validation, business rules, effects.

Every operation runs in four steps, each of which may end the request:

1. the shape of the body: required fields, types, formats, limits (400);
2. the enterprise: ``EnterpriseId`` or ``EnterpriseIds`` within the token's scope (403);
3. references: every id names something that exists where it should (400);
4. business rules: what the API refuses on the merits (403).

Only then is anything changed, and all of it at once, so a request with one bad
item leaves the store as it was.  Nothing here awaits, so no other request can
interleave with a write.

Status choices where the docs are silent are noted where they are made.
"""

from __future__ import annotations

import bisect
import enum
import heapq
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from itertools import islice
from typing import Any, Final, Literal, TypeAlias, TypeVar

import attrs

from .._constants import (
    MAX_ASSIGNED_RATE_IDS,
    MAX_EXTERNAL_IDENTIFIER_LENGTH,
    MAX_NAME_LENGTH,
    MAX_VOUCHER_CODE_VALUE_LENGTH,
    VOUCHER_CODES_ADD,
    VOUCHER_CODES_DELETE,
    VOUCHER_CODES_GET_ALL,
    VOUCHERS_ADD,
    VOUCHERS_DELETE,
    VOUCHERS_GET_ALL,
    VOUCHERS_UPDATE,
)
from ._reader import ApiError, Reader, as_utc, format_datetime, join
from ._store import (
    ACTIVE,
    ACTIVITY_STATES,
    PARTNER_COMPANY,
    TRAVEL_AGENCY,
    VOUCHER_TYPES,
    Enterprise,
    Service,
    Store,
    StoredCompany,
    StoredVoucher,
    StoredVoucherCode,
    Token,
    code_wire,
    unique,
    voucher_wire,
)

_T = TypeVar("_T")
Json: TypeAlias = dict[str, Any]

_EXTENT_KEYS: Final = ("Vouchers", "VoucherCodes", "VoucherAssignments", "Rates", "Companies")


class _Keep(enum.Enum):
    KEEP = enum.auto()


KEEP: Final = _Keep.KEEP
"""An update value that leaves the property as it is (absent or null on the wire)."""
Keep: TypeAlias = Literal[_Keep.KEEP]


@attrs.frozen
class _NewVoucher:
    path: str
    service_id: uuid.UUID
    name: str
    type: str
    company_id: uuid.UUID | None
    rate_ids: list[uuid.UUID] | None
    start: datetime | None
    end: datetime | None
    external_identifier: str | None


@attrs.frozen
class _VoucherChange:
    path: str
    voucher_id: uuid.UUID
    name: str | Keep
    type: str | Keep
    company_id: uuid.UUID | None | Keep
    rate_ids: list[uuid.UUID] | Keep
    start: datetime | None | Keep
    end: datetime | None | Keep
    external_identifier: str | None | Keep


@attrs.frozen
class _NewCode:
    path: str
    voucher_id: uuid.UUID
    value: str
    start: datetime | None
    end: datetime | None


@attrs.frozen
class _VoucherQuery:
    """The filters of a vouchers/getAll besides services, enterprises and the cursor."""

    voucher_ids: list[uuid.UUID] | None
    company_ids: list[uuid.UUID] | None
    code_values: list[str] | None
    external_ids: list[str] | None
    states: list[str] | None
    updated: tuple[datetime, datetime] | None

    def test(self) -> Callable[[StoredVoucher], bool] | None:
        """Return the test a voucher must pass, or None when every voucher passes."""
        checks: list[Callable[[StoredVoucher], bool]] = []
        if self.voucher_ids is not None:
            ids = set(self.voucher_ids)
            checks.append(lambda v: v.id in ids)
        if self.external_ids is not None:
            externals = set(self.external_ids)
            checks.append(lambda v: v.external_identifier in externals)
        if self.company_ids is not None:
            companies = set(self.company_ids)
            checks.append(lambda v: v.company is not None and v.company.id in companies)
        if self.code_values is not None:
            values = set(self.code_values)
            checks.append(lambda v: any(c.active and c.value in values for c in v.codes or ()))
        if self.states is not None and len(set(self.states)) == 1:
            only_active = self.states[0] == ACTIVE
            checks.append(lambda v: v.active is only_active)
        if self.updated is not None:
            checks.append(_within(self.updated))
        if len(checks) <= 1:
            return checks[0] if checks else None
        return lambda v: all(check(v) for check in checks)

    def candidates(
        self, store: Store, enterprises: Iterable[Enterprise]
    ) -> list[StoredVoucher] | None:
        """Return the vouchers an index names for a selective filter, or None without one.

        The candidates still have to pass :meth:`test`; without them, a query
        walks its services' vouchers.
        """
        if self.voucher_ids is not None:
            return [v for i in unique(self.voucher_ids) if (v := store.vouchers.get(i))]
        if self.external_ids is not None:
            index = store.by_external_identifier
            return [v for x in unique(self.external_ids) for v in index.get(x)]
        if self.code_values is not None:
            return [
                code.voucher
                for value in unique(self.code_values)
                for enterprise in enterprises
                if (code := store.active_code(enterprise, value)) is not None
            ]
        if self.company_ids is not None:
            return [v for c in unique(self.company_ids) for v in store.by_company.get(c)]
        return None


def _kept(change: _T | Keep, current: _T) -> _T:
    return current if change is KEEP else change


def _change(
    r: Reader, item: Mapping[str, Any], key: str, path: str, check: Callable[[Any, str], _T | None]
) -> _T | None | Keep:
    """Read a nullable update value: KEEP, None (clear) or a checked value."""
    update = r.update(item, key, path)
    if update is None:
        return KEEP
    value, value_path = update
    if value is None:
        return None
    checked = check(value, value_path)
    # An invalid value has been recorded as a problem; KEEP only stands in for it.
    return KEEP if checked is None else checked


def _required_change(
    r: Reader, item: Mapping[str, Any], key: str, path: str, check: Callable[[Any, str], _T | None]
) -> _T | Keep:
    """Read an update value of a property that cannot be cleared."""
    update = r.update(item, key, path)
    if update is None:
        return KEEP
    value, value_path = update
    if value is None:
        r.fail(value_path, f"cannot be null: {key} cannot be cleared")
        return KEEP
    checked = check(value, value_path)
    return KEEP if checked is None else checked


def _rate_ids_change(r: Reader, item: Mapping[str, Any], path: str) -> list[uuid.UUID] | Keep:
    """Read ``AssignedRateIds``: the docs read a null ``Value`` as "not updated", too."""
    update = r.update(item, "AssignedRateIds", path)
    if update is None or update[0] is None:
        return KEEP
    value, value_path = update
    checked = _rate_ids(r, value, value_path)
    return KEEP if checked is None else checked


def _newest_first(vouchers: list[StoredVoucher], before_seq: int | None) -> Iterator[StoredVoucher]:
    """Walk one service's vouchers from the newest one older than *before_seq* backwards."""
    end = (
        len(vouchers) if before_seq is None else bisect.bisect_left(vouchers, before_seq, key=_seq)
    )
    for index in range(end - 1, -1, -1):
        yield vouchers[index]


def _seq(item: StoredVoucher | StoredVoucherCode) -> int:
    return item.seq


def _within(
    interval: tuple[datetime, datetime],
) -> Callable[[StoredVoucher | StoredVoucherCode], bool]:
    """Return the test of an ``UpdatedUtc`` filter: half-open, equal ends meaning the instant."""
    start, end = interval
    if start == end:
        return lambda item: item.updated == start
    return lambda item: start <= item.updated < end


def _check_voucher_rules(
    b: Reader,
    path: str,
    enterprise: Enterprise,
    type: str,
    company: StoredCompany | None,
    start: datetime | None,
    end: datetime | None,
) -> None:
    """Record the business rules a voucher (new or updated) breaks, as 403 problems."""
    if company is None:
        if type in (PARTNER_COMPANY, TRAVEL_AGENCY):
            b.fail(join(path, "CompanyId"), f"is required for a voucher of type {type}")
    else:
        if company.enterprise is not enterprise:
            b.fail(
                join(path, "CompanyId"),
                f"company {company.id} belongs to another enterprise than the voucher",
            )
        if type == TRAVEL_AGENCY and not company.travel_agency:
            b.fail(
                join(path, "CompanyId"),
                f"company {company.id} has no travel agency contract",
            )
    if start is not None and end is not None and end < start:
        b.fail(
            join(path, "OccupiableIntervalEndUtc"),
            "must not be before OccupiableIntervalStartUtc",
        )


class Api:
    """The simulated API's logic: a parsed JSON body in, a JSON-ready dict out, or ApiError."""

    def __init__(self, store: Store, client_token: str, now: Callable[[], datetime]) -> None:
        self._store = store
        self._client_token = client_token
        self._now = now
        self._operations: dict[str, Callable[[Token, Json], Json]] = {
            VOUCHERS_GET_ALL: self._vouchers_get_all,
            VOUCHERS_ADD: self._vouchers_add,
            VOUCHERS_UPDATE: self._vouchers_update,
            VOUCHERS_DELETE: self._vouchers_delete,
            VOUCHER_CODES_GET_ALL: self._codes_get_all,
            VOUCHER_CODES_ADD: self._codes_add,
            VOUCHER_CODES_DELETE: self._codes_delete,
        }

    def handle(self, operation: str, body: Any) -> Json:
        """Run *operation* on a parsed body and return the response body, or raise ApiError."""
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        token = self._authenticate(body)
        return self._operations[operation](token, body)

    # -- shared steps ---------------------------------------------------------

    def _authenticate(self, body: Json) -> Token:
        r = Reader()
        client_token = r.string(body, "ClientToken", "", min_length=1)
        access_token = r.string(body, "AccessToken", "", min_length=1)
        r.string(body, "Client", "", min_length=1)
        r.opt_string(body, "LanguageCode", "")
        r.opt_string(body, "CultureCode", "")
        if (body.get("LanguageCode") is None) != (body.get("CultureCode") is None):
            r.fail("CultureCode", "LanguageCode and CultureCode go together: give both or neither")
        r.raise_if_any()
        # The messages never echo a token: they end up in logs.
        if client_token != self._client_token:
            raise ApiError(401, "Invalid ClientToken.")
        token = self._store.tokens.get(access_token)
        if token is None:
            raise ApiError(401, "Invalid AccessToken.")
        return token

    def _enterprise_param(self, r: Reader, token: Token, body: Json) -> uuid.UUID | None:
        """Read the write's ``EnterpriseId``: required with a portfolio token, else ignored."""
        single = token.single
        if single is not None:
            return single
        if body.get("EnterpriseId") is None:
            r.fail("EnterpriseId", "is required with a portfolio access token")
            return None
        return r.opt_uuid(body, "EnterpriseId", "")

    def _write_enterprise(self, token: Token, enterprise_id: uuid.UUID | None) -> Enterprise:
        """Return the enterprise a write applies to, if the token reaches it (else 403)."""
        enterprise = self._store.enterprises.get(enterprise_id) if enterprise_id else None
        reachable = token.enterprise_ids is None or enterprise_id in token.enterprise_ids
        if enterprise is None or not reachable:
            problem = f"enterprise {enterprise_id} is not within the access token's scope"
            raise ApiError.of(403, [("EnterpriseId", problem)])
        return enterprise

    def _read_scope(self, token: Token, enterprise_ids: list[uuid.UUID] | None) -> list[Enterprise]:
        """Return the enterprises a getAll covers: the requested ones (all in scope) or all."""
        reachable = {e.id: e for e in self._store.scope(token)}
        if enterprise_ids is None:
            return list(reachable.values())
        b = Reader()
        for i, enterprise_id in enumerate(enterprise_ids):
            if enterprise_id not in reachable:
                b.fail(
                    f"EnterpriseIds[{i}]",
                    f"enterprise {enterprise_id} is not within the access token's scope",
                )
        b.raise_if_any(403)
        return [reachable[i] for i in unique(enterprise_ids)]

    def _voucher_in(
        self, r: Reader, enterprise: Enterprise, voucher_id: uuid.UUID, path: str
    ) -> StoredVoucher | None:
        """Return the voucher if it exists in *enterprise*, else record a 400 problem."""
        voucher = self._store.vouchers.get(voucher_id)
        if voucher is None or voucher.service.enterprise is not enterprise:
            r.fail(path, f"unknown voucher {voucher_id} in enterprise {enterprise.id}")
            return None
        return voucher

    def _company(self, r: Reader, company_id: uuid.UUID | None, path: str) -> StoredCompany | None:
        """Return the company if it exists anywhere (its enterprise is a business rule)."""
        if company_id is None:
            return None
        company = self._store.companies.get(company_id)
        if company is None:
            r.fail(path, f"unknown company {company_id}")
        return company

    def _rates(
        self, r: Reader, service: Service, rate_ids: Iterable[uuid.UUID], path: str
    ) -> tuple[uuid.UUID, ...]:
        """Check that every rate id is a rate of *service*."""
        for i, rate_id in enumerate(rate_ids):
            if rate_id not in service.rates:
                r.fail(f"{path}[{i}]", f"unknown rate {rate_id} of service {service.id}")
        return tuple(rate_ids)

    def _clock(self) -> tuple[datetime, str]:
        now = as_utc(self._now())
        return now, format_datetime(now)

    # -- vouchers -------------------------------------------------------------

    def _vouchers_add(self, token: Token, body: Json) -> Json:
        r = Reader()
        enterprise_id = self._enterprise_param(r, token, body)
        items = [
            _NewVoucher(
                path=path,
                service_id=r.uuid(item, "ServiceId", path),
                name=r.string(item, "Name", path, min_length=1, max_length=MAX_NAME_LENGTH),
                type=r.choice(item, "Type", path, VOUCHER_TYPES),
                company_id=r.opt_uuid(item, "CompanyId", path),
                rate_ids=_rate_ids(r, item.get("AssignedRateIds"), join(path, "AssignedRateIds")),
                start=r.opt_datetime(item, "OccupiableIntervalStartUtc", path),
                end=r.opt_datetime(item, "OccupiableIntervalEndUtc", path),
                external_identifier=r.opt_string(
                    item, "ExternalIdentifier", path, max_length=MAX_EXTERNAL_IDENTIFIER_LENGTH
                ),
            )
            for path, item in r.objects(body, "VoucherParameters", "")
        ]
        r.raise_if_any()
        enterprise = self._write_enterprise(token, enterprise_id)

        resolved: list[tuple[Service, StoredCompany | None, tuple[uuid.UUID, ...]]] = []
        for item in items:
            service = self._store.services.get(item.service_id)
            if service is None or service.enterprise is not enterprise:
                r.fail(
                    join(item.path, "ServiceId"),
                    f"unknown service {item.service_id} in enterprise {enterprise.id}",
                )
                continue
            company = self._company(r, item.company_id, join(item.path, "CompanyId"))
            rates = self._rates(r, service, item.rate_ids or (), join(item.path, "AssignedRateIds"))
            resolved.append((service, company, rates))
        r.raise_if_any()

        b = Reader()
        for item, (_, company, _) in zip(items, resolved, strict=True):
            _check_voucher_rules(b, item.path, enterprise, item.type, company, item.start, item.end)
        b.raise_if_any(403)

        now, now_text = self._clock()
        created = [
            self._store.add_voucher(
                service=service,
                name=item.name,
                type=item.type,
                company=company,
                rate_ids=rates,
                occupiable_start=item.start,
                occupiable_end=item.end,
                external_identifier=item.external_identifier,
                now=now,
                now_text=now_text,
            )
            for item, (service, company, rates) in zip(items, resolved, strict=True)
        ]
        return {"Vouchers": [voucher_wire(v) for v in created]}

    def _vouchers_update(self, token: Token, body: Json) -> Json:
        r = Reader()
        enterprise_id = self._enterprise_param(r, token, body)
        changes: list[_VoucherChange] = []
        for path, item in r.objects(body, "VoucherUpdates", ""):
            changes.append(
                _VoucherChange(
                    path=path,
                    voucher_id=r.uuid(item, "VoucherId", path),
                    name=_required_change(
                        r,
                        item,
                        "Name",
                        path,
                        lambda v, p: r.as_string(v, p, min_length=1, max_length=MAX_NAME_LENGTH),
                    ),
                    type=_required_change(
                        r, item, "Type", path, lambda v, p: r.as_choice(v, p, VOUCHER_TYPES)
                    ),
                    company_id=_change(r, item, "CompanyId", path, r.as_uuid),
                    rate_ids=_rate_ids_change(r, item, path),
                    start=_change(r, item, "OccupiableIntervalStartUtc", path, r.as_datetime),
                    end=_change(r, item, "OccupiableIntervalEndUtc", path, r.as_datetime),
                    external_identifier=_change(
                        r,
                        item,
                        "ExternalIdentifier",
                        path,
                        lambda v, p: r.as_string(v, p, max_length=MAX_EXTERNAL_IDENTIFIER_LENGTH),
                    ),
                )
            )
        seen: set[uuid.UUID] = set()
        for change in changes:
            # The outcome of two updates of one voucher in one request is not
            # documented; refusing it keeps a client bug from passing unseen.
            if change.voucher_id in seen:
                r.fail(join(change.path, "VoucherId"), "is updated twice in this request")
            seen.add(change.voucher_id)
        r.raise_if_any()
        enterprise = self._write_enterprise(token, enterprise_id)

        resolved: list[
            tuple[StoredVoucher, StoredCompany | None | Keep, tuple[uuid.UUID, ...] | Keep]
        ] = []
        for change in changes:
            voucher = self._voucher_in(
                r, enterprise, change.voucher_id, join(change.path, "VoucherId")
            )
            if voucher is None:
                continue
            company: StoredCompany | None | Keep = KEEP
            if change.company_id is not KEEP:
                company = self._company(r, change.company_id, join(change.path, "CompanyId.Value"))
            rates: tuple[uuid.UUID, ...] | Keep = KEEP
            if change.rate_ids is not KEEP:
                rates = self._rates(
                    r,
                    voucher.service,
                    change.rate_ids,
                    join(change.path, "AssignedRateIds.Value"),
                )
            resolved.append((voucher, company, rates))
        r.raise_if_any()

        b = Reader()
        for change, (voucher, company, _) in zip(changes, resolved, strict=True):
            if not voucher.active:
                b.fail(
                    join(change.path, "VoucherId"),
                    f"voucher {voucher.id} is deleted and cannot be updated",
                )
                continue
            _check_voucher_rules(
                b,
                change.path,
                enterprise,
                _kept(change.type, voucher.type),
                _kept(company, voucher.company),
                _kept(change.start, voucher.occupiable_start),
                _kept(change.end, voucher.occupiable_end),
            )
        b.raise_if_any(403)

        now, now_text = self._clock()
        store = self._store
        for change, (voucher, company, rates) in zip(changes, resolved, strict=True):
            voucher.name = _kept(change.name, voucher.name)
            voucher.type = _kept(change.type, voucher.type)
            voucher.occupiable_start = _kept(change.start, voucher.occupiable_start)
            voucher.occupiable_end = _kept(change.end, voucher.occupiable_end)
            voucher.rate_ids = _kept(rates, voucher.rate_ids)
            store.set_company(voucher, _kept(company, voucher.company))
            store.set_external_identifier(
                voucher, _kept(change.external_identifier, voucher.external_identifier)
            )
            store.touch(voucher, now, now_text)
        return {"Vouchers": [voucher_wire(voucher) for voucher, _, _ in resolved]}

    def _vouchers_delete(self, token: Token, body: Json) -> Json:
        r = Reader()
        enterprise_id = self._enterprise_param(r, token, body)
        voucher_ids = r.uuid_list(body, "VoucherIds", "")
        r.raise_if_any()
        enterprise = self._write_enterprise(token, enterprise_id)
        vouchers = [
            voucher
            for i, voucher_id in enumerate(voucher_ids)
            if (voucher := self._voucher_in(r, enterprise, voucher_id, f"VoucherIds[{i}]"))
            is not None
        ]
        r.raise_if_any()
        now, now_text = self._clock()
        for voucher in vouchers:
            self._store.delete_voucher(voucher, now, now_text)
        return {}

    def _vouchers_get_all(self, token: Token, body: Json) -> Json:
        r = Reader()
        enterprise_ids = r.opt_uuid_list(body, "EnterpriseIds", "")
        service_ids = r.uuid_list(body, "ServiceIds", "")
        query = _VoucherQuery(
            voucher_ids=r.opt_uuid_list(body, "VoucherIds", ""),
            company_ids=r.opt_uuid_list(body, "CompanyIds", ""),
            code_values=r.opt_string_list(body, "VoucherCodeValues", ""),
            external_ids=r.opt_string_list(body, "ExternalIdentifiers", ""),
            states=r.opt_choice_list(body, "ActivityStates", "", ACTIVITY_STATES),
            updated=r.opt_interval(body, "UpdatedUtc", ""),
        )
        extent = r.object(body, "Extent", "")
        wanted = {key: r.opt_bool(extent, key, "Extent") for key in _EXTENT_KEYS}
        count, cursor = r.limitation(body, "")
        r.raise_if_any()
        enterprises = self._read_scope(token, enterprise_ids)
        scope = {e.id for e in enterprises}
        store = self._store

        before_seq = None
        if cursor is not None:
            anchor = store.vouchers.get(cursor)
            if anchor is None or anchor.service.enterprise.id not in scope:
                problem = f"unknown cursor {cursor}: not a voucher of these enterprises"
                raise ApiError.of(400, [("Limitation.Cursor", problem)])
            before_seq = anchor.seq

        services = [
            service
            for service_id in unique(service_ids)
            if (service := store.services.get(service_id)) is not None
            and service.enterprise.id in scope
        ]
        test = query.test()
        candidates = query.candidates(store, enterprises)
        page: list[StoredVoucher]
        if candidates is not None:
            in_services = set(services)
            matching = {
                v.id: v
                for v in candidates
                if v.service in in_services
                and (before_seq is None or v.seq < before_seq)
                and (test is None or test(v))
            }
            page = sorted(matching.values(), key=_seq, reverse=True)[:count]
        else:
            streams = [_newest_first(s.vouchers, before_seq) for s in services]
            newest: Iterator[StoredVoucher] = (
                streams[0] if len(streams) == 1 else heapq.merge(*streams, key=_seq, reverse=True)
            )
            page = list(islice(newest if test is None else filter(test, newest), count))
        return self._voucher_page(page, wanted)

    def _voucher_page(self, page: list[StoredVoucher], wanted: dict[str, bool]) -> Json:
        """Render a page of vouchers with the related lists the extent asks for."""
        rates: dict[uuid.UUID, Json] = {}
        companies: dict[uuid.UUID, Json] = {}
        if wanted["Rates"]:
            for voucher in page:
                for rate_id in voucher.rate_ids:
                    rates.setdefault(rate_id, self._store.rates[rate_id].wire)
        if wanted["Companies"]:
            for voucher in page:
                if voucher.company is not None:
                    companies.setdefault(voucher.company.id, voucher.company.wire)
        return {
            "Vouchers": [voucher_wire(v) for v in page] if wanted["Vouchers"] else None,
            "VoucherCodes": (
                [code_wire(c) for v in page for c in v.codes or ()]
                if wanted["VoucherCodes"]
                else None
            ),
            "VoucherAssignments": (
                [{"VoucherId": str(v.id), "RateId": str(r)} for v in page for r in v.rate_ids]
                if wanted["VoucherAssignments"]
                else None
            ),
            "Rates": list(rates.values()) if wanted["Rates"] else None,
            "Companies": list(companies.values()) if wanted["Companies"] else None,
            "Cursor": str(page[-1].id) if page else None,
        }

    # -- voucher codes --------------------------------------------------------

    def _codes_add(self, token: Token, body: Json) -> Json:
        r = Reader()
        enterprise_id = self._enterprise_param(r, token, body)
        items = [
            _NewCode(
                path=path,
                voucher_id=r.uuid(item, "VoucherId", path),
                value=r.string(
                    item, "Value", path, min_length=1, max_length=MAX_VOUCHER_CODE_VALUE_LENGTH
                ),
                start=r.opt_datetime(item, "ValidityStartUtc", path),
                end=r.opt_datetime(item, "ValidityEndUtc", path),
            )
            for path, item in r.objects(body, "VoucherCodeParameters", "")
        ]
        r.raise_if_any()
        enterprise = self._write_enterprise(token, enterprise_id)
        resolved = [
            (item, voucher)
            for item in items
            if (
                voucher := self._voucher_in(
                    r, enterprise, item.voucher_id, join(item.path, "VoucherId")
                )
            )
            is not None
        ]
        r.raise_if_any()

        b = Reader()
        taken: set[str] = set()
        for item, voucher in resolved:
            if not voucher.active:
                b.fail(
                    join(item.path, "VoucherId"),
                    f"voucher {voucher.id} is deleted: no codes can be added to it",
                )
            if item.value in taken or self._store.active_code(enterprise, item.value):
                b.fail(
                    join(item.path, "Value"),
                    f"an active voucher code {item.value!r} already exists in the enterprise",
                )
            taken.add(item.value)
            if item.start is not None and item.end is not None and item.end < item.start:
                b.fail(join(item.path, "ValidityEndUtc"), "must not be before ValidityStartUtc")
        b.raise_if_any(403)

        now, now_text = self._clock()
        created = [
            self._store.add_code(voucher, item.value, item.start, item.end, now, now_text)
            for item, voucher in resolved
        ]
        return {"VoucherCodes": [code_wire(c) for c in created]}

    def _codes_delete(self, token: Token, body: Json) -> Json:
        r = Reader()
        enterprise_id = self._enterprise_param(r, token, body)
        code_ids = r.uuid_list(body, "VoucherCodeIds", "")
        r.raise_if_any()
        enterprise = self._write_enterprise(token, enterprise_id)
        codes: list[StoredVoucherCode] = []
        for i, code_id in enumerate(code_ids):
            code = self._store.codes.get(code_id)
            if code is None or code.voucher.service.enterprise is not enterprise:
                r.fail(
                    f"VoucherCodeIds[{i}]",
                    f"unknown voucher code {code_id} in enterprise {enterprise.id}",
                )
            else:
                codes.append(code)
        r.raise_if_any()
        now, now_text = self._clock()
        for code in codes:
            self._store.delete_code(code, now, now_text)
        return {}

    def _codes_get_all(self, token: Token, body: Json) -> Json:
        r = Reader()
        enterprise_ids = r.opt_uuid_list(body, "EnterpriseIds", "")
        voucher_ids = r.uuid_list(body, "VoucherIds", "")
        code_ids = r.opt_uuid_list(body, "VoucherCodeIds", "")
        updated = r.opt_interval(body, "UpdatedUtc", "")
        count, cursor = r.limitation(body, "")
        r.raise_if_any()
        scope = {e.id for e in self._read_scope(token, enterprise_ids)}
        store = self._store

        before_seq = None
        if cursor is not None:
            anchor = store.codes.get(cursor)
            if anchor is None or anchor.voucher.service.enterprise.id not in scope:
                problem = f"unknown cursor {cursor}: not a voucher code of these enterprises"
                raise ApiError.of(400, [("Limitation.Cursor", problem)])
            before_seq = anchor.seq

        wanted_codes = None if code_ids is None else set(code_ids)
        in_interval = None if updated is None else _within(updated)
        matching = [
            code
            for voucher_id in unique(voucher_ids)
            if (voucher := store.vouchers.get(voucher_id)) is not None
            and voucher.service.enterprise.id in scope
            for code in voucher.codes or ()
            if (before_seq is None or code.seq < before_seq)
            and (wanted_codes is None or code.id in wanted_codes)
            and (in_interval is None or in_interval(code))
        ]
        page = sorted(matching, key=_seq, reverse=True)[:count]
        return {
            "VoucherCodes": [code_wire(c) for c in page],
            "Cursor": str(page[-1].id) if page else None,
        }


def _rate_ids(r: Reader, value: Any, path: str) -> list[uuid.UUID] | None:
    """Check an ``AssignedRateIds`` array: at most the limit, unique; empty is allowed."""
    if value is None:
        return None
    return r.as_uuid_list(value, path, min_items=0, max_items=MAX_ASSIGNED_RATE_IDS, unique=True)
