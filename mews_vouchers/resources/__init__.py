"""The resources of the client, one module each: ``client.vouchers``, ``client.voucher_codes``."""

from __future__ import annotations

from .vouchers import VoucherCodes, Vouchers

__all__ = ["VoucherCodes", "Vouchers"]
