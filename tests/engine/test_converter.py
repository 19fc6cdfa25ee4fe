"""The one converter: every docs example, key for key, and round trips of every model."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mews_vouchers import (
    UNSET,
    ActivityState,
    Company,
    Rate,
    TimeInterval,
    Voucher,
    VoucherAssignment,
    VoucherCode,
    VoucherCodeParameters,
    VoucherExtent,
    VoucherParameters,
    VouchersResult,
    VoucherType,
    VoucherUpdate,
)
from mews_vouchers._converter import (
    encode,
    is_known_member,
    parse_datetime,
    structure,
    to_wire,
    unstructure,
)
from mews_vouchers._envelopes import (
    Limitation,
    VoucherAddRequest,
    VoucherCodeAddRequest,
    VoucherCodeDeleteRequest,
    VoucherCodeFilter,
    VoucherCodeResult,
    VoucherDeleteRequest,
    VoucherFilter,
    VoucherUpdateRequest,
    VoucherWriteResult,
)
from mews_vouchers._ids import parse_uuid
from tests.support.docs_examples import examples, operation_of

AUTH = ("ClientToken", "AccessToken", "Client")


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def snaked(obj: dict[str, Any]) -> dict[str, Any]:
    return {snake(k): v for k, v in obj.items()}


def without_nulls(obj: Any) -> Any:
    """The API reads an absent key and a null one alike ("absent or null = unchanged")."""
    if isinstance(obj, dict):
        return {k: without_nulls(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [without_nulls(v) for v in obj]
    return obj


def ids(values: list[str] | None) -> tuple[uuid.UUID, ...] | None:
    return None if values is None else tuple(uuid.UUID(v) for v in values)


def eid(example: dict[str, Any]) -> uuid.UUID | None:
    value = example.get("EnterpriseId")
    return None if value is None else uuid.UUID(value)


def request_model(op: str, ex: dict[str, Any]) -> Any:
    """Build the SDK's request model from a docs example, by the models' own constructors."""
    if op == "vouchers/add":
        return VoucherAddRequest(
            voucher_parameters=[VoucherParameters(**snaked(p)) for p in ex["VoucherParameters"]],
            enterprise_id=eid(ex),
        )
    if op == "vouchers/update":
        updates = []
        for item in ex["VoucherUpdates"]:
            values = {snake(k): v["Value"] for k, v in item.items() if isinstance(v, dict)}
            updates.append(VoucherUpdate(voucher_id=item["VoucherId"], **values))
        return VoucherUpdateRequest(voucher_updates=updates, enterprise_id=eid(ex))
    if op == "vouchers/delete":
        return VoucherDeleteRequest(
            voucher_ids=list(ids(ex["VoucherIds"]) or ()), enterprise_id=eid(ex)
        )
    if op == "voucherCodes/add":
        return VoucherCodeAddRequest(
            voucher_code_parameters=[
                VoucherCodeParameters(**snaked(p)) for p in ex["VoucherCodeParameters"]
            ],
            enterprise_id=eid(ex),
        )
    if op == "voucherCodes/delete":
        return VoucherCodeDeleteRequest(
            voucher_code_ids=list(ids(ex["VoucherCodeIds"]) or ()), enterprise_id=eid(ex)
        )
    interval = TimeInterval(**snaked(ex["UpdatedUtc"])) if "UpdatedUtc" in ex else None
    limitation = Limitation(**snaked(ex["Limitation"]))
    if op == "voucherCodes/getAll":
        return VoucherCodeFilter(
            voucher_ids=ids(ex["VoucherIds"]) or (),
            enterprise_ids=ids(ex.get("EnterpriseIds")),
            voucher_code_ids=ids(ex.get("VoucherCodeIds")),
            updated_utc=interval,
            limitation=limitation,
        )
    assert op == "vouchers/getAll"
    return VoucherFilter(
        service_ids=ids(ex["ServiceIds"]) or (),
        enterprise_ids=ids(ex.get("EnterpriseIds")),
        voucher_ids=ids(ex.get("VoucherIds")),
        company_ids=ids(ex.get("CompanyIds")),
        voucher_code_values=tuple(ex["VoucherCodeValues"]) if "VoucherCodeValues" in ex else None,
        external_identifiers=tuple(ex["ExternalIdentifiers"])
        if "ExternalIdentifiers" in ex
        else None,
        activity_states=tuple(ActivityState(s) for s in ex.get("ActivityStates", ())) or None,
        updated_utc=interval,
        extent=VoucherExtent(**snaked(ex["Extent"])),
        limitation=limitation,
    )


REQUESTS = [(page, n, ex) for page, n, ex in examples() if operation_of(ex) != "response"]
RESPONSES = [(page, n, ex) for page, n, ex in examples() if operation_of(ex) == "response"]


def test_every_page_has_examples() -> None:
    """The extractor finds all 7 operations' requests and their responses."""
    assert {operation_of(ex) for _, _, ex in REQUESTS} == {
        "vouchers/add",
        "vouchers/update",
        "vouchers/delete",
        "vouchers/getAll",
        "voucherCodes/add",
        "voucherCodes/delete",
        "voucherCodes/getAll",
    }
    assert len(REQUESTS) == 12
    assert len(RESPONSES) == 9


