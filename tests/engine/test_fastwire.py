"""The fast wire path (msgspec) reads every input as the converter does, or leaves it to it."""

from __future__ import annotations

import enum
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mews_vouchers import (
    ActivityState,
    MewsClient,
    Voucher,
    VoucherAssignment,
    VoucherCode,
    VoucherParameters,
    VouchersResult,
    VoucherType,
    VoucherUpdate,
)
from mews_vouchers import _fastwire as fastwire
from mews_vouchers._converter import parse_datetime, structure
from mews_vouchers._envelopes import (
    VoucherCodeResult,
    VoucherWriteResult,
)
from mews_vouchers._fastwire import _ENVELOPES, Lazy, decode, decode_lazily, loads_object
from mews_vouchers._ids import parse_uuid
from mews_vouchers.testing import Hotel
from tests.support.docs_examples import examples, operation_of

RESULTS = [VouchersResult, VoucherWriteResult, VoucherCodeResult]
SOME_ID = "fe568bbd-1ecb-4bb2-bf77-96c3698de20d"


def slow(body: bytes, cls: type[Any]) -> Any:
    """What the converter alone makes of *body*: a model, or the exception it raises."""
    try:
        return structure(loads_object(body), cls)
    except Exception as exc:
        return exc


def fast(body: bytes, cls: type[Any]) -> Any:
    """What the fast path alone makes of *body*: a model, or the exception that declines it."""
    try:
        return _ENVELOPES[cls].read(body)
    except Exception as exc:
        return exc


def shape(value: Any) -> Any:
    """*value* with every type and time zone spelled out, so that equal means identical."""
    if attrs.has(type(value)):
        return (
            type(value),
            {f.name: shape(getattr(value, f.name)) for f in attrs.fields(type(value))},
        )
    if isinstance(value, list):
        return [shape(v) for v in value]
    if isinstance(value, datetime):
        return (value.isoformat(), value.tzinfo is UTC)
    if isinstance(value, enum.Enum):
        return (type(value), value._value_, value._name_)
    return (type(value), value)


def assert_same_reading(body: bytes, cls: type[Any]) -> None:
    """Both paths agree on *body*: the fast one reads it as the converter does, or declines."""
    reference, quick = slow(body, cls), fast(body, cls)
    if not isinstance(quick, Exception):
        assert not isinstance(reference, Exception), f"only the fast path reads it: {reference!r}"
        assert shape(quick) == shape(reference)
    chosen: Any
    try:
        chosen = decode(body, cls)
    except Exception as exc:
        chosen = exc
    if isinstance(reference, Exception):
        assert type(chosen) is type(reference), (chosen, reference)
    else:
        assert shape(chosen) == shape(reference)
    if cls is VouchersResult:
        assert_same_lazy_reading(body, reference)


def assert_same_lazy_reading(body: bytes, reference: Any) -> None:
    """A page read lazily (iter_all, sync) gives the converter's models, or the same refusal.

    Its records, which sync compares without building models, hold each model's fields.
    """
    if isinstance(reference, Exception):
        with pytest.raises(type(reference)):
            decode_lazily(body)
        return
    lazy = decode_lazily(body)
    built = list(lazy.vouchers)
    page = VouchersResult(**{**attrs.asdict(lazy, recurse=False), "vouchers": built})
    assert shape(page) == shape(reference)
    for record, model in zip(lazy.vouchers.records, built, strict=True):
        assert {f.name: shape(getattr(record, f.name)) for f in attrs.fields(Voucher)} == {
            f.name: shape(getattr(model, f.name)) for f in attrs.fields(Voucher)
        }


# --- generated wire values --------------------------------------------------------------------

