"""Crash safety: a sync killed with SIGKILL at random moments of its apply, then run again.

The simulator runs here, in the test process, and outlives the children; each child is
a real process (the project's python running ``sync_child.py``) that talks to it over
HTTP.  The simulator's latency keeps each apply busy for many requests, so the kills
land in the middle of it.
"""

from __future__ import annotations

import os
import random
import signal
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import Process

from mews_vouchers import VoucherCodeParameters, VoucherParameters, VoucherType
from mews_vouchers.testing import Hotel, MewsSimulator
from tests.conftest import make_client
from tests.support import sync_child
from tests.support.sync_child import DESIRED, OWNED, desired_state

pytestmark = pytest.mark.anyio

CHILD = Path(sync_child.__file__)
WRITES = {
    "vouchers/add",
    "vouchers/update",
    "vouchers/delete",
    "voucherCodes/add",
    "voucherCodes/delete",
}


def params(hotel: Hotel, name: str, ext: str | None) -> VoucherParameters:
    return VoucherParameters(
        service_id=hotel.service_id, name=name, type=VoucherType.PUBLIC, external_identifier=ext
    )


async def seed_before(sim: MewsSimulator, hotel: Hotel) -> None:
    """What Mews holds before the job: some of ours (old), ours to delete, and others' vouchers."""
    async with make_client(sim) as client:
        eid = hotel.enterprise_id
        ours = await client.vouchers.add(
            [params(hotel, f"Gift {i}", f"{OWNED}{i}") for i in range(30)]
            + [params(hotel, f"Gone {i}", f"{OWNED}{100 + i}") for i in range(20)],
            enterprise_id=eid,
        )
        await client.voucher_codes.add(
            [
                VoucherCodeParameters(voucher_id=v.id, value=f"{OWNED}{i}-A")
                for i, v in enumerate(ours[:30])
            ]
            + [
                VoucherCodeParameters(voucher_id=v.id, value=f"OLD-{i}")
                for i, v in enumerate(ours[:10])
            ],
            enterprise_id=eid,
        )
        await client.vouchers.add(
            [params(hotel, f"CRM {i}", f"crm-{i}") for i in range(5)]
            + [params(hotel, f"Manual {i}", None) for i in range(5)]
            + [params(hotel, "Twin 0", f"{OWNED}twin")],
            enterprise_id=eid,
        )
        # The twin in an add of its own: one add refuses an identifier given twice.
        await client.vouchers.add([params(hotel, "Twin 1", f"{OWNED}twin")], enterprise_id=eid)


def writes_since(sim: MewsSimulator, start: int) -> int:
    return sum(r.operation in WRITES for r in sim.requests[start:])


async def settle(sim: MewsSimulator) -> None:
    """Wait until requests the dead child left on the wire have landed."""
    while True:
        seen = len(sim.requests)
        await anyio.sleep(0.15)
        if len(sim.requests) == seen:
            return


async def run_child(env: dict[str, str], sim: MewsSimulator, kill_after: int | None) -> int | None:
    """Run one child; SIGKILL it once *kill_after* writes were answered (None: let it finish)."""
    start = len(sim.requests)
    # The child's output goes where the test's does, so a failing run shows why.
    process: Process = await anyio.open_process(
        [sys.executable, str(CHILD)], env=env, stdout=None, stderr=None
    )
    async with process:
        if kill_after is None:
            await process.wait()
            return process.returncode
        # The simulator signals nothing, so its log is polled.
        while process.returncode is None and writes_since(sim, start) < kill_after:  # noqa: ASYNC110
            await anyio.sleep(0.005)
        if process.returncode is not None:
            return process.returncode
        process.send_signal(signal.SIGKILL)
        await process.wait()
    return None


def snapshot(sim: MewsSimulator, predicate: Any) -> list[dict[str, Any]]:
    return [v for v in sim.vouchers() if predicate(v)]


def foreign(voucher: dict[str, Any]) -> bool:
    ext = voucher["ExternalIdentifier"]
    return ext is None or not ext.startswith(OWNED) or ext == f"{OWNED}twin"


async def test_a_sync_killed_mid_apply_converges_on_the_next_run() -> None:
    """SIGKILLed four times mid-apply, a final run converges: all once, nothing else touched."""
    rng = random.Random(2024)
    async with MewsSimulator(seed=21, latency=0.01) as sim:
        hotel = sim.add_hotel()
        await seed_before(sim, hotel)
        untouched = snapshot(sim, foreign)
        env = {
            **os.environ,
            "MEWS_CLIENT_TOKEN": sim.client_token,
            "MEWS_ACCESS_TOKEN": sim.access_token,
            "MEWS_CLIENT": "crash test 1.0",
            "MEWS_BASE_URL": sim.base_url,
            "SERVICE_ID": str(hotel.service_id),
            "ENTERPRISE_ID": str(hotel.enterprise_id),
        }
        killed = 0
        for _ in range(4):
            outcome = await run_child(env, sim, kill_after=rng.randint(2, 10))
            killed += outcome is None
            await settle(sim)
        assert killed == 4  # each child died mid-apply, none finished on its own
        final_start = len(sim.requests)
        assert await run_child(env, sim, kill_after=None) == 0
        assert writes_since(sim, final_start) > 0  # the kills left work for the last run

    wanted = desired_state(hotel.service_id)
    active = [v for v in sim.vouchers() if v["IsActive"]]
    by_ext: dict[str, list[dict[str, Any]]] = {}
    for v in active:
        by_ext.setdefault(v["ExternalIdentifier"] or "", []).append(v)
    codes: dict[str, list[str]] = {}
    for code in sim.voucher_codes():
        if code["IsActive"]:
            codes.setdefault(code["VoucherId"], []).append(code["Value"])
    for d in wanted:
        (voucher,) = by_ext[str(d.params.external_identifier)]
        assert voucher["Name"] == d.params.name
        assert sorted(codes.get(voucher["Id"], [])) == sorted(d.codes or ())
    ours = {v["ExternalIdentifier"] for v in active if not foreign(v)}
    assert ours == {f"{OWNED}{i}" for i in range(DESIRED)}
    assert snapshot(sim, foreign) == untouched
    assert len(active) == DESIRED + len([v for v in untouched if v["IsActive"]])
