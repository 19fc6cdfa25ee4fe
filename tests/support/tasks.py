"""The SDK's running tasks, for tests that check a call leaves none behind."""

from __future__ import annotations

import asyncio
from typing import Any


def sdk_tasks() -> set[Any]:
    """The SDK's running tasks (the simulator's connection handlers are not ours)."""
    return {
        t
        for t in asyncio.all_tasks()
        if not t.done() and "mews_vouchers/_" in t.get_coro().cr_code.co_filename  # type: ignore[union-attr]
    }
