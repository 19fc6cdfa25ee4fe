"""The batcher: inputs of any size cut into chunks, sent concurrently, reassembled in order.

A chunk either succeeds, or fails for good and is recorded as a :class:`ChunkFailure`
once its retries are spent; every other chunk still finishes, and then the call raises
:class:`BulkOperationError` with results aligned to the input.  No chunk is dropped.

A chunk the server finds too large (413, or 408 where re-sending is safe) is sent again
as two halves, down to single items, as the docs advise ("request data in smaller
batches").  A :class:`WriteLedger` keeps the account item by item while the call runs, so that a
caller whose call was cut short (cancelled, Ctrl-C) can still tell what was stored.
"""

from __future__ import annotations

import enum
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

import anyio

from . import _telemetry as telemetry
from ._constants import MAX_ITEMS_PER_REQUEST
from ._errors import (
    AuthenticationError,
    BulkOperationError,
    ChunkFailure,
    MewsError,
    MewsValidationError,
    PayloadTooLargeError,
    RequestTimeoutError,
)

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


class WriteState(enum.Enum):
    """Where one item of a bulk write stands, as a :class:`WriteLedger` tells it."""

    NOT_SENT = "not_sent"
    """Its chunk was never handed to a request: it was surely not applied."""
    IN_FLIGHT = "in_flight"
    """Its chunk is being sent.  Left so by an interrupted call: it may have been applied."""
    SUCCEEDED = "succeeded"
    """Applied; its result is known."""
    FAILED = "failed"
    """Failed for good and not applied."""
    AMBIGUOUS = "ambiguous"
    """Failed for good, and may have been applied (see ``ChunkFailure.ambiguous``)."""


_STATES: tuple[WriteState, ...] = tuple(WriteState)
_CODE: dict[WriteState, int] = {state: code for code, state in enumerate(_STATES)}


class WriteLedger(Generic[R]):
    """An item-by-item account of one bulk write, kept current while the call runs.

    Pass a new ledger as ``ledger=`` to a write (``vouchers.add``, ``update``,
    ``delete``, ``voucher_codes.add``, ``delete``).  Once the call has returned or
    raised :class:`BulkOperationError`, every item is ``SUCCEEDED``, ``FAILED`` or
    ``AMBIGUOUS``, as the call itself says.  The ledger is for the call that ends
    otherwise: cancelled, interrupted by Ctrl-C, ended by ``aclose()``.  It then still
    tells, for each input item, whether it was stored (``SUCCEEDED``, with its
    result), was being sent and may have been applied (``IN_FLIGHT``), or was never
    sent (``NOT_SENT``); chunks that had already failed are in :attr:`failures`.

    An item is ``IN_FLIGHT`` from the moment its chunk is handed to the transport,
    which may still be waiting for the rate limit: the ledger errs towards doubt, never
    towards "not sent".  Until the call starts sending (validation passed, input not
    empty) the ledger is empty and :attr:`started` is false: nothing was sent.  A ledger
    serves one call; giving it to a second one is a :class:`MewsValidationError`.
    """

    __slots__ = ("_failures", "_items", "_results", "_started", "_states")

    def __init__(self) -> None:
        self._items: Sequence[Any] = ()
        self._states = bytearray()
        self._results: list[R | None] = []
        self._failures: list[ChunkFailure[Any]] = []
        self._started = False

    @property
    def started(self) -> bool:
        """Whether the call began sending its items (false: nothing was sent)."""
        return self._started

    def __len__(self) -> int:
        return len(self._states)

    @property
    def items(self) -> Sequence[Any]:
        """The call's input, as validated, in input order (indices refer to it)."""
        return self._items

    @property
    def failures(self) -> list[ChunkFailure[Any]]:
        """The chunks that failed for good so far, in input order."""
        return sorted(self._failures, key=lambda f: f.indices[:1])

    def state(self, index: int) -> WriteState:
        """Return where the item at input position *index* stands."""
        return _STATES[self._states[index]]

    def result(self, index: int) -> R | None:
        """Return the result of the item at *index* if it succeeded, else None."""
        return self._results[index]

    def indices(self, *states: WriteState) -> list[int]:
        """Return the input positions of the items in any of *states*, in input order."""
        wanted = {_CODE[state] for state in states}
        return [i for i, code in enumerate(self._states) if code in wanted]

    def counts(self) -> dict[WriteState, int]:
        """Return how many items are in each state (every state present, zeros included)."""
        counted = Counter(self._states)
        return {state: counted[_CODE[state]] for state in _STATES}

    def __repr__(self) -> str:
        shown = ", ".join(f"{n} {s.value}" for s, n in self.counts().items() if n)
        return f"<WriteLedger of {len(self)} items{': ' + shown if shown else ''}>"

    # -- kept by the batcher ------------------------------------------------------------

    def _begin(self, items: Sequence[Any]) -> None:
        if self._started:
            raise MewsValidationError(
                [("ledger", "this WriteLedger was given to another call; use a new one per call")]
            )
        self._started = True
        self._items = items
        self._states = bytearray(len(items))  # zeros: NOT_SENT
        self._results = [None] * len(items)

    def _set(self, indices: Iterable[int], state: WriteState) -> None:
        code = _CODE[state]
        if type(indices) is range and indices.step == 1:
            # A whole chunk, the common case: one slice assignment, not a loop per item.
            self._states[indices.start : indices.stop] = bytes((code,)) * len(indices)
            return
        for i in indices:
            self._states[i] = code