ABSENT = object()
json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
json_values = st.recursive(
    json_leaves,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
garbage = st.sampled_from([None, 5, 1.5, True, [], {}, "", "garbage", [SOME_ID]]) | json_values

# Ids as the API writes them (a few repeated, as a page repeats its service), and odd ones.
shared_texts = st.sampled_from([SOME_ID, SOME_ID.upper(), "11111111-1111-1111-1111-111111111111"])
clean_ids = st.one_of(st.uuids().map(str), st.uuids().map(lambda u: u.hex), shared_texts)
uuid_texts = st.uuids().flatmap(
    lambda u: st.sampled_from(
        [str(u), str(u).upper(), u.hex, "{" + str(u) + "}", "urn:uuid:" + str(u), " " + str(u)]
    )
)
odd_ids = uuid_texts | st.text("0123456789abcdefABCDEF-{}_ +", max_size=40)


@st.composite
def datetime_texts(draw: st.DrawFn, odd: bool = True) -> str:
    """ISO 8601 datetimes: as a server might write them, or (*odd*) stranger and broken."""
    moment = draw(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
    sep = draw(st.sampled_from(["T", "t", " ", "x"] if odd else ["T", "t"]))
    text = moment.date().isoformat() + sep + moment.time().isoformat()[:8]
    digits = draw(st.sampled_from([0, 0, 1, 3, 6, 7, 9]))
    if digits:
        text += draw(st.sampled_from([".", ","] if odd else ["."])) + draw(
            st.text("0123456789", min_size=digits, max_size=digits)
        )
    zones = ["Z", "Z", "z", "", "+00:00", "-00:00", "+02:00", "-0530", "+23:59"]
    text += draw(st.sampled_from([*zones, "+01", "+24:00", "Zz"] if odd else zones))
    return text


clean_datetimes = st.just("2024-01-01T00:00:00Z") | datetime_texts(odd=False)
odd_datetimes = datetime_texts() | st.sampled_from(
    ["2024-01-01", "9999-12-31T23:59:59.9999995Z", "0001-01-01T00:00:00+01:00", "2024-02-30"]
)
# Enum values the API may add later read as stand-ins on the converter's path.
CLEAN: dict[str, st.SearchStrategy[Any]] = {
    "Type": st.sampled_from(["Public", "PartnerCompany", "TravelAgency"]),
    "ActivityState": st.sampled_from(["Active", "Deleted"]),
    "IsActive": st.booleans(),
}
ODD: dict[str, st.SearchStrategy[Any]] = {
    "Type": st.sampled_from(["Corporate", "public", "Active"]),
    "ActivityState": st.sampled_from(["Archived", "active", "Public"]),
    "IsActive": st.sampled_from(["true", 1, 0]),
}


def _keys(model: type[Any]) -> list[str]:
    return ["".join(p[:1].upper() + p[1:] for p in f.name.split("_")) for f in attrs.fields(model)]


def extra_keys(known: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Keys the API may add later, with any value."""
    return st.dictionaries(
        st.text(max_size=6).filter(lambda k: k not in known), json_values, max_size=2
    )


def _clean(key: str) -> st.SearchStrategy[Any]:
    if key in CLEAN:
        return CLEAN[key]
    if key == "Id" or key.endswith("Id"):
        return clean_ids
    if key.endswith("Utc"):
        return clean_datetimes
    return st.text(max_size=10)  # Name, Value, ExternalIdentifier


def _odd(key: str) -> st.SearchStrategy[Any]:
    if key in ODD:
        return ODD[key]
    if key == "Id" or key.endswith("Id"):
        return odd_ids
    if key.endswith("Utc"):
        return odd_datetimes
    return garbage


@st.composite
def records(draw: st.DrawFn, model: type[Any], most_flaws: int = 2) -> dict[str, Any]:
    """A wire record of *model*: every key with a value as the API writes it, then flaws.

    A flaw is a key absent, null, of the wrong type or oddly written; most records have
    none or one, so that whole pages often read and each rule meets its case alone.
    Optional keys are sometimes left out or null, and extra keys added, as the API may.
    """
    keys = _keys(model)
    record: dict[str, Any] = {key: draw(_clean(key)) for key in keys}
    for key in draw(st.lists(st.sampled_from(keys), max_size=most_flaws)):
        kind = draw(st.sampled_from(["absent", "null", "garbage", "odd", "odd"]))
        if kind == "absent":
            record.pop(key, None)
        else:
            record[key] = (
                None if kind == "null" else draw(garbage if kind == "garbage" else _odd(key))
            )
    record.update(draw(extra_keys(keys)))
    return record


def _list_of(model: type[Any], most_flaws: int) -> st.SearchStrategy[Any]:
    good = st.lists(records(model, most_flaws), max_size=4)
    return good if not most_flaws else st.one_of(good, good, good, good, st.just(ABSENT), garbage)


def _page_keys(cls: type[Any], most_flaws: int) -> dict[str, st.SearchStrategy[Any]]:
    cursor = (
        clean_ids if not most_flaws else st.one_of(clean_ids, st.just(ABSENT), odd_ids, garbage)
    )
    rates = st.just([{"Id": SOME_ID, "Names": {"en-US": "R"}}])
    companies = st.just([{"Id": SOME_ID, "Number": 2**70}])
    if most_flaws:
        rates, companies = rates | garbage | st.just(ABSENT), companies | garbage | st.just(ABSENT)
    return {
        VouchersResult: {
            "Vouchers": _list_of(Voucher, most_flaws),
            "VoucherCodes": _list_of(VoucherCode, most_flaws),
            "VoucherAssignments": _list_of(VoucherAssignment, most_flaws),
            "Rates": rates,
            "Companies": companies,
            "Cursor": cursor,
        },
        VoucherWriteResult: {"Vouchers": _list_of(Voucher, most_flaws)},
        VoucherCodeResult: {"VoucherCodes": _list_of(VoucherCode, most_flaws), "Cursor": cursor},
    }[cls]


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


@st.composite
def bodies(draw: st.DrawFn, cls: type[Any], most_flaws: int = 2) -> bytes:
    """The JSON body of an answer read as *cls* (with no flaw: as the API writes one)."""
    page: Any = {}
    for key, values in _page_keys(cls, most_flaws).items():
        value = draw(values)
        if value is not ABSENT:
            page[key] = value
    page.update(draw(extra_keys(_page_keys(cls, most_flaws))))
    if most_flaws and draw(st.integers(0, 30)) == 0:
        page = draw(json_values)  # not an object at all
    # The stdlib writes integers of any size (orjson reads those past 64 bits as floats),
    # and escapes non-ASCII text or not.
    return json.dumps(page, ensure_ascii=draw(st.booleans())).encode()


@pytest.mark.parametrize("cls", RESULTS, ids=lambda c: c.__name__)
def test_answers_as_the_api_writes_them_take_the_fast_path(cls: type[Any]) -> None:
    """Every flawless answer (offsets, naive datetimes, any decimals) is read by msgspec, alike."""

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(bodies(cls, most_flaws=0))
    def check(body: bytes) -> None:
        assert not isinstance(fast(body, cls), Exception), fast(body, cls)
        assert_same_reading(body, cls)

    check()


@pytest.mark.parametrize("cls", RESULTS, ids=lambda c: c.__name__)
def test_both_paths_read_every_answer_alike(cls: type[Any]) -> None:
    """For every body, the fast path gives the converter's models, or both refuse it."""

    @settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(bodies(cls))
    def check(body: bytes) -> None:
        assert_same_reading(body, cls)

    check()


@settings(max_examples=300, deadline=None)
@given(st.lists(records(Voucher, most_flaws=1), min_size=1, max_size=3), st.data())
def test_keys_repeated_in_an_answer_read_alike(
    items: list[dict[str, Any]], data: st.DataObject
) -> None:
    """A key written twice in a record or a page: both paths take the last one."""
    key = data.draw(st.sampled_from(_keys(Voucher)))
    value = _dumps(data.draw(_clean(key) | _odd(key)))
    record = _dumps(items[0])
    doubled = (
        record[:-1]
        + (b"," if len(record) > 2 else b"")
        + b'"'
        + key.encode()
        + b'":'
        + value
        + b"}"
    )
    body = b'{"Vouchers":[' + b",".join([doubled, *map(_dumps, items[1:])]) + b'],"Vouchers":null}'
    assert_same_reading(body, VouchersResult)
    assert_same_reading(b'{"Vouchers":[' + doubled + b"]}", VoucherWriteResult)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html>Gateway</html>",
        b'{"Vouchers": [',
        b"[1, 2]",
        b"null",
        b'{"Vouchers": [null]}',
        b'{"Vouchers": {"Id": 1}}',
        b'{"Vouchers": [], "Cursor": "x"}',
        b'{"Vouchers": []} x',
        b'\xef\xbb\xbf{"Vouchers": []}',
        b'{"Vouchers": [], "X": "\\ud800"}',
        b'{"Vouchers": [], "X": ' + b"[" * 2000 + b"]" * 2000 + b"}",
        b'{"Vouchers": [], "X": NaN}',
    ],
    ids=repr,
)
def test_bodies_that_are_not_answers_are_refused_by_both(body: bytes) -> None:
    """Bytes that are no answer: both paths refuse them, with the converter's error."""
    for cls in RESULTS:
        assert_same_reading(body, cls)
        assert isinstance(slow(body, cls), Exception) or cls is not VouchersResult


@pytest.mark.parametrize(
    "flaw", [b'"\xff\xfe"', b"1e400", b"[1e999]"], ids=["not-utf8", "1e400", "nested-1e999"]
)
def test_flaws_in_values_the_sdk_never_reads_do_not_stop_the_fast_path(flaw: bytes) -> None:
    """The one known difference: msgspec skips unread values unseen; orjson refuses the body."""
    body = b'{"Vouchers": [], "Unread": ' + flaw + b"}"
    assert isinstance(slow(body, VouchersResult), orjson.JSONDecodeError)
    assert decode(body, VouchersResult) == VouchersResult()


# --- the parts the fast path states itself -------------------------------------------------------


def _voucher(**changes: Any) -> dict[str, Any]:
    return {
        "Id": str(uuid.uuid4()),
        "ServiceId": SOME_ID,
        "EnterpriseId": SOME_ID,
        "Name": "V",
        "CreatedUtc": "2024-01-01T00:00:00Z",
        "UpdatedUtc": "2024-01-01T00:00:00Z",
        "Type": "Public",
        "ActivityState": "Active",
        "CompanyId": None,
        "TravelAgencyId": None,
        "OccupiableIntervalStartUtc": "2024-02-01T00:00:00Z",
        "OccupiableIntervalEndUtc": "2024-03-01T00:00:00Z",
        "ExternalIdentifier": "e",
        "IsActive": True,
        **changes,
    }


def _code(**changes: Any) -> dict[str, Any]:
    return {
        "Id": str(uuid.uuid4()),
        "VoucherId": SOME_ID,
        "Value": "CODE",
        "ValidityStartUtc": "2024-01-01T00:00:00Z",
        "ValidityEndUtc": "2024-01-01T00:00:00Z",
        "CreatedUtc": "2024-01-01T00:00:00Z",
        "UpdatedUtc": "2024-01-01T00:00:00Z",
        "ActivityState": "Active",
        "IsActive": True,
        **changes,
    }


CARE: list[tuple[type[Any], str, Any]] = [
    (model, key, value)
    for model in (Voucher, VoucherCode)
    for key in _keys(model)
    if key.endswith("Utc") or key in ("IsActive", "ActivityState")
    for value in (
        ["2024-01-01T05:30:00+05:30", "2024-01-01T00:00:00"] if key.endswith("Utc") else [None]
    )
]


@pytest.mark.parametrize(
    ("model", "key", "value"), CARE, ids=lambda v: getattr(v, "__name__", str(v))
)
def test_the_pass_after_msgspec_sees_every_datetime_and_activity_field(
    model: type[Any], key: str, value: Any
) -> None:
    """Each datetime field may come with an offset or none, each activity field may be null."""
    make = _voucher if model is Voucher else _code
    others = [make() for _ in range(3)]
    body = orjson.dumps(
        {"VoucherCodes" if model is VoucherCode else "Vouchers": [*others, make(**{key: value})]}
    )
    cls = VoucherCodeResult if model is VoucherCode else VoucherWriteResult
    assert not isinstance(fast(body, cls), Exception)
    assert_same_reading(body, cls)


def test_typical_pages_take_the_fast_path() -> None:
    """The API's own examples and the simulator's pages never fall back to the converter."""
    responses = [example for _, _, example in examples() if operation_of(example) == "response"]
    assert responses
    for example in responses:
        body = orjson.dumps(example)
        cls = (
            VoucherCodeResult
            if set(example) == {"VoucherCodes"}
            else VoucherWriteResult
            if set(example) == {"Vouchers"}
            else VouchersResult
        )
        read = fast(body, cls)
        assert not isinstance(read, Exception), (example, read)
        assert read == structure(example, cls)


def test_a_page_shares_its_repeated_ids() -> None:
    """A page of one service holds one service id object, not one per voucher."""
    body = orjson.dumps({"Vouchers": [_voucher() for _ in range(5)]})
    vouchers = decode(body, VoucherWriteResult).vouchers
    assert len({id(v.service_id) for v in vouchers}) == 1
    assert len({id(v.enterprise_id) for v in vouchers}) == 1
    assert len({id(v.id) for v in vouchers}) == 5


def test_a_lazy_page_builds_its_vouchers_as_they_are_read() -> None:
    """Lazy: a length, any index or slice, positions, and iteration, each built alike."""
    body = orjson.dumps(
        {"Vouchers": [_voucher(Name=f"V{n}", Id=str(uuid.UUID(int=n))) for n in range(600)]}
    )
    page = decode_lazily(body)
    every = decode(body, VouchersResult).vouchers
    assert isinstance(page.vouchers, Lazy) and len(page.vouchers) == 600
    assert list(page.vouchers) == every
    assert page.vouchers[-1] == every[-1] and page.vouchers[5:9] == every[5:9]
    assert page.vouchers.at([3, 599, 3]) == [every[3], every[599], every[3]]
    assert all(not isinstance(r, Voucher) for r in page.vouchers.records)
    fallback = decode_lazily(orjson.dumps({"Vouchers": [_voucher(Type="Corporate")]}))
    assert isinstance(fallback.vouchers.records[0], Voucher)  # the converter's: models already
    assert fallback.vouchers[0].type.value == "Corporate"


def test_response_models_are_slotted_and_behave_as_before() -> None:
    """Voucher, VoucherCode, VoucherAssignment: no __dict__; evolve, ==, hash, repr as attrs."""
    page = decode(
        orjson.dumps(
            {
                "Vouchers": [_voucher()],
                "VoucherCodes": [_code()],
                "VoucherAssignments": [{"VoucherId": SOME_ID, "RateId": SOME_ID}],
            }
        ),
        VouchersResult,
    )
    for model in (page.vouchers[0], page.voucher_codes[0], page.voucher_assignments[0]):
        assert not hasattr(model, "__dict__")
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            model.voucher_id = None  # type: ignore[misc,union-attr]
        twin = attrs.evolve(model)
        assert twin == model and hash(twin) == hash(model) and repr(twin) == repr(model)
        assert twin is not model
    voucher = page.vouchers[0]
    renamed = attrs.evolve(voucher, name="W")
    assert renamed.name == "W" and renamed != voucher
    assert repr(voucher).startswith("Voucher(id=UUID(")
    assert voucher.activity_state is ActivityState.ACTIVE


# --- leaves: ids and datetimes -------------------------------------------------------------------


@settings(max_examples=500)
@given(st.one_of(datetime_texts(), st.text(max_size=30)))
def test_datetimes_msgspec_reads_the_converter_reads_alike(text: str) -> None:
    """Every datetime msgspec reads, the converter reads as the same UTC instant (rounding too)."""
    try:
        read = msgspec.json.decode(orjson.dumps(text), type=datetime)
    except msgspec.ValidationError:
        return
    expected = read.replace(tzinfo=UTC) if read.tzinfo is None else read.astimezone(UTC)
    assert parse_datetime(text) == expected
    assert parse_datetime(text).tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "micro"),
    [(".1234564", 123456), (".1234565", 123457), (".12345649999", 123456), (".9999994", 999999)],
)
def test_both_paths_round_a_seventh_decimal_alike(text: str, micro: int) -> None:
    """Decimals of a second past the sixth round half up, in msgspec and in the converter."""
    body = orjson.dumps({"Vouchers": [_voucher(CreatedUtc=f"2024-01-01T00:00:00{text}Z")]})
    assert not isinstance(fast(body, VoucherWriteResult), Exception)
    for path in (fast, slow):
        assert path(body, VoucherWriteResult).vouchers[0].created_utc.microsecond == micro


