"""The simulator's in-memory data: enterprises, services, rates, companies, vouchers, codes.

Everything is held as plain slotted records linked by reference, with the
indexes the operations need to stay fast on a million vouchers:

- each service keeps its vouchers oldest first (by creation sequence number), so
  a page is a bisect on the cursor's sequence number and a walk backwards;
- vouchers by external identifier and by company, and active codes by
  ``(enterprise, value)``, for the selective getAll filters and the code rules;
- ``Store.vouchers`` and ``Store.codes`` are dicts by id whose insertion order
  is the creation order, which is what "oldest first" listings walk.

Each voucher and code caches its wire dict (PascalCase, exactly what getAll
returns) until it changes, so serving a page is mostly handing cached dicts to
orjson.
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import random
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, Final, Generic, TypeVar

import attrs

from .._constants import MAX_EXTERNAL_IDENTIFIER_LENGTH, MAX_NAME_LENGTH
from ._reader import format_datetime, format_optional

PUBLIC: Final = "Public"
PARTNER_COMPANY: Final = "PartnerCompany"
TRAVEL_AGENCY: Final = "TravelAgency"
VOUCHER_TYPES: Final = (PUBLIC, PARTNER_COMPANY, TRAVEL_AGENCY)
ACTIVE: Final = "Active"
DELETED: Final = "Deleted"
ACTIVITY_STATES: Final = (ACTIVE, DELETED)

# Version 4 and RFC 4122 variant bits, set on raw random 128-bit integers: the
# same result as uuid.UUID(int=..., version=4) for less work per id, which counts
# when a test seeds a million vouchers.
_UUID4_CLEAR: Final = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET: Final = (0x4000 << 64) | (0x8000 << 48)

_T = TypeVar("_T")


def _uuid_maker() -> Callable[[int], uuid.UUID]:
    """Return the quickest way this Python allows to make a UUID from a 128-bit integer.

    ``uuid.UUID(int=...)`` spends most of its time checking its five optional
    arguments; setting the two slots directly makes seeding a million vouchers
    a second faster.  The shortcut is used only if it builds the same UUID.
    """
    new, assign, unknown = object.__new__, object.__setattr__, uuid.SafeUUID.unknown

    def direct(value: int) -> uuid.UUID:
        made = new(uuid.UUID)
        assign(made, "int", value)
        assign(made, "is_safe", unknown)
        return made

    probe = uuid.UUID("0b9a8f4e-3c2d-4e1f-8a7b-6c5d4e3f2a1b")
    try:
        if direct(probe.int) == probe and str(direct(probe.int)) == str(probe):
            return direct
    except (AttributeError, TypeError):
        pass
    return lambda value: uuid.UUID(int=value)


_make_uuid: Final = _uuid_maker()
_K = TypeVar("_K")


@attrs.define(eq=False, weakref_slot=False)
class Enterprise:
    """A property (hotel); everything else belongs to exactly one."""

    id: uuid.UUID
    name: str


@attrs.define(eq=False, weakref_slot=False)
class Service:
    """A bookable service of an enterprise; vouchers and rates belong to one."""

    id: uuid.UUID
    enterprise: Enterprise
    name: str
    id_text: str
    enterprise_id_text: str
    rate_group_id: uuid.UUID
    # Oldest first; sequence numbers only grow, so appending keeps it sorted.
    vouchers: list[StoredVoucher] = attrs.Factory(list)
    rates: dict[uuid.UUID, StoredRate] = attrs.Factory(dict)


@attrs.define(eq=False, weakref_slot=False)
class StoredRate:
    """A rate of a service that vouchers can be assigned to; its wire form never changes."""

    id: uuid.UUID
    service: Service
    wire: dict[str, Any]


@attrs.define(eq=False, weakref_slot=False)
class StoredCompany:
    """A company of an enterprise, possibly with a travel agency contract."""

    id: uuid.UUID
    enterprise: Enterprise
    travel_agency: bool
    wire: dict[str, Any]


@attrs.define(eq=False, weakref_slot=False)
class StoredVoucher:
    """A voucher as stored: references instead of ids, datetimes at full precision."""

    seq: int
    id: uuid.UUID
    service: Service
    name: str
    type: str
    company: StoredCompany | None
    occupiable_start: datetime | None
    occupiable_end: datetime | None
    external_identifier: str | None
    created_text: str
    updated: datetime
    updated_text: str
    active: bool
    rate_ids: tuple[uuid.UUID, ...]
    # None until the voucher has a code: most seeded vouchers never do.
    codes: list[StoredVoucherCode] | None
    wire: dict[str, Any] | None


@attrs.define(eq=False, weakref_slot=False)
class StoredVoucherCode:
    """A code of a voucher, as stored."""

    seq: int
    id: uuid.UUID
    voucher: StoredVoucher
    value: str
    validity_start: datetime | None
    validity_end: datetime | None
    created_text: str
    updated: datetime
    updated_text: str
    active: bool
    wire: dict[str, Any] | None


@attrs.frozen
class Token:
    """An access token: over the listed enterprises, or over all of them when None."""

    value: str
    enterprise_ids: frozenset[uuid.UUID] | None

    @property
    def single(self) -> uuid.UUID | None:
        """The enterprise of a single-enterprise token, None for a portfolio token."""
        if self.enterprise_ids is not None and len(self.enterprise_ids) == 1:
            return next(iter(self.enterprise_ids))
        return None


def voucher_wire(voucher: StoredVoucher) -> dict[str, Any]:
    """Return the voucher's wire dict, building and caching it if it changed since."""
    wire = voucher.wire
    if wire is None:
        company = voucher.company
        company_id = None if company is None else str(company.id)
        wire = voucher.wire = {
            "Id": str(voucher.id),
            "ServiceId": voucher.service.id_text,
            "EnterpriseId": voucher.service.enterprise_id_text,
            "Name": voucher.name,
            "CreatedUtc": voucher.created_text,
            "UpdatedUtc": voucher.updated_text,
            "Type": voucher.type,
            "ActivityState": ACTIVE if voucher.active else DELETED,
            "CompanyId": company_id,
            "TravelAgencyId": company_id if voucher.type == TRAVEL_AGENCY else None,
            "OccupiableIntervalStartUtc": format_optional(voucher.occupiable_start),
            "OccupiableIntervalEndUtc": format_optional(voucher.occupiable_end),
            "ExternalIdentifier": voucher.external_identifier,
            "IsActive": voucher.active,
        }
    return wire


