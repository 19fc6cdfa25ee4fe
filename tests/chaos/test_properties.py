"""Hostile inputs: what the SDK's validation accepts, the simulator's strict validation accepts.

Hypothesis builds write inputs from wide strategies (names of any length and script,
identifiers of any length, 0-15 rate ids with repeats, intervals in any order, every
type with and without a company).  Each list either fails the SDK's validation with a
:class:`MewsValidationError` whose paths name exactly the bad items and fields (and
nothing is sent), or it is sent to a simulator where every reference exists, and the
simulator answers 200: never a 400.  The only 403s allowed are business rules that need
server state, predicted here from that state.

Model construction is checked the same way: any object given as an id or a datetime
either converts or raises MewsValidationError, never another exception.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

import aiohttp
import anyio
import anyio.from_thread
import anyio.to_thread
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mews_vouchers import (
    UNSET,
    BulkOperationError,
    ForbiddenError,
    MewsClient,
    MewsError,
    MewsValidationError,
    TimeInterval,
    VoucherCodeParameters,
    VoucherParameters,
    VoucherType,
    VoucherUpdate,
)
from mews_vouchers._constants import (
    MAX_ASSIGNED_RATE_IDS,
    MAX_EXTERNAL_IDENTIFIER_LENGTH,
    MAX_NAME_LENGTH,
    MAX_VOUCHER_CODE_VALUE_LENGTH,
)
from mews_vouchers.testing import MewsSimulator
from tests.conftest import make_client

pytestmark = pytest.mark.anyio

T = TypeVar("T")

EXAMPLES = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
NEEDS_COMPANY = (VoucherType.PARTNER_COMPANY, VoucherType.TRAVEL_AGENCY)
RATES = 15

# --- strategies --------------------------------------------------------------------------------


def text_around(limit: int) -> st.SearchStrategy[str]:
    """Strings of any script (no lone surrogates: tested apart below), short or near *limit*."""
    return st.text(max_size=12) | st.text(min_size=limit - 3, max_size=limit + 3)


names = text_around(MAX_NAME_LENGTH) | st.integers() | st.none()
external_ids = st.none() | text_around(MAX_EXTERNAL_IDENTIFIER_LENGTH) | st.integers()
code_values = text_around(MAX_VOUCHER_CODE_VALUE_LENGTH) | st.just("") | st.integers()
types = st.sampled_from(VoucherType) | st.sampled_from([t.value for t in VoucherType])
offsets = st.timedeltas(min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23))
# Aware datetimes far enough from the ends of the calendar that UTC is within it (closer to
# the ends is a known bug: test_datetimes_out_of_range_in_utc_are_validation_errors).
moments = st.builds(
    lambda when, offset: when.replace(tzinfo=timezone(offset)),
    st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)),
    offsets,
)
maybe_moments = st.none() | moments
rate_picks = st.none() | st.lists(st.integers(0, RATES - 1), max_size=RATES)


@st.composite
def add_specs(draw: st.DrawFn) -> dict[str, Any]:
    """The fields of one VoucherParameters, with rates as indexes into the service's rates."""
    return {
        "name": draw(names),
        "type": draw(types),
        "company": draw(st.booleans()),
        "rates": draw(rate_picks),
        "start": draw(maybe_moments),
        "end": draw(maybe_moments),
        "external_identifier": draw(external_ids),
    }