@pytest.mark.parametrize(("page", "n", "example"), REQUESTS, ids=lambda v: str(v)[:30])
@pytest.mark.filterwarnings("ignore:VoucherExtent:DeprecationWarning")  # the docs set VoucherCodes
def test_request_body_equals_docs_example(page: str, n: int, example: dict[str, Any]) -> None:
    """The SDK's body for the example's parameters equals the example, key for key."""
    wire = to_wire(request_model(operation_of(example), example))
    expected = {k: v for k, v in example.items() if k not in AUTH}
    assert without_nulls(wire) == without_nulls(expected)
    # Beyond the null equivalence, the keys the example gives a value are exactly ours.
    assert set(without_nulls(wire)) == set(without_nulls(expected))


def expected_voucher(d: dict[str, Any]) -> Voucher:
    """The Voucher a docs voucher object means, derived without the converter."""

    def opt_id(key: str) -> uuid.UUID | None:
        return uuid.UUID(d[key]) if d.get(key) else None

    def opt_dt(key: str) -> datetime | None:
        return datetime.fromisoformat(d[key]) if d.get(key) else None

    state = d.get("ActivityState") or ("Active" if d["IsActive"] else "Deleted")
    return Voucher(
        id=uuid.UUID(d["Id"]),
        service_id=uuid.UUID(d["ServiceId"]),
        enterprise_id=opt_id("EnterpriseId"),
        name=d["Name"],
        created_utc=datetime.fromisoformat(d["CreatedUtc"]),
        updated_utc=datetime.fromisoformat(d["UpdatedUtc"]),
        type=VoucherType(d["Type"]),
        activity_state=ActivityState(state),
        is_active=d.get("IsActive", state == "Active"),
        company_id=opt_id("CompanyId"),
        travel_agency_id=opt_id("TravelAgencyId"),
        occupiable_interval_start_utc=opt_dt("OccupiableIntervalStartUtc"),
        occupiable_interval_end_utc=opt_dt("OccupiableIntervalEndUtc"),
        external_identifier=d.get("ExternalIdentifier"),
    )


def expected_code(d: dict[str, Any]) -> VoucherCode:
    """The VoucherCode a docs code object means, derived without the converter."""

    def opt_dt(key: str) -> datetime | None:
        return datetime.fromisoformat(d[key]) if d.get(key) else None

    state = d.get("ActivityState") or ("Active" if d["IsActive"] else "Deleted")
    return VoucherCode(
        id=uuid.UUID(d["Id"]) if "Id" in d else None,
        voucher_id=uuid.UUID(d["VoucherId"]),
        value=d.get("Value"),
        validity_start_utc=opt_dt("ValidityStartUtc"),
        validity_end_utc=opt_dt("ValidityEndUtc"),
        created_utc=opt_dt("CreatedUtc"),
        updated_utc=opt_dt("UpdatedUtc"),
        activity_state=ActivityState(state),
        is_active=d.get("IsActive", state == "Active"),
    )