@settings(max_examples=500)
@given(
    st.one_of(
        uuid_texts, st.text(max_size=40), st.text("0123456789abcdefABCDEF-{}_ +", max_size=40)
    )
)
def test_one_uuid_parser_agrees_with_msgspec_and_the_stdlib(text: str) -> None:
    """parse_uuid reads what msgspec reads, alike; what it reads, uuid.UUID reads alike."""
    try:
        mine: uuid.UUID | None = parse_uuid(text)
    except ValueError:
        mine = None
    try:
        theirs: uuid.UUID | None = msgspec.json.decode(orjson.dumps(text), type=uuid.UUID)
    except msgspec.ValidationError:
        theirs = None
    if theirs is not None:
        assert mine == theirs
    if mine is not None:
        assert mine == uuid.UUID(text)
        assert str(mine) == str(uuid.UUID(text)) and hash(mine) == hash(uuid.UUID(text))


def test_parsed_ids_are_cached_and_refused_ids_are_not() -> None:
    """The same text gives the same UUID object; garbage raises ValueError every time."""
    assert parse_uuid(SOME_ID) is parse_uuid(SOME_ID)
    for bad in ("", " " + SOME_ID.replace("-", "")[1:], SOME_ID[:-1] + "_", "+" + SOME_ID[1:]):
        for _ in range(2):
            with pytest.raises(ValueError, match="hexadecimal"):
                parse_uuid(bad)


