"""Sync: plan against Mews as it is, apply only real changes, never touch what is not ours."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import mews_vouchers
from mews_vouchers import (
    UNSET,
    DesiredVoucher,
    MewsClient,
    MewsError,
    MewsValidationError,
    SyncError,
    SyncPlan,
    SyncResult,
    Voucher,
    VoucherCodeParameters,
    VoucherParameters,
    VoucherType,
    VoucherUpdate,
)
from mews_vouchers._sync_diff import diff
from mews_vouchers.testing import Fault, Hotel, MewsSimulator
from tests.conftest import make_client

pytestmark = pytest.mark.anyio

WRITES = {
    "vouchers/add",
    "vouchers/update",
    "vouchers/delete",
    "voucherCodes/add",
    "voucherCodes/delete",
}


def desired(
    hotel: Hotel,
    n: int,
    *,
    prefix: str = "shop-",
    name: str = "Gift",
    codes: bool = True,
    start: int = 0,
) -> list[DesiredVoucher]:
    """n desired vouchers shop-<i> with two codes each (or codes unmanaged)."""
    return [
        DesiredVoucher(
            params=VoucherParameters(
                service_id=hotel.service_id,
                name=f"{name} {i}",
                type=VoucherType.PUBLIC,
                external_identifier=f"{prefix}{i}",
            ),
            codes=[f"{prefix}{i}-A", f"{prefix}{i}-B"] if codes else None,
        )
        for i in range(start, start + n)
    ]


def writes(sim: MewsSimulator, since: int = 0) -> list[str]:
    return [r.operation for r in sim.requests[since:] if r.operation in WRITES]


def active(sim: MewsSimulator) -> list[dict[str, Any]]:
    return [v for v in sim.vouchers() if v["IsActive"]]


def active_codes(sim: MewsSimulator) -> Counter[tuple[str, str]]:
    return Counter((c["VoucherId"], c["Value"]) for c in sim.voucher_codes() if c["IsActive"])


def assert_matches(sim: MewsSimulator, wanted: Iterable[DesiredVoucher]) -> None:
    """Every desired voucher exists exactly once, with its fields and exactly its codes."""
    by_ext: dict[str, list[dict[str, Any]]] = {}
    for v in active(sim):
        by_ext.setdefault(v["ExternalIdentifier"], []).append(v)
    codes: dict[str, set[str]] = {}
    for voucher_id, value in active_codes(sim):
        codes.setdefault(voucher_id, set()).add(value)
    for d in wanted:
        held = by_ext.get(str(d.params.external_identifier), [])
        assert len(held) == 1, (d.params.external_identifier, held)
        assert held[0]["Name"] == d.params.name
        if d.codes is not None:
            assert codes.get(held[0]["Id"], set()) == set(d.codes)


async def plan_for(client: MewsClient, hotel: Hotel, items: Any, **options: Any) -> SyncPlan:
    return await client.vouchers.plan_sync(items, enterprise_id=hotel.enterprise_id, **options)


# --- the main path ---------------------------------------------------------------------------


async def test_first_sync_adds_every_voucher_then_its_codes(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """From empty: every desired voucher is added once, then its codes; progress counts all."""
    wanted = desired(hotel, 30)
    progress: list[int] = []
    result = await client.vouchers.sync(
        wanted, enterprise_id=hotel.enterprise_id, on_progress=progress.append
    )
    assert result.ok
    assert len(result.added) == 30
    assert len(result.codes_added) == 60
    assert sum(progress) == 90
    assert_matches(sim, wanted)
    # Codes go after their vouchers exist.
    order = writes(sim)
    assert order.index("voucherCodes/add") > max(
        i for i, op in enumerate(order) if op == "vouchers/add"
    )


async def test_second_sync_is_an_empty_plan_and_writes_nothing(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """Re-running the same desired state plans nothing, and apply sends no request at all."""
    wanted = desired(hotel, 25)
    await client.vouchers.sync(wanted, enterprise_id=hotel.enterprise_id)
    sent = len(sim.requests)
    plan = await plan_for(client, hotel, wanted)
    assert plan.is_empty
    assert plan.unchanged == 25
    assert plan.summary().startswith("Plan: 0 to add; 0 to update; 0 to delete; 25 unchanged")
    reads = len(sim.requests)
    result = await client.vouchers.apply_sync(plan)
    assert result == SyncResult()
    assert len(sim.requests) == reads
    assert writes(sim, sent) == []


async def test_updates_send_only_the_fields_that_differ(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """A changed name, type or interval is sent alone; unchanged fields stay null on the wire."""
    wanted = desired(hotel, 4, codes=False)
    await client.vouchers.sync(wanted, enterprise_id=hotel.enterprise_id)
    start = datetime(2030, 1, 1, tzinfo=UTC)
    changed = list(wanted)
    changed[0] = DesiredVoucher(params=_evolve(wanted[0].params, name="Renamed"))
    changed[1] = DesiredVoucher(
        params=_evolve(
            wanted[1].params, type=VoucherType.PARTNER_COMPANY, company_id=hotel.company_id
        )
    )
    changed[2] = DesiredVoucher(
        params=_evolve(wanted[2].params, occupiable_interval_start_utc=start)
    )
    sent = len(sim.requests)
    plan = await plan_for(client, hotel, changed)
    assert plan.unchanged == 1
    assert [plan.field_changes(u) for u in plan.updates] == [
        [("name", "Gift 0", "Renamed")],
        [
            ("type", VoucherType.PUBLIC, VoucherType.PARTNER_COMPANY),
            ("company_id", None, hotel.company_id),
        ],
        [("occupiable_interval_start_utc", None, start)],
    ]
    result = await client.vouchers.apply_sync(plan)
    assert [v.name for v in result.updated] == ["Renamed", "Gift 1", "Gift 2"]
    (request,) = [r for r in sim.requests[sent:] if r.operation == "vouchers/update"]
    assert request.body is not None
    set_fields = [
        sorted(k for k, v in item.items() if k != "VoucherId" and v is not None)
        for item in request.body["VoucherUpdates"]
    ]
    assert set_fields == [
        ["Name"],
        ["CompanyId", "Type"],
        ["OccupiableIntervalStartUtc"],
    ]
    assert (await plan_for(client, hotel, changed)).is_empty


def _evolve(params: VoucherParameters, **changes: Any) -> VoucherParameters:
    fields = {
        "service_id": params.service_id,
        "name": params.name,
        "type": params.type,
        "company_id": params.company_id,
        "assigned_rate_ids": params.assigned_rate_ids,
        "occupiable_interval_start_utc": params.occupiable_interval_start_utc,
        "occupiable_interval_end_utc": params.occupiable_interval_end_utc,
        "external_identifier": params.external_identifier,
    }
    return VoucherParameters(**{**fields, **changes})


async def test_instants_and_rate_sets_are_compared_not_their_spelling(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """Another offset, microseconds or rate order is no change; rates None are not read."""
    first, second = hotel.rate_ids
    moment = datetime(2031, 5, 1, 12, 0, 0, tzinfo=UTC)
    params = VoucherParameters(
        service_id=hotel.service_id,
        name="Timed",
        type=VoucherType.PUBLIC,
        assigned_rate_ids=[first, second],
        occupiable_interval_start_utc=moment,
        external_identifier="shop-t",
    )
    await client.vouchers.sync([params], enterprise_id=hotel.enterprise_id)
    same = _evolve(
        params,
        assigned_rate_ids=[second, first],
        occupiable_interval_start_utc=moment.astimezone(timezone(timedelta(hours=2))).replace(
            microsecond=999_999
        ),
    )
    assert (await plan_for(client, hotel, [same])).is_empty
    # Rates not managed: the read asks for no assignments, and a rate change goes unseen.
    sent = len(sim.requests)
    unmanaged = _evolve(params, assigned_rate_ids=None)
    assert (await plan_for(client, hotel, [unmanaged])).is_empty
    (read,) = [r for r in sim.requests[sent:] if r.operation == "vouchers/getAll"]
    assert read.body is not None and read.body["Extent"]["VoucherAssignments"] is False
    # Managed as an empty set: the rates are cleared.
    cleared = await plan_for(client, hotel, [_evolve(params, assigned_rate_ids=[])])
    assert [plan_changes for u in cleared.updates for plan_changes in cleared.field_changes(u)] == [
        ("assigned_rate_ids", (first, second), ())
    ]
    await client.vouchers.apply_sync(cleared)
    assert sim.assignments() == []


# --- ownership: deletion, unmanaged, conflicts -------------------------------------------------


async def test_delete_missing_deletes_only_owned_identifiers(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """Only active vouchers in scope with the owned prefix and not desired are deleted."""
    await client.vouchers.sync(desired(hotel, 6, codes=False), enterprise_id=hotel.enterprise_id)
    others = await client.vouchers.add(
        [
            VoucherParameters(
                service_id=hotel.service_id, name="CRM", type="Public", external_identifier="crm-1"
            ),
            VoucherParameters(service_id=hotel.service_id, name="Manual", type="Public"),
        ],
        enterprise_id=hotel.enterprise_id,
    )
    other_hotel = sim.add_hotel("Other")
    await client.vouchers.sync(
        desired(other_hotel, 2, codes=False), enterprise_id=other_hotel.enterprise_id
    )
    keep = desired(hotel, 4, codes=False)
    plan = await plan_for(client, hotel, keep, delete_missing=True, owned_prefix="shop-")
    assert sorted(str(v.external_identifier) for v in plan.deletes) == ["shop-4", "shop-5"]
    assert [v.id for v in plan.unmanaged] == [others[1].id]
    result = await client.vouchers.apply_sync(plan)
    assert sorted(result.deleted, key=str) == sorted((v.id for v in plan.deletes), key=str)
    names = sorted(v["ExternalIdentifier"] or "" for v in active(sim))
    assert names == ["", "crm-1", "shop-0", "shop-0", "shop-1", "shop-1", "shop-2", "shop-3"]


async def test_max_deletes_refuses_the_plan_before_any_write(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """A plan deleting more than max_deletes raises SyncError, empty result, nothing written."""
    await client.vouchers.sync(desired(hotel, 10), enterprise_id=hotel.enterprise_id)
    sent = len(sim.requests)
    with pytest.raises(SyncError, match="more than max_deletes=3") as caught:
        await client.vouchers.sync(
            desired(hotel, 6),
            enterprise_id=hotel.enterprise_id,
            delete_missing=True,
            owned_prefix="shop-",
            max_deletes=3,
        )
    assert caught.value.result == SyncResult()
    assert caught.value.plan is not None and len(caught.value.plan.deletes) == 4
    assert writes(sim, sent) == []
    assert len(active(sim)) == 10
    # At the cap it goes through.
    result = await client.vouchers.sync(
        desired(hotel, 6),
        enterprise_id=hotel.enterprise_id,
        delete_missing=True,
        owned_prefix="shop-",
        max_deletes=4,
    )
    assert len(result.deleted) == 4


async def test_delete_missing_needs_an_explicit_owner(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """delete_missing without owned_prefix is refused; '' owns every identified voucher."""
    with pytest.raises(MewsValidationError, match="owned_prefix: required with delete_missing"):
        await plan_for(client, hotel, desired(hotel, 1), delete_missing=True)
    assert sim.requests == []
    await client.vouchers.add(
        [
            VoucherParameters(
                service_id=hotel.service_id, name="X", type="Public", external_identifier="x"
            )
        ],
        enterprise_id=hotel.enterprise_id,
    )
    plan = await plan_for(
        client, hotel, [], service_ids=[hotel.service_id], delete_missing=True, owned_prefix=""
    )
    assert [v.external_identifier for v in plan.deletes] == ["x"]


async def test_unmanaged_and_conflicting_vouchers_are_reported_and_never_written(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """No identifier: unmanaged; an identifier on two active vouchers: a conflict; untouched."""
    # Twins come from two adds: one add refuses an identifier given twice.
    twins = [
        voucher
        for i in range(2)
        for voucher in await client.vouchers.add(
            [
                VoucherParameters(
                    service_id=hotel.service_id,
                    name=f"Twin {i}",
                    type="Public",
                    external_identifier="shop-0",
                ),
                VoucherParameters(
                    service_id=hotel.service_id,
                    name=f"Stray {i}",
                    type="Public",
                    external_identifier="shop-9",
                ),
            ],
            enterprise_id=hotel.enterprise_id,
        )
    ]
    [loose] = await client.vouchers.add(
        [VoucherParameters(service_id=hotel.service_id, name="Loose", type="Public")],
        enterprise_id=hotel.enterprise_id,
    )
    before = sim.vouchers()
    wanted = desired(hotel, 2)
    plan = await plan_for(client, hotel, wanted, delete_missing=True, owned_prefix="shop-")
    # shop-9 is owned and not desired, but held twice: not deleted either.
    assert sorted(v.id for v in plan.conflicts) == sorted(v.id for v in twins)
    assert [v.id for v in plan.unmanaged] == [loose.id]
    assert [d.params.external_identifier for d in plan.adds] == ["shop-1"]
    assert plan.updates == [] and plan.deletes == [] and plan.code_adds == []
    assert "2 conflicting identifiers left alone" in plan.summary()
    await client.vouchers.apply_sync(plan)
    after = {v["Id"]: v for v in sim.vouchers()}
    for voucher in before:
        assert after[voucher["Id"]] == voucher


async def test_one_identifier_in_two_services_is_two_vouchers(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """The key includes the service: shop-0 of each service is its own voucher; scope is given."""
    spa = sim.add_service(hotel.enterprise_id, name="Spa")
    wanted = desired(hotel, 2) + [
        DesiredVoucher(params=_evolve(d.params, service_id=spa, name=f"Spa {i}"), codes=[f"S{i}"])
        for i, d in enumerate(desired(hotel, 2))
    ]
    await client.vouchers.sync(wanted, enterprise_id=hotel.enterprise_id)
    assert Counter(v["ExternalIdentifier"] for v in active(sim)) == {"shop-0": 2, "shop-1": 2}
    assert (await plan_for(client, hotel, wanted)).is_empty
    # Scoped to the spa alone, the desired vouchers of the other service are refused.
    with pytest.raises(MewsValidationError, match=r"desired\[0\]\.service_id"):
        await plan_for(client, hotel, wanted, service_ids=[spa])
    spa_only = [d for d in wanted if d.params.service_id == spa][:1]
    plan = await plan_for(
        client, hotel, spa_only, service_ids=[spa], delete_missing=True, owned_prefix="shop-"
    )
    assert [(v.service_id, v.external_identifier) for v in plan.deletes] == [(spa, "shop-1")]


# --- codes ---------------------------------------------------------------------------------------


async def test_codes_are_added_and_with_delete_missing_deleted(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """Missing codes are added; extra ones deleted only with delete_missing; None leaves them."""
    await client.vouchers.sync(desired(hotel, 3), enterprise_id=hotel.enterprise_id)
    wanted = [
        DesiredVoucher(params=d.params, codes=[f"{d.params.external_identifier}-A", "NEW" + str(i)])
        for i, d in enumerate(desired(hotel, 3))
    ]
    wanted[2] = DesiredVoucher(params=wanted[2].params, codes=None)
    kept = await plan_for(client, hotel, wanted)
    assert sorted(c.value for c in kept.code_adds) == ["NEW0", "NEW1"]
    assert kept.code_deletes == []
    pruned = await plan_for(client, hotel, wanted, delete_missing=True, owned_prefix="shop-")
    assert sorted(c.value or "" for c in pruned.code_deletes) == ["shop-0-B", "shop-1-B"]
    result = await client.vouchers.apply_sync(pruned)
    assert sorted(c.value or "" for c in result.codes_added) == ["NEW0", "NEW1"]
    assert len(result.codes_deleted) == 2
    values = sorted(value for _, value in active_codes(sim))
    assert values == ["NEW0", "NEW1", "shop-0-A", "shop-1-A", "shop-2-A", "shop-2-B"]


async def test_a_code_moves_between_vouchers_in_one_sync(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """Deletions go first, so a value freed on one voucher can be added to another."""
    first = desired(hotel, 2, codes=False)
    wanted = [
        DesiredVoucher(params=first[0].params, codes=["MOVING"]),
        DesiredVoucher(params=first[1].params, codes=[]),
    ]
    await client.vouchers.sync(wanted, enterprise_id=hotel.enterprise_id)
    moved = [
        DesiredVoucher(params=first[0].params, codes=[]),
        DesiredVoucher(params=first[1].params, codes=["MOVING"]),
    ]
    result = await client.vouchers.sync(
        moved, enterprise_id=hotel.enterprise_id, delete_missing=True, owned_prefix="shop-"
    )
    assert result.ok and len(result.codes_deleted) == 1 and len(result.codes_added) == 1
    assert_matches(sim, moved)


# --- stale plans -------------------------------------------------------------------------------


class Wall:
    """A wall clock for the simulator that moves only when told to."""

    def __init__(self) -> None:
        self.now = datetime(2030, 6, 1, 12, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def timed() -> AsyncIterator[tuple[MewsSimulator, Wall, Hotel, MewsClient]]:
    wall = Wall()
    async with MewsSimulator(seed=5, now=wall) as simulator:
        hotel = simulator.add_hotel()
        async with make_client(simulator) as mews:
            yield simulator, wall, hotel, mews


async def test_a_stale_plan_skips_what_changed_since_planning(
    timed: tuple[MewsSimulator, Wall, Hotel, MewsClient],
) -> None:
    """An update of a voucher changed meanwhile is skipped as stale; one deleted is left alone."""
    sim, wall, hotel, client = timed
    await client.vouchers.sync(desired(hotel, 4, codes=False), enterprise_id=hotel.enterprise_id)
    renamed = desired(hotel, 2, codes=False, name="Renamed")
    plan = await plan_for(client, hotel, renamed, delete_missing=True, owned_prefix="shop-")
    assert len(plan.updates) == 2 and len(plan.deletes) == 2
    wall.now += timedelta(seconds=5)
    by_ext = {v["ExternalIdentifier"]: uuid.UUID(v["Id"]) for v in active(sim)}
    # Someone else renames shop-0 (rates, not a field the plan touches) and deletes shop-2.
    await client.vouchers.update(
        [VoucherUpdate(voucher_id=by_ext["shop-0"], assigned_rate_ids=[hotel.rate_ids[0]])],
        enterprise_id=hotel.enterprise_id,
    )
    await client.vouchers.delete([by_ext["shop-2"]], enterprise_id=hotel.enterprise_id)
    result = await client.vouchers.apply_sync(plan)
    (stale,) = result.stale
    assert (stale.action, stale.item) == ("update", plan.updates[0])
    assert (
        stale.reason == "UpdatedUtc is 2030-06-01T12:00:05Z, planned against 2030-06-01T12:00:00Z"
    )
    assert [v.external_identifier for v in result.updated] == ["shop-1"]
    assert [str(i) for i in result.deleted] == [str(by_ext["shop-3"])]
    names = {v["ExternalIdentifier"]: v["Name"] for v in active(sim)}
    assert names == {"shop-0": "Gift 0", "shop-1": "Renamed 1"}


async def test_a_change_in_the_same_second_is_still_stale(
    timed: tuple[MewsSimulator, Wall, Hotel, MewsClient],
) -> None:
    """UpdatedUtc has whole seconds: a field changed within the planned second is still seen."""
    sim, _, hotel, client = timed
    await client.vouchers.sync(desired(hotel, 1, codes=False), enterprise_id=hotel.enterprise_id)
    plan = await plan_for(client, hotel, desired(hotel, 1, codes=False, name="Mine"))
    (voucher_id,) = [uuid.UUID(v["Id"]) for v in active(sim)]
    await client.vouchers.update(
        [VoucherUpdate(voucher_id=voucher_id, name="Theirs")], enterprise_id=hotel.enterprise_id
    )
    result = await client.vouchers.apply_sync(plan)
    assert [s.reason for s in result.stale] == ["name changed since planning"]
    assert [v["Name"] for v in active(sim)] == ["Theirs"]


async def test_adds_and_code_adds_done_meanwhile_are_skipped(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """An identifier taken since planning is stale; what another run did is not done again."""
    wanted = desired(hotel, 2)
    await client.vouchers.sync(wanted[:1], enterprise_id=hotel.enterprise_id)
    more_codes = [
        DesiredVoucher(params=wanted[0].params, codes=[*(wanted[0].codes or ()), "C"]),
        wanted[1],
    ]
    plan = await plan_for(client, hotel, more_codes)
    await client.vouchers.apply_sync(plan)  # another run, first
    sent = len(sim.requests)
    result = await client.vouchers.apply_sync(plan)
    assert [s.action for s in result.stale] == ["add"]
    assert result.added == [] and result.codes_added == []
    assert_matches(sim, more_codes)
    fewer = await plan_for(
        client,
        hotel,
        [DesiredVoucher(params=wanted[0].params, codes=[])],
        delete_missing=True,
        owned_prefix="shop-",
    )
    assert len(fewer.deletes) == 1 and len(fewer.code_deletes) == 3
    await client.vouchers.apply_sync(fewer)
    assert await client.vouchers.apply_sync(fewer) == SyncResult()
    assert writes(sim, sent) == ["voucherCodes/delete", "vouchers/delete"]
    assert active_codes(sim) == Counter()


# --- saved plans -------------------------------------------------------------------------------


async def test_a_saved_plan_round_trips_and_applies_from_the_file(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel, tmp_path: Path
) -> None:
    """to_jsonl then from_jsonl gives the same plan, and applying the loaded one converges."""
    await client.vouchers.sync(desired(hotel, 5), enterprise_id=hotel.enterprise_id)
    for params in (
        [VoucherParameters(service_id=hotel.service_id, name="Loose", type="Public")],
        # Two adds: one add refuses an identifier given twice.
        *[
            [
                VoucherParameters(
                    service_id=hotel.service_id,
                    name="Twin",
                    type="Public",
                    external_identifier="twin",
                )
            ]
        ]
        * 2,
    ):
        await client.vouchers.add(params, enterprise_id=hotel.enterprise_id)
    wanted = desired(hotel, 3, name="New") + desired(hotel, 2, start=10)
    wanted[0] = DesiredVoucher(
        params=_evolve(wanted[0].params, assigned_rate_ids=list(hotel.rate_ids)), codes=["Z"]
    )
    plan = await plan_for(client, hotel, wanted, delete_missing=True, owned_prefix="shop-")
    path = tmp_path / "plan.jsonl"
    plan.to_jsonl(path)
    lines = path.read_text().splitlines()
    assert '"FormatVersion":1' in lines[0]
    counts = [plan.adds, plan.updates, plan.deletes, plan.code_adds, plan.code_deletes]
    counts += [plan.unmanaged, plan.conflicts]
    assert all(counts) and len(lines) == 1 + sum(map(len, counts))

    loaded = SyncPlan.from_jsonl(path)
    assert loaded == plan
    result = await client.vouchers.apply_sync(loaded)
    assert result.ok and result.stale == []
    assert_matches(sim, wanted)
    assert (
        await plan_for(client, hotel, wanted, delete_missing=True, owned_prefix="shop-")
    ).is_empty


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty file"),
        ('{"Format": "something else"}\n', "not a sync plan"),
        ('{"Format": "mews-vouchers/sync-plan", "FormatVersion": 99}\n', "version 99"),
        ("not json\n", ":1"),
        (
            '{"Format": "mews-vouchers/sync-plan", "FormatVersion": 1, "ServiceIds": []}\n'
            '{"Action": "explode"}\n',
            "unknown action 'explode'",
        ),
        (
            '{"Format": "mews-vouchers/sync-plan", "FormatVersion": 1, "ServiceIds": []}\n'
            '{"Action": "delete", "Before": {"Id": "nope"}}\n',
            ":2",
        ),
    ],
)
def test_a_file_that_is_no_plan_is_refused_naming_the_line(
    tmp_path: Path, text: str, problem: str
) -> None:
    """from_jsonl raises MewsValidationError naming the file's line, never a bare error."""
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    with pytest.raises(MewsValidationError, match=problem):
        SyncPlan.from_jsonl(path)