def unset_or(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.just(UNSET) | strategy


@st.composite
def update_specs(draw: st.DrawFn) -> dict[str, Any]:
    """The fields of one VoucherUpdate, the voucher and rates as indexes."""
    return {
        "voucher": draw(st.integers(0, 5)),
        "name": draw(unset_or(names)),
        "type": draw(unset_or(types)),
        "company": draw(st.sampled_from([UNSET, None, "company"])),
        "rates": draw(unset_or(rate_picks)),
        "start": draw(unset_or(maybe_moments)),
        "end": draw(unset_or(maybe_moments)),
        "external_identifier": draw(unset_or(external_ids)),
    }


@st.composite
def code_specs(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "value": draw(code_values),
        "start": draw(maybe_moments),
        "end": draw(maybe_moments),
    }


# --- the oracle: the rules of API.md section 5, written out independently ---------------------


def _text_ok(value: object, low: int, high: int) -> bool:
    # The API (.NET) counts UTF-16 code units: a character beyond the BMP counts 2.
    units = len(value.encode("utf-16-le")) // 2 if isinstance(value, str) else -1
    return isinstance(value, str) and low <= units <= high


def _rates_ok(rates: tuple[uuid.UUID, ...] | None | object) -> bool:
    if not isinstance(rates, tuple):
        return True
    return len(rates) <= MAX_ASSIGNED_RATE_IDS and len(set(rates)) == len(rates)


def _ordered(start: object, end: object) -> bool:
    return not (isinstance(start, datetime) and isinstance(end, datetime) and end < start)


def add_problems(p: VoucherParameters) -> set[str]:
    """The fields of *p* that API.md says the client must refuse."""
    bad = set()
    if not _text_ok(p.name, 1, MAX_NAME_LENGTH):
        bad.add("name")
    if p.type in NEEDS_COMPANY and p.company_id is None:
        bad.add("company_id")
    if not _rates_ok(p.assigned_rate_ids):
        bad.add("assigned_rate_ids")
    if not _ordered(p.occupiable_interval_start_utc, p.occupiable_interval_end_utc):
        bad.add("occupiable_interval_end_utc")
    ext = p.external_identifier
    if ext is not None and not _text_ok(ext, 0, MAX_EXTERNAL_IDENTIFIER_LENGTH):
        bad.add("external_identifier")
    return bad


def update_problems(u: VoucherUpdate, repeated: bool) -> set[str]:
    bad = set()
    if repeated:
        bad.add("voucher_id")
    if u.name is not UNSET and not _text_ok(u.name, 1, MAX_NAME_LENGTH):
        bad.add("name")
    if u.type in NEEDS_COMPANY and u.company_id is None:
        bad.add("company_id")
    if not _rates_ok(u.assigned_rate_ids):
        bad.add("assigned_rate_ids")
    if not _ordered(u.occupiable_interval_start_utc, u.occupiable_interval_end_utc):
        bad.add("occupiable_interval_end_utc")
    ext = u.external_identifier
    if ext is not UNSET and ext is not None and not _text_ok(ext, 0, 255):
        bad.add("external_identifier")
    return bad


def code_problems(c: VoucherCodeParameters) -> set[str]:
    bad = set()
    if not _text_ok(c.value, 1, MAX_VOUCHER_CODE_VALUE_LENGTH):
        bad.add("value")
    if not _ordered(c.validity_start_utc, c.validity_end_utc):
        bad.add("validity_end_utc")
    return bad


def mark_repeats(problems: list[set[str]], keys: list[object], field: str) -> None:
    """An item whose key an earlier item of the same add holds is refused at *field*."""
    seen: set[object] = set()
    for bad, key in zip(problems, keys, strict=True):
        if key is not None and key in seen:
            bad.add(field)
        seen.add(key)


def expected_paths(name: str, problems: list[set[str]]) -> set[str]:
    return {f"{name}[{i}].{field}" for i, fields in enumerate(problems) for field in fields}


# --- a world where every reference exists -------------------------------------------------------


class World:
    """A simulator, a client, and a fresh enterprise per example (so no state leaks between)."""

    def __init__(self, sim: MewsSimulator, client: MewsClient) -> None:
        self.sim = sim
        self.client = client

    def fresh(self, vouchers: int = 0) -> dict[str, Any]:
        """A new enterprise with a service, 15 rates, a travel-agency company and vouchers."""
        sim = self.sim
        hotel = sim.add_hotel("Property", rates=RATES)
        return {
            "enterprise": hotel.enterprise_id,
            "service": hotel.service_id,
            "rates": list(hotel.rate_ids),
            "company": hotel.company_id,  # a travel agency: it serves every voucher type
            "vouchers": sim.seed_vouchers(hotel.service_id, vouchers),
        }

    def statuses_since(self, mark: int) -> list[int]:
        return [r.status for r in self.sim.requests[mark:]]


def in_loop(call: Callable[[], Coroutine[Any, Any, T]]) -> T | MewsError:
    """Run *call* on the test's event loop (from hypothesis's thread): its result or MewsError."""
    try:
        return anyio.from_thread.run(call)
    except MewsError as exc:
        return exc


def construct(make: Callable[[], T]) -> T | MewsValidationError:
    """Build a model: the model, or the MewsValidationError it raised (nothing else)."""
    try:
        return make()
    except MewsValidationError as exc:
        return exc


async def drive(check: Callable[[World], None]) -> None:
    """Run a hypothesis test (a plain function) in a worker thread against one simulator."""
    async with MewsSimulator(seed=5) as sim, make_client(sim, chunk_size=4) as client:
        await anyio.to_thread.run_sync(check, World(sim, client))


# --- writes: validation and the simulator agree -------------------------------------------------


async def test_any_add_is_refused_by_validation_or_accepted_by_the_simulator() -> None:
    """vouchers.add: MewsValidationError naming exactly the bad fields, else 200 from the server."""

    def check(world: World) -> None:
        @EXAMPLES
        @given(specs=st.lists(add_specs(), max_size=7))
        def one(specs: list[dict[str, Any]]) -> None:
            w = anyio.from_thread.run_sync(world.fresh)
            items = [
                VoucherParameters(
                    service_id=w["service"],
                    name=s["name"],
                    type=s["type"],
                    company_id=w["company"] if s["company"] else None,
                    assigned_rate_ids=None
                    if s["rates"] is None
                    else [w["rates"][r] for r in s["rates"]],
                    occupiable_interval_start_utc=s["start"],
                    occupiable_interval_end_utc=s["end"],
                    external_identifier=s["external_identifier"],
                )
                for s in specs
            ]
            problems = [add_problems(p) for p in items]
            keys = [
                None if p.external_identifier is None else (p.service_id, p.external_identifier)
                for p in items
            ]
            mark_repeats(problems, keys, "external_identifier")
            mark = len(world.sim.requests)
            added = in_loop(lambda: world.client.vouchers.add(items, enterprise_id=w["enterprise"]))
            if isinstance(added, MewsValidationError):
                assert {path for path, _ in added.errors} == expected_paths("params", problems)
                assert world.statuses_since(mark) == []
                return
            assert not isinstance(added, MewsError), added
            assert not any(problems), problems
            assert set(world.statuses_since(mark)) <= {200}
            assert [v.name for v in added] == [p.name for p in items]
            assert [v.external_identifier for v in added] == [p.external_identifier for p in items]
            assert [v.type for v in added] == [p.type for p in items]

        one()

    await drive(check)


async def test_any_update_is_refused_by_validation_or_accepted_by_the_simulator() -> None:
    """vouchers.update: refused with exact paths, or 200 (403 only where state predicts it)."""

    def check(world: World) -> None:
        @EXAMPLES
        @given(specs=st.lists(update_specs(), max_size=6))
        def one(specs: list[dict[str, Any]]) -> None:
            w = anyio.from_thread.run_sync(world.fresh, 6)
            items = [
                VoucherUpdate(
                    voucher_id=w["vouchers"][s["voucher"]],
                    name=s["name"],
                    type=s["type"],
                    company_id=w["company"] if s["company"] == "company" else s["company"],
                    assigned_rate_ids=s["rates"]
                    if s["rates"] is UNSET or s["rates"] is None
                    else [w["rates"][r] for r in s["rates"]],
                    occupiable_interval_start_utc=s["start"],
                    occupiable_interval_end_utc=s["end"],
                    external_identifier=s["external_identifier"],
                )
                for s in specs
            ]
            seen: set[uuid.UUID] = set()
            problems = []
            for u in items:
                problems.append(update_problems(u, u.voucher_id in seen))
                seen.add(u.voucher_id)
            # The seeded vouchers are Public without a company: a type that needs one, with
            # the company left as it is, breaks a rule only the server can see.
            needs_state = any(u.type in NEEDS_COMPANY and u.company_id is UNSET for u in items)
            mark = len(world.sim.requests)
            updated = in_loop(
                lambda: world.client.vouchers.update(items, enterprise_id=w["enterprise"])
            )
            if isinstance(updated, MewsValidationError):
                assert {path for path, _ in updated.errors} == expected_paths("updates", problems)
                assert world.statuses_since(mark) == []
                return
            if isinstance(updated, BulkOperationError):
                assert needs_state, updated
                assert all(isinstance(f.error, ForbiddenError) for f in updated.failures)
                assert not any(f.ambiguous for f in updated.failures)
                assert 400 not in world.statuses_since(mark)
                return
            assert not isinstance(updated, MewsError), updated
            assert not any(problems), problems
            assert set(world.statuses_since(mark)) <= {200}
            for u, v in zip(items, updated, strict=True):
                assert v.id == u.voucher_id
                if u.name is not UNSET:
                    assert v.name == u.name
                if u.external_identifier is not UNSET:
                    assert v.external_identifier == u.external_identifier

        one()

    await drive(check)


async def test_any_code_add_is_refused_by_validation_or_accepted_by_the_simulator() -> None:
    """voucher_codes.add: refused with exact paths, or 200 (403 only for a value repeated)."""

    def check(world: World) -> None:
        @EXAMPLES
        @given(specs=st.lists(code_specs(), max_size=6), targets=st.lists(st.integers(0, 2)))
        def one(specs: list[dict[str, Any]], targets: list[int]) -> None:
            w = anyio.from_thread.run_sync(world.fresh, 3)
            items = [
                VoucherCodeParameters(
                    voucher_id=w["vouchers"][targets[i] if i < len(targets) else 0],
                    value=s["value"],
                    validity_start_utc=s["start"],
                    validity_end_utc=s["end"],
                )
                for i, s in enumerate(specs)
            ]
            problems = [code_problems(c) for c in items]
            mark_repeats(problems, [(c.voucher_id, c.value) for c in items], "value")
            # An active code value is unique per enterprise: a rule of the server's state.
            repeated = any(n > 1 for n in Counter(c.value for c in items).values())
            mark = len(world.sim.requests)
            codes = in_loop(
                lambda: world.client.voucher_codes.add(items, enterprise_id=w["enterprise"])
            )
            if isinstance(codes, MewsValidationError):
                assert {path for path, _ in codes.errors} == expected_paths("params", problems)
                assert world.statuses_since(mark) == []
                return
            if isinstance(codes, BulkOperationError):
                assert repeated, codes
                assert all(isinstance(f.error, ForbiddenError) for f in codes.failures), codes
                assert 400 not in world.statuses_since(mark)
                return
            assert not isinstance(codes, MewsError), codes
            assert not any(problems), problems
            assert set(world.statuses_since(mark)) <= {200}
            assert [c.value for c in codes] == [c.value for c in items]

        one()

    await drive(check)


# --- model construction: ids and datetimes ------------------------------------------------------

uuid_texts = st.uuids().flatmap(
    lambda u: st.sampled_from(
        [str(u), str(u).upper(), u.hex, "{" + str(u) + "}", f"urn:uuid:{u}", str(u)[:-1]]
    )
)
anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.binary(max_size=40),
    st.text(max_size=40),
    uuid_texts,
    st.uuids(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.datetimes(),
    moments,
    moments.map(lambda m: m.isoformat()),
    st.dates(),
)
ID_FIELDS: list[tuple[Callable[..., object], str, dict[str, Any]]] = [
    (VoucherParameters, "service_id", {"name": "n", "type": VoucherType.PUBLIC}),
    (
        VoucherParameters,
        "company_id",
        {"service_id": uuid.uuid4(), "name": "n", "type": VoucherType.PUBLIC},
    ),
    (VoucherUpdate, "voucher_id", {}),
    (VoucherUpdate, "company_id", {"voucher_id": uuid.uuid4()}),
    (VoucherCodeParameters, "voucher_id", {"value": "v"}),
]
DATETIME_FIELDS: list[tuple[Callable[..., object], str, dict[str, Any]]] = [
    (
        VoucherParameters,
        field,
        {"service_id": uuid.uuid4(), "name": "n", "type": VoucherType.PUBLIC},
    )
    for field in ("occupiable_interval_start_utc", "occupiable_interval_end_utc")
] + [
    (VoucherUpdate, "occupiable_interval_start_utc", {"voucher_id": uuid.uuid4()}),
    (VoucherCodeParameters, "validity_end_utc", {"voucher_id": uuid.uuid4(), "value": "v"}),
    (TimeInterval, "start_utc", {"end_utc": datetime(2024, 1, 1, tzinfo=UTC)}),
]


def _ascii_digits_only(value: object) -> bool:
    return not isinstance(value, str) or value.isascii()


@settings(max_examples=400, deadline=None)
@given(value=anything, which=st.integers(0, len(ID_FIELDS) - 1))
def test_ids_convert_or_raise_validation_errors(value: object, which: int) -> None:
    """Any object given as an id becomes a UUID or raises MewsValidationError naming the field."""
    model, field, others = ID_FIELDS[which]
    built = construct(lambda: model(**others, **{field: value}))
    if isinstance(built, MewsValidationError):
        assert [path for path, _ in built.errors] == [field]
        return
    held = getattr(built, field)
    assert held is None or isinstance(held, uuid.UUID)
    if isinstance(value, str) and _ascii_digits_only(value):
        assert held == uuid.UUID(value)


@settings(max_examples=400, deadline=None)
@given(value=anything, which=st.integers(0, len(DATETIME_FIELDS) - 1))
def test_datetimes_convert_or_raise_validation_errors(value: object, which: int) -> None:
    """Any object given as a datetime becomes an aware UTC datetime or a MewsValidationError."""
    model, field, others = DATETIME_FIELDS[which]
    built = construct(lambda: model(**others, **{field: value}))
    if isinstance(built, MewsValidationError):
        assert [path for path, _ in built.errors] == [field]
        return
    held = getattr(built, field)
    if value is None:
        assert held is None
    else:
        assert isinstance(held, datetime)
        assert held.utcoffset() == timedelta(0)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(anything, max_size=4))
