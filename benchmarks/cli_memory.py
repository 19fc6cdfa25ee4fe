"""Peak memory of ``mews-vouchers add|update|delete --dry-run`` against the input file's size.

    .venv/bin/python -m benchmarks.cli_memory                 # 60 MB files (about a minute)
    .venv/bin/python -m benchmarks.cli_memory --mb 5 --only add-jsonl

For each input kind it generates a file of about ``--mb`` megabytes and a tiny one of the
same kind, runs the dry run on each in a fresh process, and reads that process's peak
resident set size (``VmHWM``).  The figure is the growth of the peak from the tiny
file to the large one, as a ratio of the large file's size: a reader that holds the whole
file (its text, its parsed records, its models) shows several times 1.0; a streaming
reader stays near 0.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

MB = 1024 * 1024
SERVICE = str(uuid.UUID(int=1))
# The child runs the command line and reports its own peak RSS (KiB) last on stderr:
# VmHWM where there is /proc, since a child's ru_maxrss starts at its parent's size.
CHILD = (
    "import resource, sys\n"
    "from mews_vouchers.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "try:\n"
    "    with open('/proc/self/status') as status:\n"
    "        peak = int(next(x for x in status if x.startswith('VmHWM:')).split()[1])\n"
    "except OSError:\n"
    "    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
    "print(f'peak_rss_kib={peak}', file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def _add_jsonl(n: int) -> str:
    row = {"ServiceId": SERVICE, "Name": f"Gift card {n}", "Type": "Public"}
    return json.dumps({**row, "ExternalIdentifier": f"gift-{n:09d}"}) + "\n"


def _add_csv(n: int) -> str:
    return f"{SERVICE},Gift card {n},Public,gift-{n:09d}\n"


def _update_jsonl(n: int) -> str:
    return json.dumps({"VoucherId": str(uuid.UUID(int=n + 1, version=4)), "Name": f"R {n}"}) + "\n"


def _delete_csv(n: int) -> str:
    return f"{uuid.UUID(int=n + 1, version=4)}\n"


KINDS: dict[str, tuple[str, str, str | None, Callable[[int], str]]] = {
    # name: (command, extension, CSV header, line maker)
    "add-jsonl": ("add", "jsonl", None, _add_jsonl),
    "add-csv": ("add", "csv", "ServiceId,Name,Type,ExternalIdentifier\n", _add_csv),
    "update-jsonl": ("update", "jsonl", None, _update_jsonl),
    "delete-csv": ("delete", "csv", "VoucherId\n", _delete_csv),
}


def generate(path: Path, header: str | None, line: Callable[[int], str], size: int) -> int:
    """Write lines until the file holds at least *size* bytes; return its line count."""
    n = 0
    written = 0
    with path.open("w", encoding="utf-8") as f:
        if header:
            written += f.write(header)
        while written < size:
            block = "".join(line(i) for i in range(n, n + 10_000))
            written += f.write(block)
            n += 10_000
    return n


def peak_rss(command: str, path: Path) -> int:
    """Run ``command PATH --dry-run`` in a fresh process; return its peak RSS in bytes."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, command, str(path), "--dry-run"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{command} {path} --dry-run failed:\n{done.stderr}")
    last = done.stderr.strip().splitlines()[-1]
    return int(last.removeprefix("peak_rss_kib=")) * 1024


def main(argv: Sequence[str] | None = None) -> int:
    """Measure each kind and print one table row per kind."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=60.0, help="size of the large file")
    parser.add_argument("--only", choices=sorted(KINDS), action="append")
    args = parser.parse_args(argv)
    print(f"{'input':<14}{'lines':>10}{'file MB':>9}{'tiny peak':>11}{'peak MB':>9}{'ratio':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only or KINDS:
            command, ext, header, line = KINDS[name]
            tiny = Path(tmp, f"tiny.{ext}")
            large = Path(tmp, f"large.{ext}")
            generate(tiny, header, line, 1)
            lines = generate(large, header, line, int(args.mb * MB))
            size = large.stat().st_size
            base, peak = peak_rss(command, tiny), peak_rss(command, large)
            print(
                f"{name:<14}{lines:>10,}{size / MB:>9.1f}{base / MB:>11.1f}{peak / MB:>9.1f}"
                f"{(peak - base) / size:>7.2f}"
            )
            large.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
