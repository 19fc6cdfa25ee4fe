"""Figure 4: memory of ``iter_all`` over a million vouchers stays bounded by a few pages.

The simulator (in its own process) holds N vouchers in one enterprise; the client streams
them with ``iter_all`` (page 1000) and drops each voucher.  A background thread samples
this process's resident set size (psutil) every few milliseconds.  Reported:

- the peak RSS over the whole stream, against the RSS once the first page has arrived
  (aiohttp, the event loop, the converter's hooks and the first page are all in by
  then): the growth must stay under 50 MB;
- the RSS after N vouchers against the RSS after N/4: a stream that keeps anything per
  voucher grows between the two (100 bytes kept per voucher would show as +75 MB at a
  million); the target allows 5 MB for the allocator's own drift.

The client runs in a fresh process of its own, so that memory the other figures took
and freed (which the allocator keeps and reuses) cannot hide any growth.  The run takes
a while (seeding a million vouchers, then a thousand pages), so ``--skip memory`` leaves
it out and ``--memory-vouchers`` sizes it.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import threading
from collections.abc import Sequence

import anyio
import attrs
import psutil  # type: ignore[import-untyped]

from mews_vouchers import MewsClient

from ._common import CLIENT_NAME, ROOT, Row, Served, ServerProcess, Target, child_env

MB = 1024 * 1024
FULL_VOUCHERS = 1_000_000
QUICK_VOUCHERS = 5_000
PAGE = 1000


class RssSampler:
    """Samples this process's RSS on a thread until stopped; keeps the peak."""

    def __init__(self, interval: float = 0.002) -> None:
        self._process = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self.peak = self.now()

    def now(self) -> int:
        """Return the RSS now, in bytes."""
        return int(self._process.memory_info().rss)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, self.now())

    def start(self) -> None:
        """Start sampling; the peak counts from now."""
        self.peak = self.now()
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling and wait for the thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.peak = max(self.peak, self.now())


@attrs.frozen(kw_only=True)
class MemoryRun:
    """RSS readings (bytes) of one stream."""

    first_page: int
    quarter: int
    end: int
    peak_after_first: int
    count: int


async def _stream(served: Served, total: int) -> MemoryRun:
    hotel = served.hotels[0]
    client = MewsClient(
        client_token=served.client_token,
        access_token=served.access_token,
        client=CLIENT_NAME,
        base_url=served.base_url,
        rate_limit=None,
        page_size=PAGE,
    )
    count = 0
    first = quarter = 0
    async with client:
        stream = client.vouchers.iter_all(
            service_ids=[hotel.service_id], enterprise_ids=[hotel.enterprise_id]
        )
        async with stream as vouchers:
            sampler = RssSampler()
            try:
                async for _ in vouchers:
                    count += 1
                    if count == 1:
                        # The peak counts from here: what came before is the baseline.
                        first = sampler.now()
                        sampler.start()
                    elif count == total // 4:
                        quarter = sampler.now()
                end = sampler.now()
            finally:
                sampler.stop()
    return MemoryRun(
        first_page=first, quarter=quarter, end=end, peak_after_first=sampler.peak, count=count
    )


def measure(total: int) -> MemoryRun:
    """Stream *total* vouchers from a freshly seeded simulator; return the RSS readings."""
    with ServerProcess(enterprises=1, vouchers=total, per_second=100) as served:
        gc.collect()
        result = anyio.run(_stream, served, total, backend="asyncio")
    if result.count != total:
        raise AssertionError(f"iter_all yielded {result.count} vouchers, expected {total}")
    return result


def run(quick: bool, vouchers: int | None = None) -> list[Row]:
    """Measure figure 4 in a fresh process (the other figures' memory stays out of it)."""
    total = vouchers or (QUICK_VOUCHERS if quick else FULL_VOUCHERS)
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.fig_memory", "--vouchers", str(total)],
        cwd=ROOT,
        env=child_env(),
        check=True,
        capture_output=True,
        text=True,
    )
    result = MemoryRun(**json.loads(completed.stdout))
    return [
        Row(
            figure="4a iter_all memory: peak RSS - RSS after page 1",
            measured=result.peak_after_first / MB,
            baseline=result.first_page / MB,
            unit="MB",
            result=(result.peak_after_first - result.first_page) / MB,
            result_unit="MB",
            target=Target(op="<=", value=50.0),
            note=f"{total:,} vouchers streamed, page {PAGE}, RSS sampled every 2 ms",
        ),
        Row(
            figure="4b iter_all memory: RSS at N - RSS at N/4",
            measured=result.end / MB,
            baseline=result.quarter / MB,
            unit="MB",
            result=(result.end - result.quarter) / MB,
            result_unit="MB",
            target=Target(op="<=", value=5.0),
        ),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Measure in this process and print the readings as JSON (used by :func:`run`)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fig_memory")
    parser.add_argument("--vouchers", type=int, default=FULL_VOUCHERS)
    args = parser.parse_args(argv)
    print(json.dumps(attrs.asdict(measure(args.vouchers))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
