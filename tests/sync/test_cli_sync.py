"""The sync and apply commands, run as subprocesses against a simulator served by the test."""

from __future__ import annotations

import json
import re
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

from mews_vouchers.testing import MewsSimulator

pytestmark = pytest.mark.anyio

WRITES = ("add", "update", "delete")


@attrs.frozen
class Hotel:
    """A simulator with one enterprise and a single-enterprise token."""

    sim: MewsSimulator
    service_id: uuid.UUID
    access_token: str


@attrs.frozen
class Run:
    """The outcome of one command line run."""

    code: int
    out: str
    err: str


@pytest.fixture
async def hotel() -> AsyncIterator[Hotel]:
    async with MewsSimulator(seed=17) as sim:
        enterprise_id = sim.add_enterprise("Hotel S")
        yield Hotel(
            sim=sim,
            service_id=sim.add_service(enterprise_id),
            access_token=sim.add_access_token([enterprise_id]),
        )


async def cli(hotel: Hotel, *args: str | Path) -> Run:
    """Run ``python -m mews_vouchers.cli`` while this event loop keeps serving the simulator."""
    env = {
        "PATH": "/usr/bin:/bin",
        "COLUMNS": "200",
        "MEWS_BASE_URL": hotel.sim.base_url,
        "MEWS_CLIENT_TOKEN": hotel.sim.client_token,
        "MEWS_ACCESS_TOKEN": hotel.access_token,
        "MEWS_CLIENT": "sync cli tests",
    }
    done = await anyio.run_process(
        [sys.executable, "-m", "mews_vouchers.cli", *map(str, args)], env=env, check=False
    )
    run = Run(done.returncode, done.stdout.decode(), done.stderr.decode())
    assert "Traceback" not in run.err, run.err
    return run


def writes(hotel: Hotel) -> list[str]:
    return [r.operation for r in hotel.sim.requests if r.operation.endswith(WRITES)]


def active(hotel: Hotel) -> dict[str, dict[str, Any]]:
    return {v["ExternalIdentifier"]: v for v in hotel.sim.vouchers(include_deleted=False)}


def codes(hotel: Hotel) -> set[str]:
    return {c["Value"] for c in hotel.sim.voucher_codes(include_deleted=False)}


def csv_file(path: Path, hotel: Hotel, rows: list[tuple[str, str, str]]) -> Path:
    lines = ["ServiceId,Name,Type,ExternalIdentifier,Codes"]
    lines += [f"{hotel.service_id},{name},Public,{ext},{values}" for name, ext, values in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def row(table_line: str, out: str) -> list[str]:
    """The cells of the summary table's row named *table_line*."""
    for line in out.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃|]", line) if c.strip()]
        if cells and cells[0] == table_line:
            return cells[1:]
    raise AssertionError(f"no row {table_line!r} in:\n{out}")


async def test_sync_prints_the_plan_and_writes_only_with_apply(
    hotel: Hotel, tmp_path: Path
) -> None:
    """Without --apply nothing is sent; with it the file is applied; a rerun has nothing to do."""
    source = csv_file(
        tmp_path / "desired.csv",
        hotel,
        [(f"Gift {i}", f"shop-{i}", f"A{i};B{i}") for i in range(5)],
    )
    shown = await cli(hotel, "sync", source)
    assert shown.code == 0, shown.err
    assert row("to add", shown.out) == ["5", "10"]
    assert "+ add    shop-0: Name 'Gift 0', Type Public, Codes ['A0', 'B0']" in shown.out
    assert "add --apply to write this plan" in shown.err
    assert writes(hotel) == []

    applied = await cli(hotel, "sync", source, "--apply", "--progress")
    assert applied.code == 0, applied.err
    assert "Added 5, updated 0, deleted 0 vouchers; added 10 and deleted 0 codes" in applied.err
    assert "Syncing" in applied.err  # the progress bar, on stderr
    assert sorted(active(hotel)) == [f"shop-{i}" for i in range(5)]
    assert codes(hotel) == {f"{c}{i}" for i in range(5) for c in "AB"}

    sent = len(writes(hotel))
    again = await cli(hotel, "sync", source, "--apply")
    assert again.code == 0
    assert row("unchanged", again.out) == ["5"]
    assert "Nothing to write: Mews matches the desired state." in again.err
    assert len(writes(hotel)) == sent