@pytest.mark.parametrize(("page", "n", "example"), RESPONSES, ids=lambda v: str(v)[:30])
def test_docs_response_parses_to_expected_objects(
    page: str, n: int, example: dict[str, Any]
) -> None:
    """Every docs response example parses, field for field, to the objects it describes."""
    if set(example) == {"VoucherCodes"}:
        result = structure(example, VoucherCodeResult)
        assert result.voucher_codes == [expected_code(c) for c in example["VoucherCodes"]]
        return
    if set(example) == {"Vouchers"}:
        vouchers = structure(example, VoucherWriteResult).vouchers
        assert vouchers == [expected_voucher(v) for v in example["Vouchers"]]
        return
    page_result = structure(example, VouchersResult)
    assert page_result.vouchers == [expected_voucher(v) for v in example["Vouchers"]]
    assert page_result.voucher_codes == [expected_code(c) for c in example["VoucherCodes"]]
    assert page_result.voucher_assignments == [
        VoucherAssignment(voucher_id=uuid.UUID(a["VoucherId"]), rate_id=uuid.UUID(a["RateId"]))
        for a in example["VoucherAssignments"]
    ]
    assert page_result.rates == []
    assert page_result.companies == []
    assert page_result.cursor == uuid.UUID(example["Cursor"])


def test_delete_answer_is_empty_object() -> None:
    """The delete operations answer {}, which reads as an empty write result."""
    assert structure({}, VoucherWriteResult).vouchers == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-10-10T00:00:00Z", datetime(2023, 10, 10, tzinfo=UTC)),
        ("2023-10-10T02:00:00+02:00", datetime(2023, 10, 10, tzinfo=UTC)),
        ("2023-10-09T19:30:00-04:30", datetime(2023, 10, 10, tzinfo=UTC)),
        ("2023-10-10T00:00:00.1234564Z", datetime(2023, 10, 10, 0, 0, 0, 123456, tzinfo=UTC)),
        ("2023-10-10T00:00:00.1234565Z", datetime(2023, 10, 10, 0, 0, 0, 123457, tzinfo=UTC)),
        ("2023-10-10T00:00:00.12345649999Z", datetime(2023, 10, 10, 0, 0, 0, 123456, tzinfo=UTC)),
        ("2023-12-31T23:59:59.9999995Z", datetime(2024, 1, 1, tzinfo=UTC)),
        ("2023-10-10T00:00:00.5Z", datetime(2023, 10, 10, 0, 0, 0, 500000, tzinfo=UTC)),
        ("2023-10-10T00:00:00z", datetime(2023, 10, 10, tzinfo=UTC)),
        ("2023-10-10T00:00:00", datetime(2023, 10, 10, tzinfo=UTC)),
    ],
)
def test_datetimes_read_every_iso_form(text: str, expected: datetime) -> None:
    """Z, offsets and any number of decimals (rounded to the microsecond) read as aware UTC."""
    value = parse_datetime(text)
    assert value == expected
    assert value.tzinfo is UTC


def test_a_rounded_second_past_the_calendar_is_refused() -> None:
    """Rounding up the last microsecond of year 9999 is no datetime: a ValueError."""
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_datetime("9999-12-31T23:59:59.9999995Z")


def test_datetimes_written_with_z_and_whole_seconds() -> None:
    """Datetimes go out as YYYY-MM-DDThh:mm:ssZ, converted to UTC."""
    moment = datetime(2024, 1, 1, 23, 30, 5, 999999, tzinfo=timezone(timedelta(hours=-1)))
    interval = TimeInterval(start_utc=moment, end_utc=moment)
    assert encode(unstructure(interval)) == (
        b'{"StartUtc":"2024-01-02T00:30:05Z","EndUtc":"2024-01-02T00:30:05Z"}'
    )
    with pytest.raises(ValueError, match="naive"):
        unstructure(datetime(2024, 1, 1))