def plan_chunks(total: int, size: int) -> list[range]:
    """Return the index ranges of consecutive chunks of at most *size* covering ``range(total)``."""
    if not 1 <= size <= MAX_ITEMS_PER_REQUEST:
        raise ValueError(f"chunk size must be 1..{MAX_ITEMS_PER_REQUEST}, got {size}")
    return [range(start, min(start + size, total)) for start in range(0, total, size)]


def splits(error: ChunkError[Any], size: int, *, split_timeouts: bool) -> bool:
    """Return whether a chunk of *size* items that failed with *error* goes again in halves.

    A 413 was not applied; a 408 (the server found the work too heavy) may have been, so
    it splits only where re-sending is safe (*split_timeouts*: update, delete).  A chunk
    that got some items through is not split: its partial results stand.
    """
    if size < 2 or error.partial is not None:
        return False
    if isinstance(error.error, PayloadTooLargeError):
        return True
    return split_timeouts and isinstance(error.error, RequestTimeoutError)


async def run_chunked(
    items: Sequence[T],
    *,
    operation: str,
    chunk_size: int,
    concurrency: int,
    send: Callable[[list[T]], Awaitable[list[R]]],
    on_progress: ProgressCallback | None = None,
    split_timeouts: bool = False,
    ledger: WriteLedger[R] | None = None,
) -> list[R]:
    """Send *items* in chunks through *send*, at most *concurrency* chunks at a time.

    Returns one result per item, in input order.  Raises :class:`BulkOperationError`
    when any chunk failed for good, after all other chunks have finished.  A chunk
    that :func:`splits` is sent again as two halves; an item of a half that fails stays
    ambiguous if the whole chunk's attempt may have applied.  *ledger*, when given, is
    kept item by item as chunks are sent and finish.
    """
    # The ledger holds the results and failures, so that they survive a cancelled call.
    ledger = WriteLedger() if ledger is None else ledger
    ledger._begin(items)
    results = ledger._results
    failures = ledger._failures
    limiter = anyio.CapacityLimiter(concurrency)
    # A credential refused once is refused for every chunk: the chunks not yet sent then
    # fail at once with the same error instead of each asking the server again.
    fatal: list[MewsError] = []
    progress = [on_progress] if on_progress is not None else []

    def fail(indices: Sequence[int], error: MewsError, ambiguous: bool) -> None:
        if not indices:
            return  # a chunk whose every item got through in the end
        if ambiguous:
            telemetry.chunk_ambiguous(operation, len(indices), error)
        ledger._set(indices, WriteState.AMBIGUOUS if ambiguous else WriteState.FAILED)
        failures.append(
            ChunkFailure(
                indices=list(indices),
                items=[items[i] for i in indices],
                error=error,
                ambiguous=ambiguous,
            )
        )

    async def run_one(span: range, doubt: bool = False) -> None:
        # *doubt*: an attempt of a larger chunk holding this span may have been applied.
        async with limiter:
            if fatal:
                fail(span, fatal[0], doubt)
                return
            chunk = list(items[span.start : span.stop])
            ledger._set(span, WriteState.IN_FLIGHT)
            try:
                chunk_results = await send(chunk)
            except ChunkError as exc:
                if splits(exc, len(span), split_timeouts=split_timeouts):
                    half = (len(span) + 1) // 2
                    logger.debug(
                        "%s: %d items split in two after %s", operation, len(span), exc.error
                    )
                    # The halves stay IN_FLIGHT in the ledger until they finish: the
                    # larger attempt may have been applied (a 408), and doubt is the
                    # ledger's side to err on.
                    for part in (span[:half], span[half:]):
                        tg.start_soon(run_one, part, doubt or exc.ambiguous)  # noqa: F821 (see finally:)
                    return
                if isinstance(exc.error, AuthenticationError):
                    fatal.append(exc.error)
                partial = exc.partial or [None] * len(span)
                failed = [i for i, r in zip(span, partial, strict=True) if r is None]
                for i, r in zip(span, partial, strict=True):
                    results[i] = r
                ledger._set(
                    (i for i, r in zip(span, partial, strict=True) if r is not None),
                    WriteState.SUCCEEDED,
                )
                fail(failed, exc.error, exc.ambiguous or doubt)
                done = len(span) - len(failed)
            except MewsError as exc:
                fail(span, exc, doubt)
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
                ledger._set(span, WriteState.SUCCEEDED)
                done = len(span)
        if done and progress:
            try:
                progress[0](done)
            except Exception:
                # A broken progress display must not cost a write: chunks in flight were
                # sent and must be accounted for.  Say so once, and stop calling it.
                logger.warning("on_progress raised; it will not be called again", exc_info=True)
                progress.clear()

    try:
        async with anyio.create_task_group() as tg:
            for span in plan_chunks(len(items), chunk_size):
                tg.start_soon(run_one, span)
    finally:
        # run_one refers to itself (it starts the halves of a split chunk), a cycle through
        # its closure that would keep every item and result of the call alive until the
        # garbage collector's next full collection: emptying the cell breaks it.
        del run_one

    if failures:
        raise BulkOperationError(operation, results, failures)
    return results  # type: ignore[return-value]  # no failure: every slot holds a result