async def test_a_saved_plan_shows_its_changes_and_applies_once(
    hotel: Hotel, tmp_path: Path
) -> None:
    """--plan-out saves what is shown field by field; apply writes it; a stale rerun exits 1."""
    first = csv_file(
        tmp_path / "a.csv", hotel, [(f"Gift {i}", f"shop-{i}", f"A{i}") for i in range(4)]
    )
    assert (await cli(hotel, "sync", first, "--apply")).code == 0
    second = tmp_path / "b.jsonl"
    second.write_text(
        "".join(
            json.dumps(
                {
                    "service_id": str(hotel.service_id),
                    "name": "Renamed" if i == 1 else f"Gift {i}",
                    "type": "Public",
                    "external_identifier": f"shop-{i}",
                    **({"Codes": [f"A{i}", "NEW"]} if i == 0 else {}),
                }
            )
            + "\n"
            for i in range(3)
        )
    )
    plan = tmp_path / "plan.jsonl"
    sent = len(writes(hotel))
    planned = await cli(
        hotel, "sync", second, "--delete-missing", "--owned-prefix", "shop-", "--plan-out", plan
    )
    assert planned.code == 0, planned.err
    assert "~ update shop-1: Name: 'Gift 1' -> 'Renamed'" in planned.out
    assert "- delete shop-3 (voucher " in planned.out
    assert re.search(r"\+ code   'NEW' on voucher [0-9a-f-]{36}", planned.out)
    assert json.loads(plan.read_text().splitlines()[0])["FormatVersion"] == 1
    assert len(writes(hotel)) == sent

    applied = await cli(hotel, "apply", plan)
    assert applied.code == 0, applied.err
    assert "Added 0, updated 1, deleted 1 vouchers; added 1 and deleted 0 codes" in applied.err
    assert {ext: v["Name"] for ext, v in active(hotel).items()} == {
        "shop-0": "Gift 0",
        "shop-1": "Renamed",
        "shop-2": "Gift 2",
    }
    stale = await cli(hotel, "apply", plan)
    assert stale.code == 1
    # UpdatedUtc moved, or (within the same second) the name did: stale either way.
    assert "skipped update (stale): " in stale.err
    assert "run sync again" in stale.err


async def test_bad_input_is_reported_at_its_line_and_nothing_is_sent(
    hotel: Hotel, tmp_path: Path
) -> None:
    """file:line: message for each problem, exit 2; bad options and a missing owner too."""
    service = str(hotel.service_id)
    source = tmp_path / "bad.jsonl"
    rows = [
        {"ServiceId": service, "Name": "ok", "Type": "Public", "ExternalIdentifier": "shop-0"},
        {"ServiceId": service, "Name": "no id", "Type": "Public"},
        {"ServiceId": service, "Name": "again", "Type": "Public", "ExternalIdentifier": "shop-0"},
        {"ServiceId": service, "Name": "codes", "Type": "Public", "ExternalIdentifier": "shop-3",
         "Codes": ["X", "X"]},
    ]  # fmt: skip
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    bad = await cli(hotel, "sync", source)
    assert bad.code == 2
    assert f"{source}:2: ExternalIdentifier: required" in bad.err
    assert f"{source}:3: ExternalIdentifier: 'shop-0' repeats line 1 (same service)" in bad.err
    assert f"{source}:4: Codes[1]: 'X' repeats line 4" in bad.err
    assert "nothing was sent" in bad.err

    source.write_text(json.dumps({**rows[0], "Codes": "X"}) + "\n")
    not_a_list = await cli(hotel, "sync", source)
    assert not_a_list.code == 2
    assert f"{source}:1: Codes: expected a list of code values or null" in not_a_list.err

    unowned = await cli(hotel, "sync", source, "--delete-missing")
    assert unowned.code == 2
    assert "--delete-missing needs --owned-prefix" in unowned.err
    assert hotel.sim.requests == []


async def test_max_deletes_refuses_and_failures_exit_1(hotel: Hotel, tmp_path: Path) -> None:
    """An oversized plan is shown and refused (exit 1, nothing written); a refused write too."""
    source = csv_file(tmp_path / "a.csv", hotel, [(f"Gift {i}", f"shop-{i}", "") for i in range(3)])
    assert (await cli(hotel, "sync", source, "--apply")).code == 0
    empty = csv_file(tmp_path / "none.csv", hotel, [])
    sent = len(writes(hotel))
    refused = await cli(
        hotel,
        "sync",
        empty,
        "--service-id",
        str(hotel.service_id),
        "--delete-missing",
        "--owned-prefix",
        "shop-",
        "--max-deletes",
        "2",
        "--apply",
    )
    assert refused.code == 1
    assert row("to delete", refused.out) == ["3", "0"]
    assert "more than max_deletes=2; nothing was written" in refused.err
    assert len(writes(hotel)) == sent

    taken = csv_file(
        tmp_path / "taken.csv",
        hotel,
        [("Gift 0", "shop-0", "SAME"), ("Gift 1", "shop-1", "SAME;OTHER")],
    )
    failed = await cli(hotel, "sync", taken, "--apply")
    assert failed.code == 2  # the same code on two vouchers of one service is bad input
    assert f"{taken}:3: Codes[0]: 'SAME' repeats line 2" in failed.err
    clash = csv_file(tmp_path / "clash.csv", hotel, [("Gift 0", "shop-0", "OTHER")])
    other_service = csv_file(tmp_path / "other.csv", hotel, [("Gift 1", "shop-1", "OTHER")])
    assert (await cli(hotel, "sync", other_service, "--apply")).code == 0
    clashing = await cli(hotel, "sync", clash, "--apply")
    assert clashing.code == 1
    assert "1 item (VoucherCodeParameters) failed (NOT applied)" in clashing.err
