"""Soak: a portfolio bulk sync under random faults, audited item by item (marker ``soak``).

The engine is ``tests/support/chaos.py``; ``scripts/soak.py`` runs it at full size (50,000
vouchers) and prints the counts.  Here it runs at CI size, twice: with retries patient
enough to outlast most of the chaos (every add must end exactly once), and with retries
so scarce that many chunks fail (every failure must then be accounted for, and flagged
ambiguous whenever it may have been applied).  They run with the suite (about 30 s);
``-m soak`` runs only them, ``-m "not soak"`` leaves them out.
"""

from __future__ import annotations

import pytest

from mews_vouchers import RetryPolicy
from mews_vouchers.testing import Fault
from mews_vouchers.testing._faults import ON_DEMAND
from tests.support.chaos import SoakConfig, run_soak

pytestmark = [pytest.mark.anyio, pytest.mark.soak]

# Every kind drawn at random by default (409 and 413 are not transient: only on demand).
ALL_FAULTS = {f.value for f in Fault} - {Fault.CONFLICT.value, Fault.TOO_LARGE.value}


async def test_soak_with_patient_retries_loses_and_duplicates_nothing() -> None:
    """4,000 vouchers, 10 hotels, 15% random faults: the state equals what the SDK reported."""
    config = SoakConfig(vouchers=4000, hotels=10, fault_rate=0.15, seed=11)
    report = await run_soak(config)
    print("\n".join(report.lines()))
    assert report.problems == []
    assert report.duplicates == 0
    assert report.lost == 0
    assert report.added + report.add_failed == 4000
    assert report.listed == report.streamed == 4000 - report.add_failed
    assert report.converge_rounds <= 2
    assert set(report.faults) == ALL_FAULTS  # every kind struck
    assert report.resolved_chunks > 0  # ambiguous adds were met and settled
    assert report.rate_limited > 0
    assert report.retries > 0


async def test_soak_with_scarce_retries_accounts_for_every_failure() -> None:
    """Two attempts per request at 20% faults: failures abound, each one honest."""
    config = SoakConfig(
        vouchers=3000,
        hotels=10,
        fault_rate=0.2,
        seed=12,
        chunk_size=20,
        retry=RetryPolicy(max_attempts=2, initial_backoff=0.005, max_backoff=0.02),
        # No 429 with a Retry-After: the simulator's (1 s and more) would hold the whole
        # client that long, which the soak above covers; here two attempts meet every
        # other transient fault, so failures in doubt come reliably, whatever the timing.
        faults=tuple(f for f in Fault if f not in ON_DEMAND and f is not Fault.RATE_LIMIT),
    )
    report = await run_soak(config, converge=False)
    print("\n".join(report.lines()))
    assert report.problems == []
    assert report.duplicates == 0
    assert report.lost == 0
    assert report.added + report.add_failed == 3000
    assert report.add_ambiguous > 0  # some failed adds may have been applied...
    assert report.add_failed > report.add_ambiguous  # ...and some surely were not
    assert report.update_failed + report.delete_failed > 0
