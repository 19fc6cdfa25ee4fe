"""The simulator tests' fixture: a World (two hotels, fake clocks, a raw HTTP session)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.raw_http import World, world_of


@pytest.fixture
async def w() -> AsyncIterator[World]:
    async with world_of() as world:
        yield world
