"""The command line, run as a subprocess against a simulator served by the test itself."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import attrs
import pytest

from mews_vouchers._constants import MAX_NAME_LENGTH, VOUCHERS_ADD, VOUCHERS_GET_ALL
from mews_vouchers.cli._io import VOUCHER_COLUMNS
from mews_vouchers.testing import Fault, MewsSimulator

pytestmark = pytest.mark.anyio

T = TypeVar("T")


@attrs.frozen
class Hotel:
    """A simulator with one seeded enterprise and a single-enterprise token."""

    sim: MewsSimulator
    enterprise_id: uuid.UUID
    service_id: uuid.UUID
    rate_ids: tuple[uuid.UUID, uuid.UUID]
    company_id: uuid.UUID
    access_token: str


@attrs.frozen
class Run:
    """The outcome of one command line run."""

    code: int
    out: str
    err: str


def _seed(sim: MewsSimulator) -> Hotel:
    enterprise_id = sim.add_enterprise("Hotel A")
    service_id = sim.add_service(enterprise_id)
    return Hotel(
        sim=sim,
        enterprise_id=enterprise_id,
        service_id=service_id,
        rate_ids=(sim.add_rate(service_id, "Best"), sim.add_rate(service_id, "Flex")),
        company_id=sim.add_company(enterprise_id, "Acme"),
        access_token=sim.add_access_token([enterprise_id]),
    )


@pytest.fixture
async def hotel() -> AsyncIterator[Hotel]:
    async with MewsSimulator(seed=7) as sim:
        yield _seed(sim)


def _environment(hotel: Hotel | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEWS_")}
    # Wide enough that rich does not abbreviate table cells.
    env["COLUMNS"] = "250"
    if hotel is not None:
        env.update(
            MEWS_BASE_URL=hotel.sim.base_url,
            MEWS_CLIENT_TOKEN=hotel.sim.client_token,
            MEWS_ACCESS_TOKEN=hotel.access_token,
            MEWS_CLIENT="mews-vouchers tests",
        )
    env.update(extra)
    return env


async def cli(
    hotel: Hotel | None,
    *args: str | Path,
    cwd: Path | None = None,
    stdin: bytes | None = None,
    **env: str,
) -> Run:
    """Run ``python -m mews_vouchers.cli`` while this event loop keeps serving the simulator."""
    done = await anyio.run_process(
        [sys.executable, "-m", "mews_vouchers.cli", *map(str, args)],
        input=stdin,
        env=_environment(hotel, **env),
        cwd=cwd,
        check=False,
    )
    return Run(done.returncode, done.stdout.decode(), done.stderr.decode())


async def _both(first: Awaitable[T], second: Awaitable[T]) -> tuple[T, T]:
    """Run two independent command lines at once (each start costs most of a second)."""
    runs: dict[int, T] = {}

    async def run(n: int, call: Awaitable[T]) -> None:
        runs[n] = await call

    async with anyio.create_task_group() as tg:
        tg.start_soon(run, 0, first)
        tg.start_soon(run, 1, second)
    return runs[0], runs[1]


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _params(
    hotel: Hotel, count: int, prefix: str = "V", external: bool = True
) -> list[dict[str, Any]]:
    return [
        {
            "ServiceId": str(hotel.service_id),
            "Name": f"{prefix}{i}",
            "Type": "Public",
            **({"ExternalIdentifier": f"{prefix.lower()}-{i}"} if external else {}),
        }
        for i in range(count)
    ]


def _active(hotel: Hotel) -> list[dict[str, Any]]:
    return hotel.sim.vouchers(include_deleted=False)


def _no_traceback(run: Run) -> None:
    assert "Traceback" not in run.err, run.err


# --- add -----------------------------------------------------------------------------------


async def test_add_jsonl_adds_every_voucher_and_writes_them(hotel: Hotel, tmp_path: Path) -> None:
    """`add FILE.jsonl -o` adds each line once and writes the created vouchers in order."""
    source = _jsonl(tmp_path / "in.jsonl", _params(hotel, 5))
    created = tmp_path / "created.jsonl"
    run = await cli(hotel, "add", source, "-o", created)
    assert run.code == 0, run.err
    assert sorted(v["Name"] for v in _active(hotel)) == [f"V{i}" for i in range(5)]
    written = [json.loads(line) for line in created.read_text().splitlines()]
    assert [v["Name"] for v in written] == [f"V{i}" for i in range(5)]
    assert {v["Id"] for v in written} == {v["Id"] for v in _active(hotel)}
    assert "Added 5 vouchers" in run.err


async def test_add_csv_takes_snake_case_columns_and_rate_lists(
    hotel: Hotel, tmp_path: Path
) -> None:
    """CSV input accepts snake_case headers, any-case types and `;`-separated AssignedRateIds."""
    rates = ";".join(map(str, hotel.rate_ids))
    source = _csv(
        tmp_path / "in.csv",
        ["service_id", "name", "type", "company_id", "assigned_rate_ids", "ExternalIdentifier"],
        [
            [str(hotel.service_id), "Plain", "public", "", "", "p"],
            [str(hotel.service_id), "Partner", "PartnerCompany", str(hotel.company_id), rates, ""],
        ],
    )
    run = await cli(hotel, "add", source)
    assert run.code == 0, run.err
    by_name = {v["Name"]: v for v in _active(hotel)}
    assert by_name["Plain"]["ExternalIdentifier"] == "p"
    assert by_name["Partner"]["CompanyId"] == str(hotel.company_id)
    partner_rates = {a["RateId"] for a in hotel.sim.assignments()}
    assert partner_rates == set(map(str, hotel.rate_ids))


async def test_portfolio_token_writes_to_the_enterprise_given(hotel: Hotel, tmp_path: Path) -> None:
    """With a portfolio token, `--enterprise-id` names the enterprise a write goes to."""
    source = _jsonl(tmp_path / "in.jsonl", _params(hotel, 2))
    run = await cli(
        hotel,
        "add",
        source,
        "--enterprise-id",
        str(hotel.enterprise_id),
        MEWS_ACCESS_TOKEN=hotel.sim.access_token,
    )
    assert run.code == 0, run.err
    adds = [r for r in hotel.sim.requests if r.operation == VOUCHERS_ADD]
    assert [r.enterprise_id for r in adds] == [str(hotel.enterprise_id)]
    assert len(_active(hotel)) == 2


# --- list ----------------------------------------------------------------------------------


async def test_list_streams_jsonl_in_wire_form_page_by_page(hotel: Hotel) -> None:
    """`list` writes one PascalCase wire object per voucher, following every page."""
    hotel.sim.seed_vouchers(hotel.service_id, 25, external_identifier_prefix="s")
    run = await cli(hotel, "list", "--service-id", str(hotel.service_id), "--page-size", "10")
    assert run.code == 0, run.err
    rows = [json.loads(line) for line in run.out.splitlines()]
    assert len(rows) == 25
    assert {row["Id"] for row in rows} == {v["Id"] for v in _active(hotel)}
    assert {"Id", "ServiceId", "Name", "CreatedUtc", "Type", "IsActive"} <= set(rows[0])
    # Each line is the API's own wire object (ids, Z datetimes), nulls left out.
    served = {v["Id"]: {k: x for k, x in v.items() if x is not None} for v in _active(hotel)}
    assert {row["Id"]: row for row in rows} == served
    assert [r.items for r in hotel.sim.requests if r.operation == VOUCHERS_GET_ALL] == [10] * 3


async def test_list_writes_csv_with_pascal_case_header(hotel: Hotel, tmp_path: Path) -> None:
    """`list -o FILE.csv` writes a header of the API's names and a row per voucher."""
    hotel.sim.seed_vouchers(hotel.service_id, 12, external_identifier_prefix="s")
    out = tmp_path / "all.csv"
    run = await cli(hotel, "list", "--service-id", str(hotel.service_id), "-o", out)
    assert run.code == 0, run.err
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(VOUCHER_COLUMNS)
    assert sorted(r["ExternalIdentifier"] for r in rows) == sorted(f"s{i}" for i in range(12))
    assert {r["IsActive"] for r in rows} == {"true"}
    served = {v["Id"]: v for v in _active(hotel)}
    assert all(r["CreatedUtc"] == served[r["Id"]]["CreatedUtc"] for r in rows)  # Z, whole seconds