def test_rate_id_lists_convert_or_raise_validation_errors(values: list[object]) -> None:
    """Any list given as assigned_rate_ids becomes UUIDs or a MewsValidationError per bad item."""
    makes: list[Callable[[], VoucherParameters | VoucherUpdate]] = [
        lambda: VoucherParameters(
            service_id=uuid.uuid4(),
            name="n",
            type="Public",
            assigned_rate_ids=values,  # type: ignore[arg-type]  # deliberately anything
        ),
        lambda: VoucherUpdate(voucher_id=uuid.uuid4(), assigned_rate_ids=values),  # type: ignore[arg-type]
    ]
    for make in makes:
        built = construct(make)
        if isinstance(built, MewsValidationError):
            assert all(path.startswith("assigned_rate_ids[") for path, _ in built.errors)
            continue
        rates = built.assigned_rate_ids
        assert isinstance(rates, tuple)
        assert all(isinstance(r, uuid.UUID) for r in rates)


# --- bugs found here, now fixed --------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "kwargs"),
    [
        (TimeInterval, {"start_utc": "0001-01-01T00:00:00+05:00", "end_utc": "2024-01-01T00:00Z"}),
        (TimeInterval, {"start_utc": "2024-01-01T00:00Z", "end_utc": "9999-12-31T23:00:00-05:00"}),
        (
            VoucherUpdate,
            {
                "voucher_id": uuid.UUID(int=1),
                "occupiable_interval_end_utc": "0001-01-01T00:00+01:00",
            },
        ),
        (
            VoucherCodeParameters,
            {
                "voucher_id": uuid.UUID(int=1),
                "value": "v",
                "validity_start_utc": datetime.min.replace(tzinfo=timezone(timedelta(hours=1))),
            },
        ),
    ],
)
def test_datetimes_out_of_range_in_utc_are_validation_errors(
    model: Callable[..., object], kwargs: dict[str, Any]
) -> None:
    """A datetime whose UTC form is outside the calendar is a MewsValidationError."""
    with pytest.raises(MewsValidationError):
        model(**kwargs)


