"""What the API has deprecated, and the warnings that say so where a caller uses it."""

from __future__ import annotations

import warnings
from typing import Final

# Extent flags of vouchers/getAll past their announced shutdown, and what the docs
# point to instead.
DEPRECATED_EXTENTS: Final = {
    "voucher_codes": (
        "Extent.VoucherCodes",
        "client.voucher_codes.get_all(voucher_ids=...) (voucherCodes/getAll)",
    ),
    "companies": ("Extent.Companies", "companies/getAll"),
}


def warn_deprecated_extents(**flags: bool) -> None:
    """Warn DeprecationWarning for each deprecated extent flag set, at the caller's line.

    Called from ``VoucherExtent.__attrs_post_init__``: stack level 4 is this function,
    that method, the attrs ``__init__``, then the code that built the extent.
    """
    for name, value in flags.items():
        if value and name in DEPRECATED_EXTENTS:
            wire, instead = DEPRECATED_EXTENTS[name]
            warnings.warn(
                f"VoucherExtent({name}=True) is deprecated: the API's {wire} is past its"
                f" announced shutdown; use {instead} instead",
                DeprecationWarning,
                stacklevel=4,
            )
