"""Converter micro-benchmarks (pytest-benchmark), each grouped with its baseline.

Run: ``.venv/bin/pytest benchmarks/bench_converter.py`` (not part of the test suite: the
suite's ``testpaths`` is ``tests/``).  Compare within a group: the ``baseline`` entries
do the least work that yields the same output (see ``_workloads``).
"""

from __future__ import annotations

import orjson
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from benchmarks import _workloads as w


@pytest.mark.benchmark(group="structure page of 1000 vouchers")
def test_structure_page(benchmark: BenchmarkFixture) -> None:
    """The SDK structures a decoded getAll page into a VouchersResult."""
    result = benchmark(w.sdk_decode_page, w.page_bytes())
    assert len(result.vouchers) == w.ITEMS


@pytest.mark.benchmark(group="structure page of 1000 vouchers")
def test_baseline_loads_page(benchmark: BenchmarkFixture) -> None:
    """Baseline: orjson decodes the same page."""
    result = benchmark(w.floor_loads_page, w.page_bytes())
    assert len(result["Vouchers"]) == w.ITEMS


@pytest.mark.benchmark(group="structure page of 1000 vouchers")
def test_reference_pydantic_page(benchmark: BenchmarkFixture) -> None:
    """Reference: pydantic validates the same decoded page."""
    result = benchmark(w.pydantic_validate_page, w.page_bytes())
    assert len(result.vouchers or ()) == w.ITEMS


@pytest.mark.benchmark(group="unstructure 1000 VoucherParameters")
def test_unstructure_add(benchmark: BenchmarkFixture) -> None:
    """The SDK unstructures and encodes an add request of 1000 parameters."""
    body = benchmark(w.sdk_unstructure_add, w.voucher_parameters())
    assert orjson.loads(body) == orjson.loads(w.hand_unstructure_add(w.voucher_parameters()))


@pytest.mark.benchmark(group="unstructure 1000 VoucherParameters")
def test_baseline_hand_add(benchmark: BenchmarkFixture) -> None:
    """Baseline: the same JSON from hand-built dicts."""
    body = benchmark(w.hand_unstructure_add, w.voucher_parameters())
    assert len(orjson.loads(body)["VoucherParameters"]) == w.ITEMS


@pytest.mark.benchmark(group="unstructure 1000 VoucherUpdate wrappers")
def test_unstructure_updates(benchmark: BenchmarkFixture) -> None:
    """The SDK unstructures and encodes 1000 updates with their {"Value": ...} wrappers."""
    body = benchmark(w.sdk_unstructure_updates, w.voucher_updates())
    assert orjson.loads(body) == orjson.loads(w.hand_unstructure_updates(w.voucher_updates()))


@pytest.mark.benchmark(group="unstructure 1000 VoucherUpdate wrappers")
def test_baseline_hand_updates(benchmark: BenchmarkFixture) -> None:
    """Baseline: the same wrappers built by hand."""
    body = benchmark(w.hand_unstructure_updates, w.voucher_updates())
    assert len(orjson.loads(body)["VoucherUpdates"]) == w.ITEMS
