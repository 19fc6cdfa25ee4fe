"""Shared fixtures: a simulator on loopback with a small portfolio, and a client for it.

The anyio backend is asyncio, since aiohttp runs on asyncio only.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest

from mews_vouchers import MewsClient, RetryPolicy
from mews_vouchers.testing import MewsSimulator


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@attrs.frozen
class Hotel:
    """One seeded enterprise with its service, rates and company."""

    enterprise_id: uuid.UUID
    service_id: uuid.UUID
    rate_ids: tuple[uuid.UUID, uuid.UUID]
    company_id: uuid.UUID


def seed_hotel(sim: MewsSimulator, name: str = "Hotel") -> Hotel:
    """Add an enterprise with a service, two rates and a company."""
    enterprise = sim.add_enterprise(name=name)
    service = sim.add_service(enterprise)
    return Hotel(
        enterprise_id=enterprise,
        service_id=service,
        rate_ids=(sim.add_rate(service), sim.add_rate(service, name="Flexible")),
        company_id=sim.add_company(enterprise),
    )


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
    return seed_hotel(sim)


@pytest.fixture
async def client(sim: MewsSimulator) -> AsyncIterator[MewsClient]:
    async with make_client(sim) as mews:
        yield mews