def test_unknown_keys_and_enum_values_do_not_break_a_page() -> None:
    """A key or an enum value added by the server later reads, and is flagged as unknown."""
    raw = {
        "Id": str(uuid.uuid4()),
        "ServiceId": str(uuid.uuid4()),
        "Name": "x",
        "CreatedUtc": "2024-01-01T00:00:00Z",
        "UpdatedUtc": "2024-01-01T00:00:00Z",
        "Type": "Corporate",
        "IsActive": True,
        "BrandNewField": {"a": 1},
    }
    voucher = structure(raw, Voucher)
    assert voucher.type.value == "Corporate"
    assert not is_known_member(voucher.type)
    assert is_known_member(VoucherType.PUBLIC)
    assert voucher.activity_state is ActivityState.ACTIVE
    assert to_wire(voucher)["Type"] == "Corporate"
    assert structure(raw, Voucher).type is voucher.type  # one stand-in per value


def test_is_active_and_activity_state_stand_in_for_each_other() -> None:
    """IsActive is derived from ActivityState when absent, and the reverse."""
    base = {"Id": str(uuid.uuid4()), "VoucherId": str(uuid.uuid4())}
    assert structure({**base, "ActivityState": "Deleted"}, VoucherCode).is_active is False
    code = structure({**base, "IsActive": True}, VoucherCode)
    assert code.activity_state is ActivityState.ACTIVE


def test_update_values_on_the_wire() -> None:
    """UNSET -> null, a value -> {"Value": v}, None -> {"Value": null}."""
    vid = uuid.uuid4()
    wire = to_wire(VoucherUpdate(voucher_id=vid, name="N", company_id=None))
    assert wire == {
        "VoucherId": str(vid),
        "Name": {"Value": "N"},
        "Type": None,
        "CompanyId": {"Value": None},
        "AssignedRateIds": None,
        "OccupiableIntervalStartUtc": None,
        "OccupiableIntervalEndUtc": None,
        "ExternalIdentifier": None,
    }
    back = structure(wire, VoucherUpdate)
    assert back.name == "N"
    assert back.company_id is None
    assert back.type is UNSET


@pytest.mark.parametrize("cleared", [None, [], ()])
def test_clearing_assigned_rates_sends_an_empty_list(cleared: Any) -> None:
    """assigned_rate_ids None or [] -> {"Value": []}: the API reads {"Value": null} as no change."""
    wire = to_wire(VoucherUpdate(voucher_id=uuid.uuid4(), assigned_rate_ids=cleared))
    assert wire["AssignedRateIds"] == {"Value": []}
    assert structure(wire, VoucherUpdate).assigned_rate_ids == ()
    wire["AssignedRateIds"] = {"Value": None}
    assert structure(wire, VoucherUpdate).assigned_rate_ids is UNSET


def test_empty_and_absent_filters_are_never_sent() -> None:
    """Optional filters that are None are left out of a getAll body."""
    body = unstructure(VoucherFilter(service_ids=(uuid.uuid4(),), limitation=Limitation(count=5)))
    assert set(body) == {"ServiceIds", "Limitation", "Extent"}
    assert body["Limitation"] == {"Count": 5}


@given(st.uuids())
def test_fast_uuid_parse_matches_stdlib(value: uuid.UUID) -> None:
    """The fast UUID path gives the same value, hash and text as uuid.UUID."""
    parsed = parse_uuid(str(value))
    assert parsed == value
    assert hash(parsed) == hash(value)
    assert str(parsed) == str(value)
    assert parse_uuid(str(value).upper()) == value


@pytest.mark.parametrize("bad", ["", "xyz", "fe568bbd-1ecb-4bb2-bf77-96c3698de20g", "1-2-3-4-5"])
def test_fast_uuid_parse_refuses_garbage(bad: str) -> None:
    """Malformed ids are refused, not misread."""
    with pytest.raises(ValueError, match=r"(?i)hex|invalid|base 16"):
        parse_uuid(bad)


# --- round trips -----------------------------------------------------------------------------

moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=0))
opt_moments = st.none() | moments
texts = st.text(min_size=1, max_size=40)
opt_ids = st.none() | st.uuids()


def _voucher(is_active: bool, **kw: Any) -> Voucher:
    state = ActivityState.ACTIVE if is_active else ActivityState.DELETED
    return Voucher(is_active=is_active, activity_state=state, **kw)