@pytest.mark.parametrize("value", [5, 1.5, True, object()], ids=["int", "float", "bool", "object"])
def test_non_iterable_rate_ids_are_validation_errors(value: object) -> None:
    """assigned_rate_ids=5 is a MewsValidationError naming the field, not a TypeError."""
    with pytest.raises(MewsValidationError) as info:
        VoucherUpdate(voucher_id=uuid.UUID(int=1), assigned_rate_ids=value)  # type: ignore[arg-type]
    assert info.value.errors[0][0] == "assigned_rate_ids"


@pytest.mark.parametrize(
    "text",
    ["\u0660" * 32, "12345678-1234-5678-1234-56781234567\u0661", "\uff11" * 32],
    ids=["arabic-indic-zeros", "one-arabic-indic-digit", "fullwidth-ones"],
)
def test_ids_with_non_ascii_digits_are_refused(text: str) -> None:
    """A string with non-ASCII digits is not a UUID: MewsValidationError, not a made-up id."""
    with pytest.raises(MewsValidationError):
        VoucherParameters(service_id=text, name="n", type=VoucherType.PUBLIC)


SURROGATE = "\ud800"


@pytest.mark.parametrize("field", ["name", "external_identifier"])
async def test_unencodable_text_in_a_write_is_a_validation_error(field: str) -> None:
    """A name or identifier holding a lone surrogate is refused before any request."""
    async with MewsSimulator(seed=2) as sim, make_client(sim) as client:
        hotel = sim.add_hotel()
        enterprise, service = hotel.enterprise_id, hotel.service_id
        item = VoucherParameters(
            service_id=service, type=VoucherType.PUBLIC, **{"name": "n", field: f"x{SURROGATE}"}
        )
        with pytest.raises(MewsValidationError) as info:
            await client.vouchers.add([item], enterprise_id=enterprise)
        assert info.value.errors[0][0] == f"params[0].{field}"
        assert sim.requests == []


