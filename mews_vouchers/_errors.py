"""The exceptions of mews-vouchers.

Every failure of a public call surfaces as one subclass of :class:`MewsError`;
the aiohttp, JSON or cattrs exception underneath, if any, is its ``__cause__``::

    MewsError
    ├── MewsConfigError            bad client configuration
    ├── MewsValidationError        bad input, found before any request (.errors)
    ├── MewsConnectionError        network failure (.ambiguous)
    │   └── MewsTimeoutError       no answer in time (always ambiguous)
    ├── MewsApiError               the API answered with an error
    │   ├── BadRequestError        400
    │   ├── AuthenticationError    401
    │   ├── ForbiddenError         403: business rule or server-side validation
    │   ├── RequestTimeoutError    408
    │   ├── ConflictError          409: the data changed meanwhile
    │   ├── PayloadTooLargeError   413
    │   ├── RateLimitError         429 (.retry_after)
    │   └── ServerError            5xx
    ├── PaginationError            the API's cursors do not make progress
    ├── BulkOperationError         partial failure of a batched call (.results, .failures)
    └── SyncError                  a sync refused before writing, or applied with failures (.result)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs

if TYPE_CHECKING:
    from ._sync_models import SyncPlan, SyncResult

T = TypeVar("T")


class MewsError(Exception):
    """Base class of every error raised by mews-vouchers."""


class MewsConfigError(MewsError):
    """The client is configured wrongly (a missing token, a value out of range)."""


class MewsValidationError(MewsError, ValueError):
    """Input that the API would refuse, found before any request was sent.

    ``errors`` lists every problem as ``(path, message)``, the path naming the
    argument, the item's index and the field: ``("params[3].name", "...")``.
    """

    def __init__(self, errors: Sequence[tuple[str, str]]) -> None:
        self.errors: list[tuple[str, str]] = list(errors)
        shown = "; ".join(f"{path}: {message}" for path, message in self.errors[:10])
        more = len(self.errors) - 10
        if more > 0:
            shown += f"; and {more} more"
        count = len(self.errors)
        super().__init__(f"{count} invalid value{'s' if count != 1 else ''}: {shown}")


class MewsConnectionError(MewsError):
    """The request failed on the network; ``ambiguous`` when it may have reached the server."""

    def __init__(self, message: str, *, ambiguous: bool) -> None:
        super().__init__(message)
        self.message = message
        self.ambiguous = ambiguous


class MewsTimeoutError(MewsConnectionError):
    """No answer arrived within the timeout; the request may have been applied.

    ``ambiguous`` is False only when the server stopped taking the request before all of
    it was sent: then it cannot have been applied.
    """

    def __init__(self, message: str, *, ambiguous: bool = True) -> None:
        super().__init__(message, ambiguous=ambiguous)


class MewsApiError(MewsError):
    """The API answered with an error status.

    ``status`` is the HTTP status, ``message`` the API's Message, ``request_id``
    its RequestId (from the body or the ``Request-Id`` header) and ``details``
    its Details, as sent.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        request_id: str | None = None,
        details: Any = None,
        operation: str | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.request_id = request_id
        self.details = details
        self.operation = operation
        where = f" {operation}" if operation else ""
        rid = f" (request id {request_id})" if request_id else ""
        super().__init__(f"HTTP {status}{where}: {message}{rid}")


class BadRequestError(MewsApiError):
    """400: the request was malformed or a parameter invalid."""


class AuthenticationError(MewsApiError):
    """401: a token is invalid or expired, or lacks permission for the operation."""


class ForbiddenError(MewsApiError):
    """403: a business rule or server-side validation refused the request; show it to the user."""


class RequestTimeoutError(MewsApiError):
    """408: the request was too heavy for the server; ask for less."""


class ConflictError(MewsApiError):
    """409: the data changed meanwhile; refresh it and submit the request again."""


class PayloadTooLargeError(MewsApiError):
    """413: the request body is too large; writes are retried in smaller chunks first."""


class RateLimitError(MewsApiError):
    """429: too many requests; ``retry_after`` holds the wait the server asked for, if any."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(MewsApiError):
    """5xx: the server failed; a write may or may not have been applied."""


class PaginationError(MewsError):
    """The API's cursor repeated, so following it would never end."""


_BY_STATUS: dict[int, type[MewsApiError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: ForbiddenError,
    408: RequestTimeoutError,
    409: ConflictError,
    413: PayloadTooLargeError,
    429: RateLimitError,
}


def error_class_for(status: int) -> type[MewsApiError]:
    """Return the exception class for an HTTP error *status*."""
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, MewsApiError)


@attrs.frozen(kw_only=True)
class ChunkFailure(Generic[T]):
    """One chunk of a bulk write that failed for good.

    ``indices`` are the positions of its items in the input, ``items`` the items
    themselves (ready to be sent again), ``error`` the last error met, and
    ``ambiguous`` is true when some attempt may have been applied by the server.
    """

    indices: list[int]
    items: list[T]
    error: MewsError
    ambiguous: bool


class BulkOperationError(MewsError):
    """Some chunks of a bulk write failed for good, after every other chunk finished.

    ``results`` is aligned with the input: the result for each item that
    succeeded, ``None`` for each that did not.  ``failures`` lists the failed
    chunks.  The first failure's error is the ``__cause__``.
    """

    def __init__(
        self, operation: str, results: list[Any], failures: Sequence[ChunkFailure[Any]]
    ) -> None:
        self.operation = operation
        self.results = results
        self.failures: list[ChunkFailure[Any]] = sorted(failures, key=lambda f: f.indices[0])
        failed = sum(len(f.indices) for f in self.failures)
        ambiguous = sum(len(f.indices) for f in self.failures if f.ambiguous)
        first = self.failures[0].error if self.failures else None
        text = (
            f"{operation}: {failed} of {len(results)} items failed in "
            f"{len(self.failures)} chunk{'s' if len(self.failures) != 1 else ''}"
        )
        if ambiguous:
            text += f" ({ambiguous} ambiguous: they may have been applied)"
        if first is not None:
            text += f"; first error: {first}"
        super().__init__(text)

    @property
    def failed_indices(self) -> list[int]:
        """Return the input positions of every item that failed, in order."""
        return sorted(i for f in self.failures for i in f.indices)

    @property
    def failed_items(self) -> list[Any]:
        """Return every item that failed, in input order (ready to be sent again)."""
        pairs = sorted(
            (i, item) for f in self.failures for i, item in zip(f.indices, f.items, strict=True)
        )
        return [item for _, item in pairs]


class SyncError(MewsError):
    """A sync refused its plan before writing (``max_deletes``), or applied it with failures.

    ``result`` says what was written, skipped as stale and failed (empty when nothing was
    written); ``plan`` is the plan refused, if that is why.
    """

    def __init__(self, message: str, result: SyncResult, plan: SyncPlan | None = None) -> None:
        super().__init__(message)
        self.result = result
        self.plan = plan


def unwrap_group(group: BaseExceptionGroup[Any]) -> BaseException:
    """Return the one exception worth raising from a task group's ExceptionGroup.

    Public calls never raise a bare ExceptionGroup: the first MewsError inside wins,
    else the first leaf exception.
    """
    leaves: list[BaseException] = []

    def collect(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                collect(inner)
        else:
            leaves.append(exc)

    collect(group)
    for leaf in leaves:
        if isinstance(leaf, MewsError):
            return leaf
    return leaves[0] if leaves else group
