"""Figure 5: the converter on its own, each operation against its baseline (timeit style).

The same workloads as ``bench_converter.py`` (see ``_workloads``), timed here with
``time.process_time()``: each operation runs *number* times per sample, samples are
interleaved between the operation and its baselines, and the least sample is kept.
These rows carry no target: they say where the converter's time goes, for figure 3.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from . import _workloads as w
from ._common import Row, interleaved_least, ratio


def _per_call(runs: dict[str, Callable[[], object]], number: int, repeat: int) -> dict[str, float]:
    def looped(run: Callable[[], object]) -> Callable[[], None]:
        def loop() -> None:
            for _ in range(number):
                run()

        return loop

    best = interleaved_least(
        {name: looped(run) for name, run in runs.items()}, repeat, clock=time.process_time
    )
    return {name: seconds / number for name, seconds in best.items()}


def run(quick: bool) -> list[Row]:
    """Measure figure 5 and return its rows (milliseconds per 1000 items)."""
    number, repeat = (3, 3) if quick else (20, 7)
    raw, data = w.page_bytes(), w.page_dict()
    params, updates = w.voucher_parameters(), w.voucher_updates()
    page = _per_call(
        {
            "sdk": lambda: w.sdk_decode_page(raw),
            "converter": lambda: w.sdk_structure_page(data),
            "loads": lambda: w.floor_loads_page(raw),
            "pydantic": lambda: w.pydantic_validate_page(raw),
        },
        number,
        repeat,
    )
    add = _per_call(
        {
            "sdk": lambda: w.sdk_unstructure_add(params),
            "hand": lambda: w.hand_unstructure_add(params),
        },
        number,
        repeat,
    )
    update = _per_call(
        {
            "sdk": lambda: w.sdk_unstructure_updates(updates),
            "hand": lambda: w.hand_unstructure_updates(updates),
        },
        number,
        repeat,
    )
    ms = 1e3
    note = f"1000 items; least of {repeat} samples of {number} calls, process_time()"
    return [
        Row(
            figure="5a read 1000-voucher page (bytes to models) / orjson.loads of it",
            measured=page["sdk"] * ms,
            baseline=page["loads"] * ms,
            unit="ms",
            result=ratio(page["sdk"], page["loads"]),
            note=note,
        ),
        Row(
            figure="5b read 1000-voucher page (bytes to models) / pydantic",
            measured=page["sdk"] * ms,
            baseline=page["pydantic"] * ms,
            unit="ms",
            result=ratio(page["sdk"], page["pydantic"]),
            note="pydantic: model_validate_json of the same bytes",
        ),
        Row(
            figure="5e structure the decoded page, converter alone / orjson.loads",
            measured=page["converter"] * ms,
            baseline=page["loads"] * ms,
            unit="ms",
            result=ratio(page["converter"], page["loads"]),
            note="the fast path's fallback, for pages it leaves to the converter",
        ),
        Row(
            figure="5c unstructure+encode 1000 VoucherParameters / by hand",
            measured=add["sdk"] * ms,
            baseline=add["hand"] * ms,
            unit="ms",
            result=ratio(add["sdk"], add["hand"]),
        ),
        Row(
            figure="5d unstructure+encode 1000 VoucherUpdate / by hand",
            measured=update["sdk"] * ms,
            baseline=update["hand"] * ms,
            unit="ms",
            result=ratio(update["sdk"], update["hand"]),
        ),
    ]