vouchers = st.builds(
    _voucher,
    is_active=st.booleans(),
    id=st.uuids(),
    service_id=st.uuids(),
    name=texts,
    created_utc=moments,
    updated_utc=moments,
    type=st.sampled_from(VoucherType),
    enterprise_id=opt_ids,
    company_id=opt_ids,
    travel_agency_id=opt_ids,
    occupiable_interval_start_utc=opt_moments,
    occupiable_interval_end_utc=opt_moments,
    external_identifier=st.none() | texts,
)


def _code(is_active: bool, **kw: Any) -> VoucherCode:
    state = ActivityState.ACTIVE if is_active else ActivityState.DELETED
    return VoucherCode(is_active=is_active, activity_state=state, **kw)


codes = st.builds(
    _code,
    is_active=st.booleans(),
    id=st.uuids(),
    voucher_id=st.uuids(),
    value=st.none() | texts,
    validity_start_utc=opt_moments,
    validity_end_utc=opt_moments,
    created_utc=opt_moments,
    updated_utc=opt_moments,
)
rates = st.builds(
    Rate,
    id=st.uuids(),
    service_id=opt_ids,
    names=st.dictionaries(st.sampled_from(["en-US", "cs-CZ"]), texts),
    updated_utc=opt_moments,
)
companies = st.builds(
    Company, id=st.uuids(), name=st.none() | texts, number=st.none() | st.integers(0, 10**9)
)
results = st.builds(
    VouchersResult,
    vouchers=st.lists(vouchers, max_size=3),
    voucher_codes=st.lists(codes, max_size=3),
    voucher_assignments=st.lists(
        st.builds(VoucherAssignment, voucher_id=st.uuids(), rate_id=st.uuids()), max_size=3
    ),
    rates=st.lists(rates, max_size=2),
    companies=st.lists(companies, max_size=2),
    cursor=opt_ids,
)
parameters = st.builds(
    VoucherParameters,
    service_id=st.uuids(),
    name=texts,
    type=st.sampled_from(VoucherType),
    company_id=opt_ids,
    assigned_rate_ids=st.none() | st.lists(st.uuids(), max_size=10).map(tuple),
    occupiable_interval_start_utc=opt_moments,
    occupiable_interval_end_utc=opt_moments,
    external_identifier=st.none() | texts,
)


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.just(UNSET) | strategy


updates = st.builds(
    VoucherUpdate,
    voucher_id=st.uuids(),
    name=_maybe(texts),
    type=_maybe(st.sampled_from(VoucherType)),
    company_id=_maybe(opt_ids),
    assigned_rate_ids=_maybe(st.none() | st.lists(st.uuids(), max_size=10).map(tuple)),
    occupiable_interval_start_utc=_maybe(opt_moments),
    occupiable_interval_end_utc=_maybe(opt_moments),
    external_identifier=_maybe(st.none() | texts),
)
code_parameters = st.builds(
    VoucherCodeParameters,
    voucher_id=st.uuids(),
    value=texts,
    validity_start_utc=opt_moments,
    validity_end_utc=opt_moments,
)


@pytest.mark.parametrize(
    ("strategy", "cls"),
    [
        (vouchers, Voucher),
        (codes, VoucherCode),
        (rates, Rate),
        (companies, Company),
        (results, VouchersResult),
        (parameters, VoucherParameters),
        (updates, VoucherUpdate),
        (code_parameters, VoucherCodeParameters),
        (st.builds(TimeInterval, start_utc=moments, end_utc=moments), TimeInterval),
        pytest.param(
            st.builds(VoucherExtent),
            VoucherExtent,
            marks=pytest.mark.filterwarnings("ignore:VoucherExtent:DeprecationWarning"),
        ),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_every_model_round_trips(strategy: st.SearchStrategy[Any], cls: type[Any]) -> None:
    """structure(unstructure(x)) == x for every model, over generated values."""

    @given(strategy)
    def check(value: Any) -> None:
        assert structure(unstructure(value), cls) == value
        assert structure(to_wire(value), cls) == value  # through the JSON bytes, too

    check()