def code_wire(code: StoredVoucherCode) -> dict[str, Any]:
    """Return the code's wire dict, building and caching it if it changed since."""
    wire = code.wire
    if wire is None:
        wire = code.wire = {
            "Id": str(code.id),
            "VoucherId": str(code.voucher.id),
            "Value": code.value,
            "ValidityStartUtc": format_optional(code.validity_start),
            "ValidityEndUtc": format_optional(code.validity_end),
            "CreatedUtc": code.created_text,
            "UpdatedUtc": code.updated_text,
            "ActivityState": ACTIVE if code.active else DELETED,
            "IsActive": code.active,
        }
    return wire


def _seq(item: StoredVoucher | StoredVoucherCode) -> int:
    return item.seq


class VoucherIndex(Generic[_K]):
    """Vouchers by a key (an external identifier, a company id), oldest first per key.

    Most keys have one voucher, which is then kept without a list of its own:
    with a million seeded vouchers that is a million lists saved.
    """

    def __init__(self) -> None:
        self._entries: dict[_K, StoredVoucher | list[StoredVoucher]] = {}

    def get(self, key: _K) -> Sequence[StoredVoucher]:
        """Return the vouchers under *key*, oldest first."""
        entry = self._entries.get(key)
        if entry is None:
            return ()
        return entry if isinstance(entry, list) else (entry,)

    def add(self, key: _K, voucher: StoredVoucher) -> None:
        """File *voucher* under *key*, keeping the order by sequence number."""
        entry = self._entries.get(key)
        if entry is None:
            self._entries[key] = voucher
        elif isinstance(entry, list):
            bisect.insort(entry, voucher, key=_seq)
        else:
            self._entries[key] = sorted((entry, voucher), key=_seq)

    def add_newest(self, keys: Iterable[_K], vouchers: Iterable[StoredVoucher]) -> None:
        """File vouchers newer than all others under their keys, pairwise (for seeding)."""
        entries = self._entries
        for key, voucher in zip(keys, vouchers, strict=True):
            entry = entries.get(key)
            if entry is None:
                entries[key] = voucher
            elif isinstance(entry, list):
                entry.append(voucher)
            else:
                entries[key] = [entry, voucher]

    def remove(self, key: _K, voucher: StoredVoucher) -> None:
        """Take *voucher* out from under *key*."""
        entry = self._entries.get(key)
        if entry is voucher:
            del self._entries[key]
        elif isinstance(entry, list):
            entry.remove(voucher)
            if len(entry) == 1:
                self._entries[key] = entry[0]