async def test_list_filters_by_activity_state_and_prints_a_table(hotel: Hotel) -> None:
    """`--activity-state Deleted --format table` shows only deleted vouchers, in a table."""
    ids = hotel.sim.seed_vouchers(hotel.service_id, 3, name_prefix="Kept")
    deleted = await cli(hotel, "delete", "--id", str(ids[0]))
    assert deleted.code == 0, deleted.err
    run = await cli(
        hotel,
        "list",
        "--service-id",
        str(hotel.service_id),
        "--activity-state",
        "Deleted",
        "--format",
        "table",
    )
    assert run.code == 0, run.err
    assert "ExternalIdentifier" in run.out
    assert str(ids[0]) in run.out
    assert str(ids[1]) not in run.out


# --- update and delete ---------------------------------------------------------------------


async def test_update_jsonl_takes_plain_and_wire_values(hotel: Hotel, tmp_path: Path) -> None:
    """Update JSONL sets plain values and `{"Value": ...}`, clears `{"Value": null}`, skips null."""
    ids = hotel.sim.seed_vouchers(hotel.service_id, 3, external_identifier_prefix="x")
    source = _jsonl(
        tmp_path / "up.jsonl",
        [
            {"VoucherId": str(ids[0]), "Name": "Plain"},
            {"VoucherId": str(ids[1]), "Name": {"Value": "Wire"}, "ExternalIdentifier": None},
            {"voucher_id": str(ids[2]), "external_identifier": {"Value": None}},
        ],
    )
    run = await cli(hotel, "update", source)
    assert run.code == 0, run.err
    by_id = {v["Id"]: v for v in _active(hotel)}
    assert by_id[str(ids[0])]["Name"] == "Plain"
    assert by_id[str(ids[1])]["Name"] == "Wire"
    assert by_id[str(ids[1])]["ExternalIdentifier"] == "x1"
    assert by_id[str(ids[2])]["Name"] == "Seed2"
    assert by_id[str(ids[2])]["ExternalIdentifier"] is None