def test_offsets_are_moved_to_utc_not_kept() -> None:
    """A datetime with an offset reads as the same instant in UTC, on both paths."""
    body = orjson.dumps({"Vouchers": [_voucher(UpdatedUtc="2024-01-01T02:00:00+02:00")]})
    for path in (fast, slow):
        moment = path(body, VoucherWriteResult).vouchers[0].updated_utc
        assert moment == datetime(2024, 1, 1, tzinfo=UTC) and moment.tzinfo is UTC
    assert datetime(2024, 1, 1, 2, tzinfo=timezone(timedelta(hours=2))) == moment


# --- through the client -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_client_reads_answers_through_the_fast_path(
    client: MewsClient, hotel: Hotel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """add, update, get_all and iter_all over HTTP never need the converter for the simulator."""
    left_to_converter: list[object] = []

    def counted(data: Any, cls: type[Any]) -> Any:
        if cls in RESULTS:  # a whole answer; rates and companies always go to the converter
            left_to_converter.append(cls)
        return structure(data, cls)

    read_fast: list[object] = []
    read = fastwire._Envelope.read

    def counted_read(envelope: Any, body: bytes) -> Any:
        read_fast.append(envelope.result)
        return read(envelope, body)

    monkeypatch.setattr(fastwire, "structure", counted)
    monkeypatch.setattr(fastwire._Envelope, "read", counted_read)
    added = await client.vouchers.add(
        [
            VoucherParameters(service_id=hotel.service_id, name=f"F{n}", type=VoucherType.PUBLIC)
            for n in range(3)
        ],
        enterprise_id=hotel.enterprise_id,
    )
    updated = await client.vouchers.update(
        [VoucherUpdate(voucher_id=added[0].id, name="G")], enterprise_id=hotel.enterprise_id
    )
    page = await client.vouchers.get_all(service_ids=[hotel.service_id])
    async with client.vouchers.iter_all(service_ids=[hotel.service_id]) as stream:
        streamed = [voucher async for voucher in stream]
    assert updated[0].name == "G"
    assert {v.id for v in page.vouchers} == {v.id for v in streamed} >= {v.id for v in added}
    assert left_to_converter == []
    assert VoucherWriteResult in read_fast and VouchersResult in read_fast
    assert len({id(v.service_id) for v in page.vouchers}) == 1
