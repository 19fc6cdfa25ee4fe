"""The benchmark suite runs end to end at a tiny size and produces every figure.

Only that it runs and reports is pinned here, never the targets: timings on a shared
machine are too noisy to fail a build on.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from mews_vouchers.testing._redis_server import find_redis_server

ROOT = Path(__file__).resolve().parents[2]

EXPECTED_FIGURES = [
    "5a read 1000-voucher page (bytes to models) / orjson.loads of it",
    "5b read 1000-voucher page (bytes to models) / pydantic",
    "5e structure the decoded page, converter alone / orjson.loads",
    "5c unstructure+encode 1000 VoucherParameters / by hand",
    "5d unstructure+encode 1000 VoucherUpdate / by hand",
    "1a bulk add under a rate limit: time / least",
    "1b bulk add under a rate limit: 429 share",
    "2a getAll fan-out: time / ideal",
    "2b getAll fan-out: sequential loop / SDK (speed-up)",
    "2c getAll fan-out: get_all / plain concurrent client",
    "2d getAll fan-out: iter_all / plain concurrent client",
    "2e getAll fan-out: get_all / plain concurrent client, collector off",
    "3 iter_all client CPU/voucher: SDK / pydantic",
    "3 iter_all client CPU/voucher: SDK / floor",
    "3 get_all client CPU/voucher: SDK / pydantic",
    "3 get_all client CPU/voucher: SDK / floor",
    "3 add client CPU/voucher: SDK / pydantic",
    "3 add client CPU/voucher: SDK / floor",
    "8a portfolio in one process, iter_all: CPU per 1000-voucher request / budget",
    "8b portfolio in one process, add: CPU per 1000-voucher request / budget",
    "8c portfolio in one process, iter_all: CPU per 1000-voucher request / budget, GC tuned",
    "8d portfolio in one process, add: CPU per 1000-voucher request / budget, GC tuned",
    "8e portfolio in one process, floor (aiohttp + orjson) iter_all: CPU per 1000-voucher"
    " request / budget",
    "8f portfolio in one process, floor (aiohttp + orjson) add: CPU per 1000-voucher request"
    " / budget",
    "8g this machine's speed: orjson.loads of a 1000-voucher page / the goal's",
    "4a iter_all memory: peak RSS - RSS after page 1",
    "4b iter_all memory: RSS at N - RSS at N/4",
]
# Figure 6 runs a real redis-server, and is left out where there is none.
FLEET_FIGURES = [
    "6a fleet of 4, one Redis window: accepted/window vs ceiling",
    "6b fleet of 4, one Redis window: 429 share",
    "6c fleet of 4, in-process limiters: accepted/window vs ceiling",
    "6d fleet of 4, in-process limiters: 429 share",
]
SYNC_FIGURES = [
    "7a sync: plan of an unchanged state / iter_all read, CPU",
    "7b sync: second sync of it / iter_all read, wall",
]


def test_quick_run_reports_every_figure(tmp_path: Path) -> None:
    """`python -m benchmarks.run --quick` exits 0, printing and writing a row for every figure."""
    out = tmp_path / "rows.json"
    completed = subprocess.run(
        [
            sys.executable,
            "-W",
            "error::ResourceWarning",
            "-m",
            "benchmarks.run",
            "--quick",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "Traceback" not in completed.stderr
    assert "ResourceWarning" not in completed.stderr
    rows = json.loads(out.read_text())
    expected = EXPECTED_FIGURES + (FLEET_FIGURES if find_redis_server() else []) + SYNC_FIGURES
    assert [row["figure"] for row in rows] == expected
    for row in rows:
        assert math.isfinite(row["measured"]) and math.isfinite(row["baseline"]), row
        assert math.isfinite(row["result"]), row
        assert row["figure"] in completed.stdout
    assert "| figure" in completed.stdout and "| met? |" in completed.stdout