# --- bad input -----------------------------------------------------------------------------------


async def test_bad_desired_items_are_refused_before_any_request(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """One MewsValidationError lists every problem with its desired[i] path; nothing is sent."""
    service = hotel.service_id

    def item(ext: str | None, name: str = "ok", **kw: Any) -> VoucherParameters:
        return VoucherParameters(
            service_id=service, name=name, type="Public", external_identifier=ext, **kw
        )

    bad: list[Any] = [
        item("shop-0"),
        item(None),
        item("shop-0"),
        item("shop-3", name=""),
        "not a voucher",
        DesiredVoucher(params=item("shop-5"), codes=["A", "A", ""]),
        DesiredVoucher(params=item("shop-6"), codes=["B"]),
        DesiredVoucher(params=item("shop-7"), codes=["B"]),
        item("crm-8"),
    ]
    with pytest.raises(MewsValidationError) as caught:
        await plan_for(client, hotel, bad, owned_prefix="shop-")
    assert caught.value.errors == [
        ("desired[4]", "expected VoucherParameters or DesiredVoucher, got 'not a voucher'"),
        ("desired[3].name", "must be 1..128 characters, got 0"),
        ("desired[1].external_identifier", "required: sync keys a voucher by its identifier"),
        ("desired[2].external_identifier", "'shop-0' repeats desired[0] (same service)"),
        ("desired[5].codes[2]", "must be 1..128 characters, got 0"),
        ("desired[5].codes[1]", "'A' repeats desired[5].codes[0]"),
        ("desired[7].codes[0]", "'B' repeats desired[6].codes[0]"),
        (
            "desired[8].external_identifier",
            "'crm-8' is outside owned_prefix 'shop-': sync would never delete it",
        ),
    ]
    with pytest.raises(MewsValidationError, match=r"service_id: .* is not in service_ids"):
        await plan_for(client, hotel, [item("a")], service_ids=[uuid.uuid4()])
    with pytest.raises(MewsValidationError, match="codes: expected a collection"):
        DesiredVoucher(params=item("a"), codes="ABC")
    with pytest.raises(MewsValidationError, match="max_deletes"):
        await plan_for(client, hotel, [item("a")], max_deletes=-1)
    with pytest.raises(MewsValidationError, match="plan: expected a SyncPlan"):
        await client.vouchers.apply_sync("plan.jsonl")  # type: ignore[arg-type]
    assert sim.requests == []


async def test_nothing_desired_and_no_scope_reads_nothing(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """An empty desired state with no service_ids has no scope: no read, no deletion."""
    sim.seed_vouchers(hotel.service_id, 5, external_identifier_prefix="shop-")
    plan = await plan_for(client, hotel, [], delete_missing=True, owned_prefix="shop-")
    assert plan.is_empty and plan.service_ids == ()
    assert sim.requests == []


# --- failures and faults -------------------------------------------------------------------------


async def test_a_failed_write_raises_sync_error_after_the_rest_is_applied(
    client: MewsClient, sim: MewsSimulator, hotel: Hotel
) -> None:
    """A code the API refuses fails its chunk; every other step is applied, then SyncError."""
    taken = await client.vouchers.add(
        [VoucherParameters(service_id=hotel.service_id, name="Other", type="Public")],
        enterprise_id=hotel.enterprise_id,
    )
    await client.voucher_codes.add(
        [VoucherCodeParameters(voucher_id=taken[0].id, value="TAKEN")],
        enterprise_id=hotel.enterprise_id,
    )
    wanted = desired(hotel, 3, codes=False)
    wanted[1] = DesiredVoucher(params=wanted[1].params, codes=["TAKEN"])
    with pytest.raises(SyncError, match="1 writes failed") as caught:
        await client.vouchers.sync(wanted, enterprise_id=hotel.enterprise_id)
    result = caught.value.result
    assert len(result.added) == 3 and not result.ok
    (failure,) = result.failures
    assert failure.items == [VoucherCodeParameters(voucher_id=result.added[1].id, value="TAKEN")]
    assert failure.indices == [0] and failure.ambiguous is False
    assert isinstance(caught.value, MewsError)


@pytest.mark.parametrize(
    ("fault", "operation"),
    [
        (Fault.SERVER_ERROR_AFTER, "vouchers/add"),
        (Fault.DROP_AFTER, "vouchers/add"),
        (Fault.DROP_AFTER, "vouchers/update"),
        (Fault.SERVER_ERROR_AFTER, "voucherCodes/add"),
        (Fault.DROP_AFTER, "vouchers/delete"),
        (Fault.RATE_LIMIT, None),
    ],
)
async def test_faults_during_apply_converge_without_duplicates(
    sim: MewsSimulator, hotel: Hotel, fault: Fault, operation: str | None
) -> None:
    """Writes applied but unanswered, dropped connections, 429s: one sync still converges."""
    async with make_client(sim, chunk_size=5) as client:
        await client.vouchers.sync(desired(hotel, 10), enterprise_id=hotel.enterprise_id)
        wanted = desired(hotel, 8, name="New") + desired(hotel, 12, start=20)
        sim.inject(fault, times=3, operation=operation, retry_after="0")
        result = await client.vouchers.sync(
            wanted, enterprise_id=hotel.enterprise_id, delete_missing=True, owned_prefix="shop-"
        )
        assert result.ok, result.failures
        assert sum(r.fault is fault for r in sim.requests) == 3
        assert_matches(sim, wanted)
        assert len(active(sim)) == 20
        assert sum(active_codes(sim).values()) == 40
        assert (
            await client.vouchers.plan_sync(
                wanted, enterprise_id=hotel.enterprise_id, delete_missing=True, owned_prefix="shop-"
            )
        ).is_empty


async def test_random_faults_converge_over_a_few_runs() -> None:
    """With a third of requests failing at random, re-running sync converges, nothing twice."""
    async with MewsSimulator(seed=11, fault_rate=0.3, slow_delay=0.05) as noisy:
        target = noisy.add_hotel()
        wanted = desired(target, 40)
        async with make_client(noisy, chunk_size=7, timeout=0.5) as client:
            for _ in range(8):
                try:
                    await client.vouchers.sync(
                        wanted,
                        enterprise_id=target.enterprise_id,
                        delete_missing=True,
                        owned_prefix="shop-",
                    )
                except MewsError:
                    continue
                break
        assert_matches(noisy, wanted)
        assert len(active(noisy)) == 40


# --- the diff as pure logic ----------------------------------------------------------------------

_IDS = st.sampled_from([None, uuid.UUID(int=1), uuid.UUID(int=2)])
_MOMENTS = st.one_of(
    st.none(),
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
)


@st.composite
def _params(draw: st.DrawFn) -> VoucherParameters:
    return VoucherParameters(
        service_id=uuid.UUID(int=9),
        name=draw(st.text(min_size=1, max_size=5)),
        type=draw(st.sampled_from(VoucherType)),
        company_id=draw(_IDS),
        assigned_rate_ids=draw(st.one_of(st.none(), st.lists(_IDS.filter(bool), unique=True))),  # type: ignore[arg-type]
        occupiable_interval_start_utc=draw(_MOMENTS),
        occupiable_interval_end_utc=draw(_MOMENTS),
        external_identifier="k",
    )


def _as_read(params: VoucherParameters, *, offset: timedelta = timedelta(0)) -> Voucher:
    """The voucher the API would hold for *params* (whole seconds, any offset spelling)."""

    def wire(moment: datetime | None) -> datetime | None:
        return (
            None if moment is None else moment.replace(microsecond=0).astimezone(timezone(offset))
        )

    now = datetime(2030, 1, 1, tzinfo=UTC)
    return Voucher(
        id=uuid.UUID(int=7),
        service_id=params.service_id,
        name=params.name,
        created_utc=now,
        updated_utc=now,
        type=params.type,
        is_active=True,
        company_id=params.company_id,
        occupiable_interval_start_utc=wire(params.occupiable_interval_start_utc),
        occupiable_interval_end_utc=wire(params.occupiable_interval_end_utc),
        external_identifier=params.external_identifier,
    )


@given(_params(), _params(), st.integers(-12, 12))
def test_diff_sets_exactly_the_fields_that_differ(
    wanted: VoucherParameters, held: VoucherParameters, hours: int
) -> None:
    """diff(p, as_read(p)) is None; otherwise applying its fields makes the voucher match."""
    rates = list(held.assigned_rate_ids or ())
    assert (
        diff(
            wanted,
            _as_read(wanted, offset=timedelta(hours=hours)),
            list(wanted.assigned_rate_ids or ()),
        )
        is None
    )
    update = diff(wanted, _as_read(held), rates)
    if update is None:
        return
    changed = {
        name: getattr(update, name)
        for name in (
            "name",
            "type",
            "company_id",
            "assigned_rate_ids",
            "occupiable_interval_start_utc",
            "occupiable_interval_end_utc",
        )
        if getattr(update, name) is not UNSET
    }
    result = _evolve(held, **changed)
    new_rates = list(result.assigned_rate_ids or ())
    assert diff(wanted, _as_read(result), new_rates) is None
    # Nothing is set that already matched.
    for name, value in changed.items():
        if name != "assigned_rate_ids":
            assert getattr(_as_read(held), name) != value


def test_sync_names_are_public() -> None:
    """DesiredVoucher, SyncPlan, SyncResult, StaleAction and SyncError are exported."""
    for name in ("DesiredVoucher", "SyncPlan", "SyncResult", "StaleAction", "SyncError"):
        assert name in mews_vouchers.__all__
    assert issubclass(SyncError, MewsError)
