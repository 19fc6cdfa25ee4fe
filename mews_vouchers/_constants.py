"""One source of truth for every limit and default of the Mews voucher API.

The validation, the batcher, the pagination, the simulator and the tests all
read these names; a limit written as a literal anywhere else is a bug.
"""

from __future__ import annotations

import importlib.metadata
from typing import Final


def _installed_version() -> str:
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:  # a source tree never installed
        return "0+unknown"


# The version is pyproject.toml's, read from the installed package's metadata.
DISTRIBUTION: Final = "mews-vouchers"
VERSION: Final = _installed_version()
USER_AGENT: Final = f"{DISTRIBUTION}/{VERSION}"

DEMO_URL: Final = "https://api.mews-demo.com"
PRODUCTION_URL: Final = "https://api.mews.com"
API_PREFIX: Final = "/api/connector/v1"

# Items per write request and ids per filter list (the API's "max 1000 items").
MAX_ITEMS_PER_REQUEST: Final = 1000
# Limitation.Count bounds for getAll.
MIN_PAGE_SIZE: Final = 1
MAX_PAGE_SIZE: Final = 1000

# Text limits count UTF-16 code units, as the API (.NET) does: an emoji counts 2.
MAX_NAME_LENGTH: Final = 128
MAX_EXTERNAL_IDENTIFIER_LENGTH: Final = 255
MAX_ASSIGNED_RATE_IDS: Final = 10
MAX_VOUCHER_CODE_VALUE_LENGTH: Final = 128
# The UpdatedUtc filter of getAll spans at most this many calendar months.
MAX_UPDATED_INTERVAL_MONTHS: Final = 3

# The documented request limit: per AccessToken, sliding window.
RATE_LIMIT_REQUESTS: Final = 200
RATE_LIMIT_PER_SECONDS: Final = 30.0

# Client defaults (API.md section 1).
DEFAULT_MAX_CONCURRENCY: Final = 8
DEFAULT_TIMEOUT: Final = 60.0
DEFAULT_CHUNK_SIZE: Final = MAX_ITEMS_PER_REQUEST
DEFAULT_PAGE_SIZE: Final = MAX_PAGE_SIZE
# Opening a connection (DNS, TCP, TLS) takes at most this long, whatever the timeout.
CONNECT_TIMEOUT: Final = 30.0
# A page of 1000 vouchers with every extent is about 1.5 MB; anything far beyond that is
# not an answer of this API, and reading it whole could exhaust memory.
DEFAULT_MAX_BODY: Final = 64 * 1024 * 1024
# Characters of an error body without a Message shown in the error.
ERROR_SNIPPET_LENGTH: Final = 200
# Characters of a token shown at each end when it is masked (C66E…453D).
MASK_SHOWN: Final = 4
# Characters of a text attribute on a telemetry span.
MAX_ATTRIBUTE_LENGTH: Final = 256

# The environment: MewsClient.from_env() and the command line.
ENV_CLIENT_TOKEN: Final = "MEWS_CLIENT_TOKEN"
ENV_ACCESS_TOKEN: Final = "MEWS_ACCESS_TOKEN"
ENV_CLIENT: Final = "MEWS_CLIENT"
ENV_BASE_URL: Final = "MEWS_BASE_URL"
ENV_REDIS_URL: Final = "MEWS_REDIS_URL"

# The shared rate limit (mews_vouchers.redis): seconds after which the slots of a request
# still in flight are freed (twice the default timeout), and one round trip's timeout.
DEFAULT_LEASE: Final = 120.0
DEFAULT_REDIS_TIMEOUT: Final = 5.0

# Retry defaults (API.md section 4).
DEFAULT_MAX_ATTEMPTS: Final = 5
DEFAULT_INITIAL_BACKOFF: Final = 0.5
DEFAULT_MAX_BACKOFF: Final = 30.0
# A Retry-After above this fails the request at once rather than waiting: a job does
# not sit silent for an hour, nor retry early into another 429.
DEFAULT_MAX_RETRY_AFTER: Final = 60.0
# 429s a single request may meet before giving up (they do not count as attempts).
DEFAULT_MAX_RATE_LIMITED: Final = 20

# Operation names, as they appear in the path after API_PREFIX.
VOUCHERS_GET_ALL: Final = "vouchers/getAll"
VOUCHERS_ADD: Final = "vouchers/add"
VOUCHERS_UPDATE: Final = "vouchers/update"
VOUCHERS_DELETE: Final = "vouchers/delete"
VOUCHER_CODES_GET_ALL: Final = "voucherCodes/getAll"
VOUCHER_CODES_ADD: Final = "voucherCodes/add"
VOUCHER_CODES_DELETE: Final = "voucherCodes/delete"
OPERATIONS: Final = (
    VOUCHERS_GET_ALL,
    VOUCHERS_ADD,
    VOUCHERS_UPDATE,
    VOUCHERS_DELETE,
    VOUCHER_CODES_GET_ALL,
    VOUCHER_CODES_ADD,
    VOUCHER_CODES_DELETE,
)


def text_length(text: str) -> int:
    """Return the length of *text* as the API counts it against its limits: UTF-16 units."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2
