"""Shared fixtures: the anyio backend is asyncio, since aiohttp runs on asyncio only."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