async def test_update_csv_leaves_empty_cells_and_clears_null(hotel: Hotel, tmp_path: Path) -> None:
    """In update CSV an empty cell is not updated and a cell holding `null` clears the field."""
    ids = hotel.sim.seed_vouchers(hotel.service_id, 2, external_identifier_prefix="x")
    source = _csv(
        tmp_path / "up.csv",
        ["VoucherId", "Name", "ExternalIdentifier"],
        [[str(ids[0]), "Renamed", ""], [str(ids[1]), "", "null"]],
    )
    run = await cli(hotel, "update", source, "-o", tmp_path / "updated.csv")
    assert run.code == 0, run.err
    by_id = {v["Id"]: v for v in _active(hotel)}
    assert (by_id[str(ids[0])]["Name"], by_id[str(ids[0])]["ExternalIdentifier"]) == (
        "Renamed",
        "x0",
    )
    assert (by_id[str(ids[1])]["Name"], by_id[str(ids[1])]["ExternalIdentifier"]) == (
        "Seed1",
        None,
    )
    assert len((tmp_path / "updated.csv").read_text().splitlines()) == 3


async def test_delete_takes_list_output_or_ids(hotel: Hotel, tmp_path: Path) -> None:
    """`delete` takes a file (the output of `list` will do) or `--id`, and deletes those only."""
    ids = hotel.sim.seed_vouchers(hotel.service_id, 5)
    listed = tmp_path / "some.csv"
    run = await cli(
        hotel,
        "list",
        "--service-id",
        str(hotel.service_id),
        "--voucher-id",
        str(ids[0]),
        "--voucher-id",
        str(ids[1]),
        "-o",
        listed,
    )
    assert run.code == 0, run.err
    by_file = await cli(hotel, "delete", listed)
    by_ids = await cli(hotel, "delete", "--id", str(ids[2]))
    assert (by_file.code, by_ids.code) == (0, 0), by_file.err + by_ids.err
    assert {v["Id"] for v in _active(hotel)} == {str(ids[3]), str(ids[4])}


# --- round trips ---------------------------------------------------------------------------

ODD_NAMES = ("Line\u2028separator", "Next\u0085line", "Para\u2029graph", "Form\x0cfeed")


async def test_list_output_with_line_separators_in_names_feeds_delete(
    hotel: Hotel, tmp_path: Path
) -> None:
    """JSONL splits at \\n only: names holding U+2028, U+0085... survive add, list and delete."""
    rows = [{**row, "Name": name} for row, name in zip(_params(hotel, 4), ODD_NAMES, strict=True)]
    # Unescaped, as list writes them: the separators stand in the file as they are.
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    added = await cli(hotel, "add", source)
    assert added.code == 0, added.err
    assert sorted(v["Name"] for v in _active(hotel)) == sorted(ODD_NAMES)
    listed = tmp_path / "listed.jsonl"
    run = await cli(hotel, "list", "--service-id", str(hotel.service_id), "-o", listed)
    assert run.code == 0, run.err
    assert "\u2028" in listed.read_text("utf-8")
    deleted = await cli(hotel, "delete", listed)
    assert deleted.code == 0, deleted.err
    assert _active(hotel) == []


async def test_a_csv_with_a_byte_order_mark_reads_the_same_from_stdin_as_from_a_file(
    hotel: Hotel, tmp_path: Path
) -> None:
    """A spreadsheet's CSV (UTF-8 with BOM) works from a file and from `-`, both ways round."""
    bom = "\ufeff".encode()

    def csv_bytes(prefix: str, end: str = "\r\n") -> bytes:
        rows = "".join(f"{hotel.service_id},{prefix}{i},Public{end}" for i in range(3))
        return bom + (f"ServiceId,Name,Type{end}" + rows).encode()

    (tmp_path / "file.csv").write_bytes(csv_bytes("F"))
    (tmp_path / "mac.csv").write_bytes(csv_bytes("M", "\r"))  # an old Mac's line ends
    from_file, from_stdin = await _both(
        cli(hotel, "add", tmp_path / "file.csv"),
        cli(hotel, "add", "-", "--input-format", "csv", stdin=csv_bytes("S")),
    )
    from_mac = await cli(hotel, "add", tmp_path / "mac.csv")
    assert (from_file.code, from_stdin.code, from_mac.code) == (0, 0, 0), (
        from_file.err + from_stdin.err + from_mac.err
    )
    assert sorted(v["Name"] for v in _active(hotel)) == [
        *("F0", "F1", "F2", "M0", "M1", "M2", "S0", "S1", "S2")
    ]
    listed = tmp_path / "listed.csv"
    run = await cli(hotel, "list", "--service-id", str(hotel.service_id), "-o", listed)
    assert run.code == 0, run.err
    deleted = await cli(
        hotel, "delete", "-", "--input-format", "csv", stdin=bom + listed.read_bytes()
    )
    assert deleted.code == 0, deleted.err
    assert _active(hotel) == []


