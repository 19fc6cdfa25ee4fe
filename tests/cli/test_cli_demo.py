"""The demo's parts: what it sends again, what it never sends twice, and its final check."""

from __future__ import annotations

from collections import Counter
from functools import partial

import pytest

from mews_vouchers import MewsClient, VoucherParameters, VoucherType, VoucherUpdate
from mews_vouchers.cli._demo import RESENDS, send_all
from mews_vouchers.cli._demo_plan import HotelState, load_templates, verify
from mews_vouchers.testing import Fault, Hotel, MewsSimulator

pytestmark = pytest.mark.anyio


def _params(hotel: Hotel, count: int) -> list[VoucherParameters]:
    return [
        VoucherParameters(
            service_id=hotel.service_id,
            name=f"V{i}",
            type=VoucherType.PUBLIC,
            external_identifier=f"v-{i}",
        )
        for i in range(count)
    ]


def _operations(sim: MewsSimulator) -> list[str]:
    return [r.operation for r in sim.requests]


async def test_a_refused_add_is_sent_again(
    sim: MewsSimulator, hotel: Hotel, client: MewsClient
) -> None:
    """An add refused (409, not applied) is sent again, and each voucher exists once."""
    sim.inject(Fault.CONFLICT, operation="vouchers/add")
    add = partial(client.vouchers.add, enterprise_id=hotel.enterprise_id)
    sent = await send_all(_params(hotel, 3), add, idempotent=False)
    assert sent.failed == 0 and sent.failures == []
    assert _operations(sim) == ["vouchers/add", "vouchers/add"]
    assert Counter(v["ExternalIdentifier"] for v in sim.vouchers()) == {
        "v-0": 1,
        "v-1": 1,
        "v-2": 1,
    }


async def test_an_add_in_doubt_is_looked_up_never_sent_again(
    sim: MewsSimulator, hotel: Hotel, client: MewsClient
) -> None:
    """An add the SDK could not settle is found by the lookup given, not sent a second time."""
    sim.inject(Fault.SERVER_ERROR_AFTER, operation="vouchers/add")
    # The SDK's own lookups fail until its attempts are spent: the add stays in doubt.
    sim.inject(
        Fault.SERVER_ERROR_BEFORE, times=client.retry.max_attempts, operation="vouchers/getAll"
    )
    params = _params(hotel, 2)

    async def find(items: list[VoucherParameters]) -> list[object]:
        found = await client.vouchers.find_by_external_identifiers(
            [str(p.external_identifier) for p in items], service_ids=[hotel.service_id]
        )
        return [found.get((p.service_id, str(p.external_identifier))) for p in items]

    add = partial(client.vouchers.add, enterprise_id=hotel.enterprise_id)
    sent = await send_all(params, add, idempotent=False, lookup=find)
    assert _operations(sim).count("vouchers/add") == 1
    assert sent.found == 2 and sent.failed == 0
    assert len(sim.vouchers()) == 2


async def test_an_add_in_doubt_without_lookup_is_reported(
    sim: MewsSimulator, hotel: Hotel, client: MewsClient
) -> None:
    """Without a lookup, an add left in doubt is reported as ambiguous and not sent again."""
    sim.inject(Fault.SERVER_ERROR_AFTER, operation="vouchers/add")
    sim.inject(
        Fault.SERVER_ERROR_BEFORE, times=client.retry.max_attempts, operation="vouchers/getAll"
    )
    add = partial(client.vouchers.add, enterprise_id=hotel.enterprise_id)
    sent = await send_all(_params(hotel, 2), add, idempotent=False)
    assert _operations(sim).count("vouchers/add") == 1
    assert sent.failed == 2
    [line] = sent.describe(1, "adding vouchers")
    assert line.startswith("hotel 1: adding vouchers: 2 items failed (ambiguous:")


async def test_an_update_in_doubt_is_sent_again(
    sim: MewsSimulator, hotel: Hotel, client: MewsClient
) -> None:
    """An update is idempotent: one whose outcome stayed unknown is simply sent again."""
    [voucher] = await client.vouchers.add(_params(hotel, 1), enterprise_id=hotel.enterprise_id)
    sim.inject(
        Fault.SERVER_ERROR_AFTER, times=client.retry.max_attempts, operation="vouchers/update"
    )
    update = partial(client.vouchers.update, enterprise_id=hotel.enterprise_id)
    sent = await send_all([VoucherUpdate(voucher_id=voucher.id, name="N")], update, idempotent=True)
    assert sent.failed == 0
    assert _operations(sim).count("vouchers/update") == client.retry.max_attempts + 1


async def test_resends_are_bounded(sim: MewsSimulator, hotel: Hotel, client: MewsClient) -> None:
    """An item refused every time is sent RESENDS more times, then reported as not applied."""
    sim.inject(Fault.CONFLICT, times=RESENDS + 1, operation="vouchers/add")
    add = partial(client.vouchers.add, enterprise_id=hotel.enterprise_id)
    sent = await send_all(_params(hotel, 1), add, idempotent=False)
    assert _operations(sim) == ["vouchers/add"] * (RESENDS + 1)
    assert sent.results == [None]
    [line] = sent.describe(2, "adding vouchers")
    assert line.startswith("hotel 2: adding vouchers: 1 items failed: HTTP 409")


async def test_the_final_check_finds_a_state_that_differs(
    sim: MewsSimulator, client: MewsClient
) -> None:
    """The demo's check passes on its desired state and names a change made behind its back."""
    state = HotelState.plan(1, sim.add_hotel("Hotel 1"), load_templates(), 120)
    eid, service_id = state.hotel.enterprise_id, state.hotel.service_id
    desired = state.desired()
    await client.vouchers.sync(desired, enterprise_id=eid)
    assert verify(sim, [state]) == []
    identifier = str(desired[0].params.external_identifier)
    found = await client.vouchers.find_by_external_identifiers(
        [identifier], service_ids=[service_id]
    )
    renamed = VoucherUpdate(voucher_id=found[(service_id, identifier)].id, name="Changed")
    await client.vouchers.update([renamed], enterprise_id=eid)
    await client.vouchers.add([desired[1].params], enterprise_id=eid)  # a second voucher
    problems = verify(sim, [state])
    assert "hotel 1: 1 external identifiers exist more than once" in problems[0]
    assert "hotel 1: 1 vouchers' names differ" in problems
