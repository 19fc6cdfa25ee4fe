"""Every Python example in README.md runs, in order, against a live simulator."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import anyio
import pytest

from mews_vouchers.testing import MewsSimulator

pytestmark = pytest.mark.anyio

README = Path(__file__).parents[2] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_opens_with_the_two_commands() -> None:
    """The first block holds the demo command and the test command, which sets up as CI does."""
    first = re.search(r"```sh\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert first is not None
    commands = [line for line in first.group(1).splitlines() if line and not line.startswith("#")]
    setup = "python3 -m venv .venv && .venv/bin/pip install -e '.[dev,cli]'"
    tests = "bash scripts/setup.sh && .venv/bin/pytest"
    assert commands == [f"{setup} && .venv/bin/mews-vouchers demo", tests]
    ci = (README.parent / ".ci" / "run").read_text()
    assert "bash scripts/setup.sh" in ci and "CI=true .venv/bin/pytest" in ci


async def test_every_python_example_runs() -> None:
    """Each ```python block of README.md exits 0 against the simulator."""
    blocks = python_blocks()
    assert len(blocks) >= 6
    async with MewsSimulator(seed=3) as sim:
        hotels = [sim.add_hotel(f"Hotel {n}") for n in range(2)]
        env = {
            **os.environ,
            "MEWS_CLIENT_TOKEN": sim.client_token,
            "MEWS_ACCESS_TOKEN": sim.access_token,
            "MEWS_CLIENT": "readme 1.0",
            "MEWS_BASE_URL": sim.base_url,
            "SERVICE_ID": str(hotels[0].service_id),
            "ENTERPRISE_ID": str(hotels[0].enterprise_id),
            "SERVICE_IDS": ",".join(str(h.service_id) for h in hotels),
            "ENTERPRISE_IDS": ",".join(str(h.enterprise_id) for h in hotels),
        }
        for number, block in enumerate(blocks):
            result = await anyio.run_process([sys.executable, "-c", block], env=env, check=False)
            assert result.returncode == 0, (
                f"README python block {number} failed:\n{block}\n{result.stderr.decode()}"
            )
        assert len(sim.vouchers()) >= 5_500
