"""Asyncio SDK for the voucher operations of the Mews Connector API.

Start with :class:`MewsClient`; test against :class:`mews_vouchers.testing.MewsSimulator`.
"""

from ._batching import WriteLedger, WriteState
from ._client import MewsClient
from ._config import RateLimit, RetryPolicy
from ._constants import DEMO_URL, PRODUCTION_URL
from ._constants import VERSION as __version__
from ._errors import (
    AuthenticationError,
    BadRequestError,
    BulkOperationError,
    ChunkFailure,
    ConflictError,
    ForbiddenError,
    MewsApiError,
    MewsConfigError,
    MewsConnectionError,
    MewsError,
    MewsTimeoutError,
    MewsValidationError,
    PaginationError,
    PayloadTooLargeError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    SyncError,
)
from ._models import (
    UNSET,
    ActivityState,
    Company,
    Rate,
    TimeInterval,
    Unset,
    Voucher,
    VoucherAssignment,
    VoucherCode,
    VoucherCodeParameters,
    VoucherExtent,
    VoucherParameters,
    VouchersResult,
    VoucherType,
    VoucherUpdate,
)
from ._pagination import ItemStream, PageStream
from ._requester import ClientStats
from ._sync_models import DesiredVoucher, StaleAction, SyncPlan, SyncResult
from ._transport import RawResponse, Transport

__all__ = [
    "DEMO_URL",
    "PRODUCTION_URL",
    "UNSET",
    "ActivityState",
    "AuthenticationError",
    "BadRequestError",
    "BulkOperationError",
    "ChunkFailure",
    "ClientStats",
    "Company",
    "ConflictError",
    "DesiredVoucher",
    "ForbiddenError",
    "ItemStream",
    "MewsApiError",
    "MewsClient",
    "MewsConfigError",
    "MewsConnectionError",
    "MewsError",
    "MewsTimeoutError",
    "MewsValidationError",
    "PageStream",
    "PaginationError",
    "PayloadTooLargeError",
    "Rate",
    "RateLimit",
    "RateLimitError",
    "RawResponse",
    "RequestTimeoutError",
    "RetryPolicy",
    "ServerError",
    "StaleAction",
    "SyncError",
    "SyncPlan",
    "SyncResult",
    "TimeInterval",
    "Transport",
    "Unset",
    "Voucher",
    "VoucherAssignment",
    "VoucherCode",
    "VoucherCodeParameters",
    "VoucherExtent",
    "VoucherParameters",
    "VoucherType",
    "VoucherUpdate",
    "VouchersResult",
    "WriteLedger",
    "WriteState",
    "__version__",
]
