"""The resources of the client, one module each: ``client.vouchers``, ``client.voucher_codes``."""

from __future__ import annotations

from .voucher_codes import VoucherCodes
from .vouchers import Vouchers

__all__ = ["VoucherCodes", "Vouchers"]
