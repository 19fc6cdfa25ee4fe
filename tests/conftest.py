"""Shared fixtures: a simulator on loopback with a small portfolio, and a client for it.

The anyio backend is asyncio, since aiohttp runs on asyncio only. Tests import
``make_client`` and ``FAST_RETRY`` from here; other helpers live in ``tests.support``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from mews_vouchers import MewsClient, RetryPolicy
from mews_vouchers.testing import Hotel, MewsSimulator


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# Retries in tests wait milliseconds, not seconds.
FAST_RETRY = RetryPolicy(initial_backoff=0.001, max_backoff=0.01)


def make_client(sim: MewsSimulator, **overrides: Any) -> MewsClient:
    """A client for *sim* with the portfolio token, no client-side limit and fast retries."""
    options: dict[str, Any] = {
        "client_token": sim.client_token,
        "access_token": sim.access_token,
        "client": "mews-vouchers tests 1.0",
        "base_url": sim.base_url,
        "rate_limit": None,
        "retry": FAST_RETRY,
        "timeout": 10.0,
    }
    options.update(overrides)
    return MewsClient(**options)


@pytest.fixture
async def sim() -> AsyncIterator[MewsSimulator]:
    async with MewsSimulator(seed=1) as simulator:
        yield simulator


@pytest.fixture
def hotel(sim: MewsSimulator) -> Hotel:
    return sim.add_hotel()


@pytest.fixture
async def client(sim: MewsSimulator) -> AsyncIterator[MewsClient]:
    async with make_client(sim) as mews:
        yield mews
