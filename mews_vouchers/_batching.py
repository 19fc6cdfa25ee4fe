"""The batcher: inputs of any size cut into chunks, sent concurrently, reassembled in order.

A chunk either succeeds, or fails for good and is recorded as a :class:`ChunkFailure`
once its retries are spent; every other chunk still finishes, and then the call raises
:class:`BulkOperationError` with results aligned to the input.  No chunk is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import anyio

from . import _telemetry as telemetry
from ._constants import MAX_ITEMS_PER_REQUEST
from ._errors import AuthenticationError, BulkOperationError, ChunkFailure, MewsError

logger = logging.getLogger("mews_vouchers")
T = TypeVar("T")
R = TypeVar("R")

ProgressCallback = Callable[[int], object]


class ChunkError(Exception, Generic[R]):
    """Raised by a chunk sender: the chunk failed for good.

    ``partial`` is aligned with the chunk when some of its items did succeed (``None``
    where an item failed); ``None`` means that no item succeeded.
    """

    def __init__(
        self, error: MewsError, *, ambiguous: bool, partial: list[R | None] | None = None
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.ambiguous = ambiguous
        self.partial = partial


def plan_chunks(total: int, size: int) -> list[range]:
    """Return the index ranges of consecutive chunks of at most *size* covering ``range(total)``."""
    if not 1 <= size <= MAX_ITEMS_PER_REQUEST:
        raise ValueError(f"chunk size must be 1..{MAX_ITEMS_PER_REQUEST}, got {size}")
    return [range(start, min(start + size, total)) for start in range(0, total, size)]


async def run_chunked(
    items: Sequence[T],
    *,
    operation: str,
    chunk_size: int,
    concurrency: int,
    send: Callable[[list[T]], Awaitable[list[R]]],
    on_progress: ProgressCallback | None = None,
) -> list[R]:
    """Send *items* in chunks through *send*, at most *concurrency* chunks at a time.

    Returns one result per item, in input order.  Raises :class:`BulkOperationError`
    when any chunk failed for good, after all other chunks have finished.
    """
    results: list[R | None] = [None] * len(items)
    failures: list[ChunkFailure[T]] = []
    limiter = anyio.CapacityLimiter(concurrency)
    # A credential refused once is refused for every chunk: the chunks not yet sent then
    # fail at once with the same error instead of each asking the server again.
    fatal: list[MewsError] = []
    progress = [on_progress] if on_progress is not None else []

    def fail(indices: Sequence[int], error: MewsError, ambiguous: bool) -> None:
        if ambiguous:
            telemetry.chunk_ambiguous(operation, len(indices), error)
        failures.append(
            ChunkFailure(
                indices=list(indices),
                items=[items[i] for i in indices],
                error=error,
                ambiguous=ambiguous,
            )
        )

    async def run_one(span: range) -> None:
        async with limiter:
            if fatal:
                fail(span, fatal[0], False)
                return
            chunk = [items[i] for i in span]
            try:
                chunk_results = await send(chunk)
            except ChunkError as exc:
                if isinstance(exc.error, AuthenticationError):
                    fatal.append(exc.error)
                partial = exc.partial or [None] * len(span)
                failed = [i for i, r in zip(span, partial, strict=True) if r is None]
                for i, r in zip(span, partial, strict=True):
                    results[i] = r
                fail(failed, exc.error, exc.ambiguous)
                done = len(span) - len(failed)
            except MewsError as exc:
                fail(span, exc, False)
                done = 0
            except Exception as exc:
                # Not an API outcome (a bug, a failing hook): account for the items anyway,
                # as ambiguous, since whether a request went out is unknown here.
                error = MewsError(f"{operation} failed unexpectedly: {exc!r}")
                error.__cause__ = exc
                fail(span, error, True)
                done = 0
            else:
                if len(chunk_results) != len(span):
                    error = MewsError(
                        f"{operation} answered {len(chunk_results)} results for {len(span)} items"
                    )
                    # The server did act on the chunk, but which items it answered for is unknown.
                    fail(span, error, True)
                    return
                results[span.start : span.stop] = chunk_results
                done = len(span)
        if done and progress:
            try:
                progress[0](done)
            except Exception:
                # A broken progress display must not cost a write: chunks in flight were
                # sent and must be accounted for.  Say so once, and stop calling it.
                logger.warning("on_progress raised; it will not be called again", exc_info=True)
                progress.clear()

    async with anyio.create_task_group() as tg:
        for span in plan_chunks(len(items), chunk_size):
            tg.start_soon(run_one, span)

    if failures:
        raise BulkOperationError(operation, results, failures)
    return results  # type: ignore[return-value]  # no failure: every slot holds a result