class Store:
    """All the simulated data of one simulator, with its indexes."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.enterprises: dict[uuid.UUID, Enterprise] = {}
        self.services: dict[uuid.UUID, Service] = {}
        self.rates: dict[uuid.UUID, StoredRate] = {}
        self.companies: dict[uuid.UUID, StoredCompany] = {}
        self.vouchers: dict[uuid.UUID, StoredVoucher] = {}
        self.codes: dict[uuid.UUID, StoredVoucherCode] = {}
        self.tokens: dict[str, Token] = {}
        self.by_external_identifier: VoucherIndex[str] = VoucherIndex()
        self.by_company: VoucherIndex[uuid.UUID] = VoucherIndex()
        self.active_codes: dict[tuple[uuid.UUID, str], StoredVoucherCode] = {}
        self.chain_id = self.new_id()
        self._next_voucher_seq = 0
        self._next_code_seq = 0
        self._next_company_number = 1

    def new_id(self) -> uuid.UUID:
        """Return a fresh version-4 UUID drawn from the seeded generator."""
        return _make_uuid(self._rng.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET)

    # -- reference data -------------------------------------------------------

    def enterprise(self, enterprise_id: uuid.UUID | str) -> Enterprise:
        """Return the enterprise with this id or raise ValueError."""
        return _lookup(self.enterprises, enterprise_id, "enterprise")

    def service(self, service_id: uuid.UUID | str) -> Service:
        """Return the service with this id or raise ValueError."""
        return _lookup(self.services, service_id, "service")

    def add_enterprise(self, name: str) -> Enterprise:
        """Create an enterprise."""
        enterprise = Enterprise(id=self.new_id(), name=name)
        self.enterprises[enterprise.id] = enterprise
        return enterprise

    def add_service(self, enterprise: Enterprise, name: str) -> Service:
        """Create a service of *enterprise*."""
        service_id = self.new_id()
        service = Service(
            id=service_id,
            enterprise=enterprise,
            name=name,
            id_text=str(service_id),
            enterprise_id_text=str(enterprise.id),
            rate_group_id=self.new_id(),
        )
        self.services[service.id] = service
        return service

    def add_rate(self, service: Service, name: str, now: datetime) -> StoredRate:
        """Create a public base rate of *service*, with the core fields of RateForExtent."""
        rate_id = self.new_id()
        wire = {
            "Id": str(rate_id),
            "GroupId": str(service.rate_group_id),
            "ServiceId": service.id_text,
            "BaseRateId": None,
            "IsBaseRate": True,
            "BusinessSegmentId": None,
            "IsActive": True,
            "IsEnabled": True,
            "IsPublic": True,
            "Type": "Public",
            "Name": name,
            "Names": {"en-US": name},
            "ShortName": name,
            "UpdatedUtc": format_datetime(now),
            "ExternalIdentifier": None,
        }
        rate = StoredRate(id=rate_id, service=service, wire=wire)
        service.rates[rate_id] = rate
        self.rates[rate_id] = rate
        return rate

    def add_company(
        self, enterprise: Enterprise, name: str, *, travel_agency: bool, now: datetime
    ) -> StoredCompany:
        """Create a company of *enterprise*, with the core fields of Company."""
        company_id = self.new_id()
        stamp = format_datetime(now)
        wire = {
            "Id": str(company_id),
            "ChainId": str(self.chain_id),
            "Name": name,
            "Number": self._next_company_number,
            "IsActive": True,
            "MotherCompanyId": None,
            "Options": {
                "Invoiceable": False,
                "AddFeesToInvoices": False,
                "AddTaxDeductedPaymentToInvoices": False,
            },
            "CreditRating": {"Basic": None},
            "CreatedUtc": stamp,
            "UpdatedUtc": stamp,
            "ExternalIdentifier": None,
        }
        self._next_company_number += 1
        company = StoredCompany(
            id=company_id, enterprise=enterprise, travel_agency=travel_agency, wire=wire
        )
        self.companies[company_id] = company
        return company

    def add_token(self, value: str, enterprise_ids: frozenset[uuid.UUID] | None) -> Token:
        """Register an access token over *enterprise_ids* (None: every enterprise, ever)."""
        token = Token(value=value, enterprise_ids=enterprise_ids)
        self.tokens[value] = token
        return token

    def scope(self, token: Token) -> list[Enterprise]:
        """Return the enterprises *token* reaches, in creation order."""
        if token.enterprise_ids is None:
            return list(self.enterprises.values())
        return [e for e in self.enterprises.values() if e.id in token.enterprise_ids]

    # -- vouchers -------------------------------------------------------------

    def add_voucher(
        self,
        *,
        service: Service,
        name: str,
        type: str,
        company: StoredCompany | None,
        rate_ids: tuple[uuid.UUID, ...],
        occupiable_start: datetime | None,
        occupiable_end: datetime | None,
        external_identifier: str | None,
        now: datetime,
        now_text: str,
    ) -> StoredVoucher:
        """Create an active voucher and index it."""
        voucher = StoredVoucher(
            seq=self._next_voucher_seq,
            id=self.new_id(),
            service=service,
            name=name,
            type=type,
            company=company,
            occupiable_start=occupiable_start,
            occupiable_end=occupiable_end,
            external_identifier=external_identifier,
            created_text=now_text,
            updated=now,
            updated_text=now_text,
            active=True,
            rate_ids=rate_ids,
            codes=None,
            wire=None,
        )
        self._next_voucher_seq += 1
        self.vouchers[voucher.id] = voucher
        service.vouchers.append(voucher)
        if external_identifier is not None:
            self.by_external_identifier.add(external_identifier, voucher)
        if company is not None:
            self.by_company.add(company.id, voucher)
        return voucher

    def seed_vouchers(
        self,
        service: Service,
        count: int,
        *,
        name_prefix: str,
        external_identifier_prefix: str | None,
        when: datetime,
    ) -> list[uuid.UUID]:
        """Insert *count* active public vouchers directly, as fast as Python allows."""
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        if count and len(f"{name_prefix}{count - 1}") > MAX_NAME_LENGTH:
            raise ValueError(f"names would exceed {MAX_NAME_LENGTH} characters")
        if count and external_identifier_prefix is not None:
            longest = f"{external_identifier_prefix}{count - 1}"
            if len(longest) > MAX_EXTERNAL_IDENTIFIER_LENGTH:
                raise ValueError(
                    f"external identifiers would exceed {MAX_EXTERNAL_IDENTIFIER_LENGTH} characters"
                )
        # Millions of new objects would each trigger the cyclic collector, which
        # walks every object alive: paused, seeding is about twice as fast.
        with _collector_paused():
            text = format_datetime(when)
            getrandbits, make, first = self._rng.getrandbits, _make_uuid, self._next_voucher_seq
            ids = [make(getrandbits(128) & _UUID4_CLEAR | _UUID4_SET) for _ in range(count)]
            externals = (
                None
                if external_identifier_prefix is None
                else [f"{external_identifier_prefix}{i}" for i in range(count)]
            )
            # One shared datetime, one shared string and positional arguments: this
            # loop is what bounds how fast a million vouchers appear.
            new = [
                StoredVoucher(
                    first + i,
                    ids[i],
                    service,
                    f"{name_prefix}{i}",
                    PUBLIC,
                    None,
                    None,
                    None,
                    None if externals is None else externals[i],
                    text,
                    when,
                    text,
                    True,
                    (),
                    None,
                    None,
                )
                for i in range(count)
            ]
            self._next_voucher_seq += count
            self.vouchers.update(zip(ids, new, strict=True))
            service.vouchers.extend(new)
            if externals is not None:
                self.by_external_identifier.add_newest(externals, new)
        return ids

    def set_external_identifier(self, voucher: StoredVoucher, value: str | None) -> None:
        """Change a voucher's external identifier, keeping the index in order."""
        if value == voucher.external_identifier:
            return
        if voucher.external_identifier is not None:
            self.by_external_identifier.remove(voucher.external_identifier, voucher)
        voucher.external_identifier = value
        if value is not None:
            self.by_external_identifier.add(value, voucher)

    def set_company(self, voucher: StoredVoucher, company: StoredCompany | None) -> None:
        """Change a voucher's company, keeping the index in order."""
        if company is voucher.company:
            return
        if voucher.company is not None:
            self.by_company.remove(voucher.company.id, voucher)
        voucher.company = company
        if company is not None:
            self.by_company.add(company.id, voucher)

    def touch(self, voucher: StoredVoucher, now: datetime, now_text: str) -> None:
        """Mark a voucher as updated now and drop its cached wire form."""
        voucher.updated, voucher.updated_text, voucher.wire = now, now_text, None

    def delete_voucher(self, voucher: StoredVoucher, now: datetime, now_text: str) -> None:
        """Deactivate a voucher and its codes; deleting a deleted one changes nothing."""
        if not voucher.active:
            return
        voucher.active = False
        self.touch(voucher, now, now_text)
        for code in voucher.codes or ():
            self.delete_code(code, now, now_text)

    # -- codes ----------------------------------------------------------------

    def add_code(
        self,
        voucher: StoredVoucher,
        value: str,
        validity_start: datetime | None,
        validity_end: datetime | None,
        now: datetime,
        now_text: str,
    ) -> StoredVoucherCode:
        """Create an active code of *voucher* and index its value."""
        code = StoredVoucherCode(
            seq=self._next_code_seq,
            id=self.new_id(),
            voucher=voucher,
            value=value,
            validity_start=validity_start,
            validity_end=validity_end,
            created_text=now_text,
            updated=now,
            updated_text=now_text,
            active=True,
            wire=None,
        )
        self._next_code_seq += 1
        self.codes[code.id] = code
        if voucher.codes is None:
            voucher.codes = []
        voucher.codes.append(code)
        self.active_codes[voucher.service.enterprise.id, value] = code
        return code

    def delete_code(self, code: StoredVoucherCode, now: datetime, now_text: str) -> None:
        """Deactivate a code, freeing its value; deleting a deleted one changes nothing."""
        if not code.active:
            return
        code.active = False
        code.updated, code.updated_text, code.wire = now, now_text, None
        key = (code.voucher.service.enterprise.id, code.value)
        if self.active_codes.get(key) is code:
            del self.active_codes[key]

    def active_code(self, enterprise: Enterprise, value: str) -> StoredVoucherCode | None:
        """Return the active code with *value* in *enterprise*, if there is one."""
        return self.active_codes.get((enterprise.id, value))

    # -- listings for the simulator's inspection API --------------------------

    def iter_vouchers(
        self, enterprise_id: uuid.UUID | None, include_deleted: bool
    ) -> Iterator[StoredVoucher]:
        """Yield vouchers oldest first, optionally of one enterprise and only active ones."""
        for voucher in self.vouchers.values():
            if enterprise_id is not None and voucher.service.enterprise.id != enterprise_id:
                continue
            if include_deleted or voucher.active:
                yield voucher

    def iter_codes(
        self, enterprise_id: uuid.UUID | None, include_deleted: bool
    ) -> Iterator[StoredVoucherCode]:
        """Yield codes oldest first, optionally of one enterprise and only active ones."""
        for code in self.codes.values():
            if enterprise_id is not None and code.voucher.service.enterprise.id != enterprise_id:
                continue
            if include_deleted or code.active:
                yield code


def _lookup(table: dict[uuid.UUID, _T], key: uuid.UUID | str, kind: str) -> _T:
    try:
        return table[key if isinstance(key, uuid.UUID) else uuid.UUID(key)]
    except (KeyError, ValueError):
        raise ValueError(f"unknown {kind} {key}") from None


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def unique(items: Iterable[_T]) -> list[_T]:
    """Return *items* without repeats, in first-seen order."""
    return list(dict.fromkeys(items))
