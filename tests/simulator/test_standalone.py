"""The standalone simulator: its parser, serve(), and `python -m mews_vouchers.testing`."""

from __future__ import annotations

import asyncio
import functools
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import anyio
import pytest

from mews_vouchers._config import RateLimit
from mews_vouchers._constants import API_PREFIX, VOUCHERS_GET_ALL
from mews_vouchers.testing._standalone import build_parser, main, serve

pytestmark = pytest.mark.anyio


class Notepad(io.StringIO):
    """A text buffer that tells when something was written to it."""

    def __init__(self) -> None:
        super().__init__()
        self.written = asyncio.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        self.written.set()
        return written


def test_parser_reads_every_option() -> None:
    """The standalone command line parses port, seeding, limit, latency, faults and seed."""
    args = build_parser().parse_args(
        [
            "--port",
            "8080",
            "--enterprises",
            "3",
            "--rate-limit",
            "200/30",
            "--latency",
            "0.1",
            "--fault-rate",
            "0.2",
            "--seed",
            "5",
        ]
    )
    assert (args.port, args.enterprises, args.latency, args.fault_rate, args.seed) == (
        8080,
        3,
        0.1,
        0.2,
        5,
    )
    assert args.rate_limit == RateLimit(200, 30.0)
    defaults = build_parser().parse_args([])
    assert (defaults.port, defaults.enterprises, defaults.rate_limit) == (0, 2, None)


@pytest.mark.parametrize(
    "argv",
    [
        ["--rate-limit", "200"],
        ["--rate-limit", "0/30"],
        ["--fault-rate", "2"],
        ["--latency", "-1"],
        ["--enterprises", "x"],
    ],
)
def test_main_refuses_bad_arguments(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Bad arguments end with the usual argparse exit status 2."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "usage:" in capsys.readouterr().err


async def test_serve_seeds_and_prints_how_to_connect() -> None:
    """serve() seeds the enterprises, prints URL, tokens and ids, and serves until stopped."""
    out, stop = Notepad(), asyncio.Event()
    async with anyio.create_task_group() as group:
        group.start_soon(functools.partial(serve, enterprises=1, out=out, stop=stop))
        with anyio.fail_after(5):
            await out.written.wait()
        text = out.getvalue()
        base_url = text.split()[4]
        client_token = text.split("ClientToken:")[1].split()[0]
        access_token = text.split("AccessToken:")[1].split()[0]
        service_id = text.split("ServiceId:")[1].split()[0]
        body = {
            "ClientToken": client_token,
            "AccessToken": access_token,
            "Client": "t",
            "ServiceIds": [service_id],
            "Extent": {"Vouchers": True},
            "Limitation": {"Count": 1},
        }
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{base_url}{API_PREFIX}/{VOUCHERS_GET_ALL}", json=body) as r,
        ):
            assert r.status == 200
        stop.set()
    assert text.count("Enterprise ") == 1 and "RateIds:" in text


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_module_runs_until_interrupted() -> None:
    """`python -m mews_vouchers.testing` prints its address and exits 0 on Ctrl-C."""
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    with subprocess.Popen(
        [sys.executable, "-m", "mews_vouchers.testing", "--port", "0", "--enterprises", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as process:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        assert first_line.startswith("Mews voucher simulator at http://127.0.0.1:")
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=10)
        assert process.returncode == 0, errors


def test_module_runs_without_rich() -> None:
    """`python -m mews_vouchers.testing` runs without the [cli] extra, so without rich."""
    hide_rich = (
        "import runpy, sys\n"
        "sys.modules['rich'] = None  # import rich now fails, as without the extra\n"
        "sys.argv = ['mews_vouchers.testing', '--rate-limit', '20/2', '--help']\n"
        "runpy.run_module('mews_vouchers.testing', run_name='__main__')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", hide_rich], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "--rate-limit REQUESTS/SECONDS" in done.stdout