# --- dry run and bad input -----------------------------------------------------------------


async def test_dry_run_validates_and_plans_without_sending(hotel: Hotel, tmp_path: Path) -> None:
    """`--dry-run` prints the chunk plan of each write and sends no request at all."""
    adds = _jsonl(tmp_path / "in.jsonl", _params(hotel, 2500))
    ids = _csv(tmp_path / "ids.csv", ["Id"], [[str(uuid.uuid4())] for _ in range(3)])
    add, delete = await _both(
        cli(hotel, "add", adds, "--dry-run"),
        cli(hotel, "delete", ids, "--dry-run", "--chunk-size", "2"),
    )
    assert (add.code, delete.code) == (0, 0), add.err + delete.err
    assert "Would send 3 requests to vouchers/add (2 of 1,000 items, 1 of 500 items)" in add.out
    assert "Would send 2 requests to vouchers/delete (1 of 2 items, 1 of 1 item)" in delete.out
    assert hotel.sim.requests == []


def _bad_jsonl(hotel: Hotel, path: Path) -> tuple[Path, dict[int, str]]:
    good = {"ServiceId": str(hotel.service_id), "Name": "ok", "Type": "Public"}
    lines = [
        json.dumps(good),
        '{"ServiceId": "' + str(hotel.service_id) + '", "Name": ',
        json.dumps({**good, "ServiceId": "not-a-uuid"}),
        "",
        json.dumps({**good, "Name": "n" * (MAX_NAME_LENGTH + 1)}),
        json.dumps({**good, "Colour": "red"}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, {2: "malformed JSON", 3: "not a valid UUID", 5: "Name", 6: "unknown column"}


def _bad_csv(hotel: Hotel, path: Path) -> tuple[Path, dict[int, str]]:
    header = ["ServiceId", "Name", "Type", "OccupiableIntervalStartUtc"]
    rows = [
        [str(hotel.service_id), "ok", "Public", ""],
        ["123", "ok", "Public", ""],
        [str(hotel.service_id), "n" * (MAX_NAME_LENGTH + 1), "Public", ""],
        [str(hotel.service_id), "ok", "Public", "2026-01-01T00:00:00"],
    ]
    return _csv(path, header, rows), {
        3: "not a valid UUID",
        4: "Name",
        5: "give it a timezone (Z or +hh:mm)",
    }


@pytest.mark.parametrize("make", [_bad_jsonl, _bad_csv], ids=["jsonl", "csv"])
async def test_bad_input_is_reported_by_line_and_nothing_is_sent(
    hotel: Hotel, tmp_path: Path, make: Any
) -> None:
    """Every bad line is reported with its line number, the exit status is 2, no request goes."""
    source, expected = make(hotel, tmp_path / ("bad.jsonl" if make is _bad_jsonl else "bad.csv"))
    run = await cli(hotel, "add", source)
    assert run.code == 2
    _no_traceback(run)
    for line, text in expected.items():
        assert any(
            msg.startswith(f"{source}:{line}:") and text in msg for msg in run.err.splitlines()
        ), (line, text, run.err)
    assert run.err.splitlines()[-1].startswith("mews-vouchers: error: ")
    assert "nothing was sent" in run.err
    assert hotel.sim.requests == []


async def test_problems_are_capped_and_repeated_ids_named_with_their_first_line(
    hotel: Hotel, tmp_path: Path
) -> None:
    """The first 50 problems are listed, then a count; a repeated VoucherId names its first line."""
    bad = _jsonl(tmp_path / "bad.jsonl", [{"Name": "no service"}] * 120)
    ids = [str(uuid.uuid4()) for _ in range(3)]
    repeated = _jsonl(
        tmp_path / "up.jsonl",
        [{"VoucherId": i, "Name": "x"} for i in [ids[0], ids[1], ids[0], ids[2], ids[0]]],
    )
    add, update = await _both(cli(hotel, "add", bad), cli(hotel, "update", repeated))
    assert (add.code, update.code) == (2, 2)
    lines = add.err.splitlines()
    assert len([x for x in lines if x.startswith(f"{bad}:")]) == 51
    assert f"{bad}: ... and 190 more problems" in lines  # two per line: ServiceId and Type
    assert lines[-1] == f"mews-vouchers: error: 240 problems in {bad}; nothing was sent"
    assert update.err.splitlines()[:2] == [
        f"{repeated}:3: VoucherId: repeats the VoucherId of line 1",
        f"{repeated}:5: VoucherId: repeats the VoucherId of line 1",
    ]
    assert hotel.sim.requests == []


async def test_a_repeated_external_identifier_is_refused_by_a_dry_run_too(
    hotel: Hotel, tmp_path: Path
) -> None:
    """add, dry run or not, names the line whose ExternalIdentifier repeats one of its service."""
    service = str(hotel.service_id)
    rows = [
        {"ServiceId": service, "Name": n, "Type": "Public", "ExternalIdentifier": ext}
        for n, ext in [("A", "x-1"), ("B", "x-2"), ("C", "x-1")]
    ]
    source = _jsonl(tmp_path / "dup.jsonl", rows)
    dry, real = await _both(cli(hotel, "add", source, "--dry-run"), cli(hotel, "add", source))
    for run in (dry, real):
        assert run.code == 2
        assert f"{source}:3: ExternalIdentifier: repeats the ExternalIdentifier of line 1" in (
            run.err.splitlines()
        )
    assert hotel.sim.requests == []


async def test_unknown_csv_column_is_reported_at_the_header(hotel: Hotel, tmp_path: Path) -> None:
    """A CSV column that names no field is reported at line 1, before any row is read."""
    source = _csv(tmp_path / "bad.csv", ["ServiceId", "Name", "Typ"], [["x", "y", "z"]])
    run = await cli(hotel, "add", source)
    assert run.code == 2
    assert f"{source}:1: unknown column 'Typ'" in run.err
    assert hotel.sim.requests == []


# The command line, reporting its own peak resident set size (KiB) on stderr.  VmHWM, not
# ru_maxrss: a child's ru_maxrss starts at its parent's size when it forked (this test
# process, far larger than a dry run), which would hide any growth.
_MEASURED = (
    "import sys\n"
    "from mews_vouchers.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "with open('/proc/self/status') as status:\n"
    "    print(next(x for x in status if x.startswith('VmHWM:')), file=sys.stderr)\n"
    "sys.exit(code)\n"
)


async def _peak_rss(path: Path) -> int:
    """Run `add PATH --dry-run` in a fresh process; return its peak RSS in bytes."""
    done = await anyio.run_process(
        [sys.executable, "-c", _MEASURED, "add", str(path), "--dry-run"],
        env=_environment(None),
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    return int(done.stderr.decode().split()[-2]) * 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM (Linux)")
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
async def test_a_dry_run_streams_its_input(hotel: Hotel, tmp_path: Path, fmt: str) -> None:
    """A dry run's peak memory does not grow with its input (it held 7x the file before)."""
    header = "ServiceId,Name,Type,ExternalIdentifier\n"
    row = {"ServiceId": str(hotel.service_id), "Name": "Gift card", "Type": "Public"}

    def line(n: int) -> str:
        if fmt == "csv":
            return f"{hotel.service_id},Gift card {n},Public,gift-{n:09d}\n"
        return json.dumps({**row, "ExternalIdentifier": f"gift-{n:09d}"}) + "\n"

    small, large = tmp_path / f"small.{fmt}", tmp_path / f"large.{fmt}"
    start = header if fmt == "csv" else ""
    small.write_text(start + line(0))
    large.write_text(start + "".join(line(n) for n in range(50_000)))
    size = large.stat().st_size
    assert size > 3_500_000
    base, peak = await _both(_peak_rss(small), _peak_rss(large))
    # What may grow: the repeat check's 20 bytes a line (a 16-byte key of the service and
    # external identifier, a 4-byte line number), with its buffers' slack: 40 bytes a line
    # allowed, a fifth of the text here; never the text, its dicts or its models (they
    # made 7 times the file before).
    assert peak - base < 40 * 50_000 + 0.05 * size, (base, peak, size)


# --- failures ------------------------------------------------------------------------------


@pytest.mark.parametrize("ext", ["jsonl", "csv"])
async def test_failures_file_retries_exactly_the_failed_items(
    hotel: Hotel, tmp_path: Path, ext: str
) -> None:
    """A failed chunk goes to `<input>.failed.<ext>`; rerunning on it adds exactly those items."""
    rows = _params(hotel, 6, external=False)
    if ext == "jsonl":
        source = _jsonl(tmp_path / "in.jsonl", rows)
    else:
        source = _csv(tmp_path / "in.csv", list(rows[0]), [list(r.values()) for r in rows])
    # A 500 on add is of unknown outcome: without external identifiers it is never re-sent.
    hotel.sim.inject(Fault.SERVER_ERROR_BEFORE, times=1, operation=VOUCHERS_ADD)
    first = await cli(hotel, "add", source, "--chunk-size", "2", "--max-concurrency", "1")
    assert first.code == 1
    _no_traceback(first)
    assert "mews-vouchers: vouchers/add: 2 items at lines" in first.err
    assert "AMBIGUOUS" in first.err
    failed_file = tmp_path / f"in.failed.{ext}"
    assert failed_file.exists()
    assert len(_active(hotel)) == 4

    second = await cli(hotel, "add", failed_file)
    assert second.code == 0, second.err
    names = Counter(v["Name"] for v in _active(hotel))
    assert names == Counter(f"V{i}" for i in range(6))


async def test_rejected_chunk_is_reported_not_applied_with_its_lines(
    hotel: Hotel, tmp_path: Path
) -> None:
    """A chunk the server refuses (unknown service) fails as not applied; the others go through."""
    rows = _params(hotel, 4)
    rows[3]["ServiceId"] = str(uuid.uuid4())
    source = _jsonl(tmp_path / "in.jsonl", rows)
    failures = tmp_path / "retry.jsonl"
    run = await cli(hotel, "add", source, "--chunk-size", "2", "--failures", failures)
    assert run.code == 1
    assert "2 items at lines 3-4 failed (NOT applied)" in run.err
    assert [json.loads(line)["Name"] for line in failures.read_text().splitlines()] == ["V2", "V3"]
    assert sorted(v["Name"] for v in _active(hotel)) == ["V0", "V1"]


async def test_ambiguous_add_with_external_identifiers_ends_exactly_once(
    hotel: Hotel, tmp_path: Path
) -> None:
    """An add applied but answered 500 is settled by external identifier: no duplicate, exit 0."""
    source = _jsonl(tmp_path / "in.jsonl", _params(hotel, 4))
    hotel.sim.inject(Fault.SERVER_ERROR_AFTER, times=1, operation=VOUCHERS_ADD)
    run = await cli(hotel, "add", source, "--chunk-size", "2")
    assert run.code == 0, run.err
    assert Counter(v["ExternalIdentifier"] for v in hotel.sim.vouchers()) == Counter(
        f"v-{i}" for i in range(4)
    )


async def test_skip_existing_makes_a_rerun_safe(hotel: Hotel, tmp_path: Path) -> None:
    """`add --skip-existing` skips the items whose external identifier already exists."""
    source = _jsonl(tmp_path / "in.jsonl", _params(hotel, 3))
    assert (await cli(hotel, "add", source)).code == 0
    run = await cli(hotel, "add", source, "--skip-existing", "-o", tmp_path / "out.jsonl")
    assert run.code == 0, run.err
    assert "skipped 3 that already existed" in run.err
    assert len(hotel.sim.vouchers()) == 3
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 3


# --- configuration and errors --------------------------------------------------------------


async def test_missing_configuration_is_one_line_and_exit_2(hotel: Hotel) -> None:
    """Without an access token the command says which variable to set, in one line, exit 2."""
    run = await cli(hotel, "list", "--service-id", str(hotel.service_id), MEWS_ACCESS_TOKEN="")
    assert run.code == 2
    assert run.err.strip().splitlines() == [
        "mews-vouchers: error: missing configuration: set MEWS_ACCESS_TOKEN (or --access-token)"
    ]
    assert hotel.sim.requests == []


async def test_api_error_is_one_line_exit_1_and_shows_no_token(hotel: Hotel) -> None:
    """A refused token gives one error line and exit 1; no token appears whole in any output."""
    wrong = "0123456789ABCDEF-WRONG-TOKEN-0123456789"
    run = await cli(
        hotel, "list", "--service-id", str(hotel.service_id), "--access-token", wrong, "-v"
    )
    assert run.code == 1
    assert run.err.strip().splitlines()[-1].startswith("mews-vouchers: error: HTTP 401")
    _no_traceback(run)
    for token in (wrong, hotel.sim.client_token):
        assert token not in run.err + run.out


async def test_flags_win_over_the_environment(hotel: Hotel) -> None:
    """`--base-url` and the token flags override the environment variables."""
    run = await cli(
        hotel,
        "list",
        "--service-id",
        str(hotel.service_id),
        "--base-url",
        hotel.sim.base_url,
        "--access-token",
        hotel.access_token,
        MEWS_BASE_URL="http://127.0.0.1:9",
        MEWS_ACCESS_TOKEN="nonsense",
    )
    assert run.code == 0, run.err


async def test_usage_errors_exit_2(hotel: Hotel) -> None:
    """Bad arguments (delete with neither FILE nor --id, a malformed id) exit with status 2."""
    neither, malformed = await _both(
        cli(hotel, "delete"), cli(hotel, "list", "--service-id", "nope")
    )
    assert (neither.code, malformed.code) == (2, 2)
    assert "either FILE or --id" in neither.err
    assert hotel.sim.requests == []


# --- demo and simulator --------------------------------------------------------------------


def _rows(text: str) -> dict[str, list[str]]:
    """Return the rows of the tables printed, by their first cell."""
    rows = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if cells:
            rows[cells[0]] = cells[1:]
    return rows


async def test_demo_small_runs_every_step_and_a_second_sync_is_empty() -> None:
    """`demo --vouchers 200 --hotels 2` runs every step, syncs, re-syncs nothing, exit 0."""
    run = await cli(None, "demo", "--vouchers", "200", "--hotels", "2")
    assert run.code == 0, run.err
    rows = _rows(run.out)
    for step in ("Add vouchers", "Add voucher codes", "List all (getAll)", "Rename (update)"):
        assert rows[step][1] == "0", step  # none failed
    assert rows["Delete"][1] == rows["Sync (plan, apply)"][1] == "0"
    # Per hotel of 100: a rename and a rate set (updates), a code replaced, one left out
    # (deleted) and one new voucher with its code; 190 active before, 184 untouched.
    assert rows["first sync"] == ["2", "4", "2", "4", "2", "184"]
    assert rows["second sync"] == ["0", "0", "0", "0", "0", "190"]
    assert rows["Sync again"][:2] == ["0", "0"]  # items written, failed
    assert "every voucher exists exactly once" in run.out
    assert "the second sync had nothing to write" in run.out


async def test_demo_with_faults_still_ends_exactly_once() -> None:
    """With random faults the demo retries and settles ambiguous writes: each voucher once."""
    run = await cli(
        None,
        "demo",
        "--vouchers",
        "400",
        "--hotels",
        "2",
        "--chunk-size",
        "25",
        "--faults",
        "0.15",
        "--seed",
        "4",
    )
    _no_traceback(run)
    assert "more than once" not in run.err
    assert run.code == 0, run.err
    assert "every voucher exists exactly once" in run.out
    # The faults were met: retried, or settled by looking the writes up.
    total = next(line for line in run.out.splitlines() if "Total" in line)
    retries = int(total.split("│")[6].strip())
    assert retries > 0 or "settled by looking them up" in run.out, run.out


async def test_simulator_command_serves_until_stopped() -> None:
    """`simulator --port 0` prints where it listens and serves until terminated."""
    async with await anyio.open_process(
        [sys.executable, "-m", "mews_vouchers.cli", "simulator", "--enterprises", "1"],
        env=_environment(None),
    ) as process:
        assert process.stdout is not None
        first = b""
        with anyio.fail_after(10):
            while b"\n" not in first:
                first += await process.stdout.receive()
        process.terminate()
    assert first.decode().startswith("Mews voucher simulator at http://127.0.0.1:")


# --- output files --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["-o", "missing/out.jsonl"], "-o missing/out.jsonl: cannot write: no such directory"),
        (["--failures", "missing/f.jsonl"], "--failures missing/f.jsonl: cannot write: no such"),
        (["-o", "."], "-o .: cannot write: it is a directory"),
        (["-o", "in.jsonl"], "-o in.jsonl is also the input"),
        (["-o", "x.jsonl", "--failures", "x.jsonl"], "--failures x.jsonl is also -o"),
        (["-o", "missing/out.jsonl", "--dry-run"], "cannot write: no such directory"),
    ],
    ids=["output-dir", "failures-dir", "output-is-dir", "output-is-input", "same", "dry-run"],
)
async def test_an_output_that_cannot_be_written_stops_the_run_before_any_request(
    hotel: Hotel, tmp_path: Path, options: list[str], expected: str
) -> None:
    """Every output path is checked first: exit 2, nothing sent, the input left as it was."""
    source = _jsonl(tmp_path / "in.jsonl", _params(hotel, 3))
    before = source.read_bytes()
    run = await cli(hotel, "add", "in.jsonl", *options, cwd=tmp_path)
    assert run.code == 2
    (line,) = run.err.strip().splitlines()
    assert line.startswith("mews-vouchers: error: ") and expected in line, run.err
    assert hotel.sim.requests == []
    assert source.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["in.jsonl"]


async def test_the_default_failures_file_is_checked_too(hotel: Hotel, tmp_path: Path) -> None:
    """`<input>.failed.<ext>` is checked like any output: unusable, the run stops, exit 2."""
    source = _jsonl(tmp_path / "in.jsonl", _params(hotel, 1))
    (tmp_path / "in.failed.jsonl").mkdir()
    run = await cli(hotel, "add", source)
    assert run.code == 2
    assert run.err.strip().splitlines() == [
        f"mews-vouchers: error: the failures file {tmp_path / 'in.failed.jsonl'}: "
        "cannot write: it is a directory"
    ]
    assert hotel.sim.requests == []


async def test_an_existing_output_is_replaced_only_once_complete(
    hotel: Hotel, tmp_path: Path
) -> None:
    """A run that fails before it has anything to write leaves an existing -o file as it was."""
    out = tmp_path / "out.jsonl"
    out.write_text("precious\n")
    bad = _jsonl(tmp_path / "bad.jsonl", [{"Name": "no service"}])
    listed = tmp_path / "listed.csv"
    listed.write_text("precious\n")
    add, listing = await _both(
        cli(hotel, "add", bad, "-o", out),
        cli(hotel, "list", "--service-id", str(hotel.service_id), "-o", listed,
            MEWS_ACCESS_TOKEN="refused"),
    )  # fmt: skip
    assert (add.code, listing.code) == (2, 1), add.err + listing.err
    assert out.read_text() == listed.read_text() == "precious\n"
    assert sorted(os.listdir(tmp_path)) == ["bad.jsonl", "listed.csv", "out.jsonl"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (a full disk)")
@pytest.mark.parametrize("full", ["-o", "--failures"])
async def test_an_output_lost_after_sending_costs_neither_the_other_nor_the_report(
    hotel: Hotel, tmp_path: Path, full: str
) -> None:
    """A disk full after the writes: exit 3; the other file and the failed lines still come out."""
    rows = _params(hotel, 4)
    rows[3]["ServiceId"] = str(uuid.uuid4())  # refused: lines 3-4 fail, not applied
    source = _jsonl(tmp_path / "in.jsonl", rows)
    out, failures = tmp_path / "out.jsonl", tmp_path / "failed.jsonl"
    paths = {"-o": out, "--failures": failures, full: Path("/dev/full")}
    run = await cli(
        hotel, "add", source, "--chunk-size", "2", "-o", paths["-o"], "--failures",
        paths["--failures"],
    )  # fmt: skip
    assert run.code == 3, run.err
    _no_traceback(run)
    assert "2 items at lines 3-4 failed (NOT applied)" in run.err
    assert "/dev/full: cannot write: No space left on device" in run.err
    assert sorted(v["Name"] for v in _active(hotel)) == ["V0", "V1"]
    if full == "-o":
        assert "error: could not save -o: " in run.err
        assert "the 2 vouchers added are not in it" in run.err
        assert [json.loads(x)["Name"] for x in failures.read_text().splitlines()] == ["V2", "V3"]
    else:
        assert "error: could not save the failures file: " in run.err
        assert "the items not added are at the lines listed above" in run.err
        assert [json.loads(x)["Name"] for x in out.read_text().splitlines()] == ["V0", "V1"]


# --- Ctrl-C --------------------------------------------------------------------------------

_IN_FLIGHT = re.compile(
    r"(\d+) items? at lines? (\d+)(?:-(\d+))? were being sent when the run stopped \(AMBIGUOUS"
)


async def _interrupted(hotel: Hotel, *args: str | Path, cwd: Path) -> Run:
    """Run the CLI with -v, and send it SIGINT once two of its write requests were answered."""
    async with await anyio.open_process(
        [sys.executable, "-m", "mews_vouchers.cli", *map(str, args), "-v"],
        env=_environment(hotel),
        cwd=cwd,
    ) as process:
        assert process.stderr is not None
        err = b""
        with anyio.fail_after(20):
            # The DEBUG log says when a request was answered.
            while len(re.findall(rb"vouchers/(add|update|delete) .*status=200", err)) < 2:
                err += await process.stderr.receive()
            process.send_signal(signal.SIGINT)
            async for chunk in process.stderr:
                err += chunk
            code = await process.wait()
    # Requests that reached the simulator finish there (latency 0.1 s); then it is final.
    await anyio.sleep(0.5)
    lines = [line for line in err.decode().splitlines() if " DEBUG " not in line]
    return Run(code, "", "\n".join(lines))


def _ambiguous_lines(err: str) -> set[int]:
    spans = [m.groups() for m in _IN_FLIGHT.finditer(err)]
    return {n for _, low, high in spans for n in range(int(low), int(high or low) + 1)}


@pytest.mark.parametrize("command", ["add", "update", "delete"])
async def test_ctrl_c_writes_every_item_not_known_to_be_stored_and_exits_130(
    tmp_path: Path, command: str
) -> None:
    """SIGINT mid-run: each item not stored is in the failures file, in-flight ones AMBIGUOUS."""
    async with MewsSimulator(seed=5, latency=0.1) as sim:
        hotel = _seed(sim)
        if command == "add":
            rows = _params(hotel, 120)
            keys = [row["ExternalIdentifier"] for row in rows]
        else:
            ids = sim.seed_vouchers(hotel.service_id, 120)
            keys = [str(i) for i in ids]
            rows = [
                {"VoucherId": key, "Name": "Renamed"} if command == "update" else {"Id": key}
                for key in keys
            ]
        source = _jsonl(tmp_path / "in.jsonl", rows)
        written = source.read_text().splitlines()
        run = await _interrupted(
            hotel, command, source, "--chunk-size", "10", "--max-concurrency", "2", cwd=tmp_path
        )
        assert run.code == 130, run.err
        _no_traceback(run)
        assert run.err.splitlines()[-1] == "mews-vouchers: error: interrupted"
        assert "were never sent" in run.err
        failed = (tmp_path / "in.failed.jsonl").read_text().splitlines()
        assert set(failed) <= set(written)  # exactly as read
        in_doubt = _ambiguous_lines(run.err)
        active = _active(hotel)
        if command == "add":
            stored = Counter(v["ExternalIdentifier"] for v in active)
            assert max(stored.values()) == 1
        elif command == "update":
            stored = Counter(v["Id"] for v in active if v["Name"] == "Renamed")
        else:
            stored = Counter(keys) - Counter(v["Id"] for v in active)  # deleted
        assert 20 <= len(stored) < 120
        for line, (text, key) in enumerate(zip(written, keys, strict=True), start=1):
            if key not in stored:
                assert text in failed, line  # not stored: never lost
            elif text in failed:
                assert line in in_doubt, line  # stored and retried: only if reported in doubt

        # The line it prints to finish the job does exactly what is left.
        advice = run.err.split("to retry them: mews-vouchers ")[1].splitlines()[0]
        rerun = await cli(hotel, *advice.split())
        assert rerun.code == 0, rerun.err
        if command == "add":
            assert Counter(v["ExternalIdentifier"] for v in _active(hotel)) == Counter(keys)
        elif command == "update":
            assert {v["Name"] for v in _active(hotel)} == {"Renamed"}
        else:
            assert _active(hotel) == []
