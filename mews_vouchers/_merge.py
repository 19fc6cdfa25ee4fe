"""Merging getAll pages into one result, each entity once (API.md section 2).

``vouchers.get_all`` keeps vouchers by ``id`` (the newer of two copies), codes by
``(voucher_id, value)``, assignments by ``(voucher_id, rate_id)``, rates and companies by
``id``; ``voucher_codes.get_all`` keeps codes by ``id``, since a code deleted and added
again with its value is two codes.
"""

from __future__ import annotations

import uuid
from typing import Any

from ._envelopes import (
    VoucherCodeResult,
)
from ._models import (
    Voucher,
    VoucherCode,
    VouchersResult,
)


def code_key(code: VoucherCode) -> object:
    """Return what names a code within a voucher: its value, else (left out) its id."""
    return (code.voucher_id, code.value) if code.value is not None else code.id


class VoucherMerge:
    """Merges pages into one VouchersResult, each entity once (API.md section 2)."""

    def __init__(self) -> None:
        self.vouchers: dict[uuid.UUID, Voucher] = {}
        self.codes: dict[object, VoucherCode] = {}
        self.assignments: dict[tuple[uuid.UUID, uuid.UUID], Any] = {}
        self.rates: dict[uuid.UUID, Any] = {}
        self.companies: dict[uuid.UUID, Any] = {}

    def add(self, page: VouchersResult) -> None:
        """Take in one page."""
        vouchers = self.vouchers
        for voucher in page.vouchers:
            # One hash per voucher (UUID.__hash__ is Python code); the same voucher can
            # come from two windows if it changed between them: the newer one wins.
            known = vouchers.setdefault(voucher.id, voucher)
            if known is not voucher and voucher.updated_utc > known.updated_utc:
                vouchers[voucher.id] = voucher
        for code in page.voucher_codes:
            self.codes.setdefault(code_key(code), code)
        for assignment in page.voucher_assignments:
            self.assignments.setdefault((assignment.voucher_id, assignment.rate_id), assignment)
        for rate in page.rates:
            self.rates.setdefault(rate.id, rate)
        for company in page.companies:
            self.companies.setdefault(company.id, company)

    def result(self) -> VouchersResult:
        """Return everything taken in, as one result."""
        return VouchersResult(
            vouchers=list(self.vouchers.values()),
            voucher_codes=list(self.codes.values()),
            voucher_assignments=list(self.assignments.values()),
            rates=list(self.rates.values()),
            companies=list(self.companies.values()),
            cursor=None,
        )


class CodeMerge:
    """Merges ``voucherCodes/getAll`` pages into one list, each code once (by id)."""

    def __init__(self) -> None:
        self.codes: dict[object, VoucherCode] = {}

    def add(self, page: VoucherCodeResult) -> None:
        """Take in one page."""
        for code in page.voucher_codes:
            # By id: a code deleted and added again with its value is two codes.
            self.codes.setdefault(code_key(code) if code.id is None else code.id, code)

    def result(self) -> list[VoucherCode]:
        """Return every code taken in."""
        return list(self.codes.values())
