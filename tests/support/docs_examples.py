"""Every JSON example of the API's documentation pages (copied into tests/data)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).parents[1] / "data"
PAGES = [
    "vouchers.docs.md",
    "voucher-codes.docs.md",
    "vouchers.reference.txt",
    "vouchers-add.reference.txt",
]


def _objects(text: str) -> list[dict[str, Any]]:
    """Return every top-level JSON object that starts on a line of its own."""
    found = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() == "{":
            depth, j = 0, i
            while j < len(lines):
                depth += lines[j].count("{") - lines[j].count("}")
                if depth == 0:
                    break
                j += 1
            found.append(json.loads("\n".join(lines[i : j + 1])))
            i = j + 1
        else:
            i += 1
    return found


def examples() -> list[tuple[str, int, dict[str, Any]]]:
    """Return (page, index, example) for every JSON example of every page."""
    return [
        (page, n, obj)
        for page in PAGES
        for n, obj in enumerate(_objects((DATA / page).read_text()))
    ]


def operation_of(example: dict[str, Any]) -> str:
    """Name the operation a request example belongs to, or 'response'."""
    if "ClientToken" not in example:
        return "response"
    if "VoucherParameters" in example:
        return "vouchers/add"
    if "VoucherUpdates" in example:
        return "vouchers/update"
    if "VoucherCodeParameters" in example:
        return "voucherCodes/add"
    if "Extent" in example:
        return "vouchers/getAll"
    if "Limitation" in example:
        return "voucherCodes/getAll"
    if "VoucherCodeIds" in example:
        return "voucherCodes/delete"
    return "vouchers/delete"
