"""Merging getAll pages into one result, each entity once (API.md section 2)."""

from __future__ import annotations

import uuid
from typing import Any

from ._models import Voucher, VoucherCode, VouchersResult


def _code_key(code: VoucherCode) -> object:
    return (code.voucher_id, code.value) if code.value is not None else code.id


class _VoucherMerge:
    """Merges pages into one VouchersResult, each entity once (API.md section 2)."""

    def __init__(self) -> None:
        self.vouchers: dict[uuid.UUID, Voucher] = {}
        self.codes: dict[object, VoucherCode] = {}
        self.assignments: dict[tuple[uuid.UUID, uuid.UUID], Any] = {}
        self.rates: dict[uuid.UUID, Any] = {}
        self.companies: dict[uuid.UUID, Any] = {}

    def add(self, page: VouchersResult) -> None:
        vouchers = self.vouchers
        for voucher in page.vouchers:
            # One hash per voucher (UUID.__hash__ is Python code); the same voucher can
            # come from two windows if it changed between them: the newer one wins.
            known = vouchers.setdefault(voucher.id, voucher)
            if known is not voucher and voucher.updated_utc > known.updated_utc:
                vouchers[voucher.id] = voucher
        for code in page.voucher_codes:
            self.codes.setdefault(_code_key(code), code)
        for assignment in page.voucher_assignments:
            self.assignments.setdefault((assignment.voucher_id, assignment.rate_id), assignment)
        for rate in page.rates:
            self.rates.setdefault(rate.id, rate)
        for company in page.companies:
            self.companies.setdefault(company.id, company)

    def result(self) -> VouchersResult:
        return VouchersResult(
            vouchers=list(self.vouchers.values()),
            voucher_codes=list(self.codes.values()),
            voucher_assignments=list(self.assignments.values()),
            rates=list(self.rates.values()),
            companies=list(self.companies.values()),
            cursor=None,
        )