async def test_unencodable_text_in_a_filter_is_a_validation_error() -> None:
    """get_all with a lone surrogate in external_identifiers raises MewsValidationError."""
    async with MewsSimulator(seed=2) as sim, make_client(sim) as client:
        service = sim.add_hotel().service_id
        with pytest.raises(MewsValidationError):
            await client.vouchers.get_all(service_ids=[service], external_identifiers=[SURROGATE])


LAST_MONTHS = TimeInterval(start_utc="9999-11-01T00:00:00Z", end_utc="9999-12-01T00:00:00Z")


async def test_updated_utc_in_the_calendars_last_months() -> None:
    """get_all(updated_utc=...) within 9999's last three months is one window, no crash."""
    async with MewsSimulator(seed=2) as sim, make_client(sim) as client:
        service = sim.add_hotel().service_id
        result = await client.vouchers.get_all(service_ids=[service], updated_utc=LAST_MONTHS)
        assert result.vouchers == []
        assert [r.status for r in sim.requests] == [200]


async def test_the_simulator_reads_updated_utc_in_the_calendars_last_months() -> None:
    """The simulator answers UpdatedUtc within 9999's last months like any other (no 500)."""
    async with MewsSimulator(seed=2) as sim, aiohttp.ClientSession() as session:
        service = sim.add_hotel().service_id
        body = {
            "ClientToken": sim.client_token,
            "AccessToken": sim.access_token,
            "Client": "raw 1.0",
            "ServiceIds": [str(service)],
            "Extent": {"Vouchers": True},
            "Limitation": {"Count": 10},
            "UpdatedUtc": {"StartUtc": "9999-11-01T00:00:00Z", "EndUtc": "9999-12-01T00:00:00Z"},
        }
        url = f"{sim.base_url}/api/connector/v1/vouchers/getAll"
        async with session.post(url, json=body) as response:
            status = response.status
            await response.read()
    assert status == 200, status
