"""getAll at scale: splitting a query into chains, following cursors, streaming pages.

A call is planned (by ``_queries``) as a list of *chains*: one per enterprise, per slice
of any filter list longer than the API takes (:func:`split_values`), and per window of an
``updated_utc`` interval longer than the API allows (:func:`split_interval`).  Each chain
follows its cursor from newest to oldest until a short page or a null cursor
(:func:`follow_chain`).  :class:`PageStream` runs the chains concurrently and hands their
pages to the caller as they come, with memory bounded by a few pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, Generic, TypeVar

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._constants import MAX_ITEMS_PER_REQUEST
from ._errors import PaginationError, RequestTimeoutError, unwrap_group
from ._models import TimeInterval
from ._time import updated_interval_limit

T = TypeVar("T")
P = TypeVar("P")


def split_values(values: Sequence[T] | None) -> list[Any]:
    """Split a filter list into slices the API accepts; ``None`` stays one unfiltered slice."""
    if values is None:
        return [None]
    size = MAX_ITEMS_PER_REQUEST
    return [tuple(values[i : i + size]) for i in range(0, len(values), size)]


def split_interval(interval: TimeInterval | None) -> list[TimeInterval | None]:
    """Split an ``UpdatedUtc`` interval into consecutive windows the API accepts (3 months)."""
    if interval is None:
        return [None]
    windows: list[TimeInterval | None] = []
    start, end = interval.start_utc, interval.end_utc
    while True:
        limit = updated_interval_limit(start)
        if end <= limit:
            windows.append(TimeInterval(start_utc=start, end_utc=end))
            return windows
        windows.append(TimeInterval(start_utc=start, end_utc=limit))
        start = limit


def plan(**dimensions: list[Any]) -> list[dict[str, Any]]:
    """Return the cartesian product of the slices of each dimension, one dict per chain."""
    names = list(dimensions)
    return [
        dict(zip(names, combo, strict=True)) for combo in itertools.product(*dimensions.values())
    ]


FetchPage = Callable[[int, uuid.UUID | None], Awaitable[P]]


async def follow_chain(
    fetch: FetchPage[P],
    *,
    page_size: int,
    size_of: Callable[[P], int | None],
    cursor_of: Callable[[P], uuid.UUID | None],
    last_id_of: Callable[[P], uuid.UUID | None],
    emit: Callable[[P], Awaitable[None]],
    max_shrinks: int,
    at_most: int | None = None,
) -> None:
    """Follow one cursor chain from the newest page to the last, emitting each page.

    The end is a null cursor or a page shorter than asked for (no extra request), or
    *at_most* items when the filter bounds the answer (a chain filtered by 1000 ids has
    at most 1000 items, so a full page of them is the last).  When *size_of* gives None
    (the paged items are not in the answer: an extent without vouchers, whose page still
    covers up to ``count`` vouchers and carries their cursor), the page's length is
    unknown and only a null cursor, or the bound, ends the chain.  A 408 halves the page size
    (the server found the request too heavy) and tries again, at most *max_shrinks*
    times.  A cursor that comes back again, or that is not the id of the page's last
    (oldest) item as the API defines it, raises PaginationError: either would page forever.
    """
    count = page_size
    cursor: uuid.UUID | None = None
    seen: set[uuid.UUID] = set()
    shrinks = 0
    fetched = 0
    while True:
        try:
            page = await fetch(count, cursor)
        except RequestTimeoutError:
            if count <= 1 or shrinks >= max_shrinks:
                raise
            count = max(1, count // 2)
            shrinks += 1
            continue
        size = size_of(page)
        # Unknown size: every page before the last covers exactly `count` items, so the
        # bound still holds once `count` per page reaches it.
        fetched += count if size is None else size
        next_cursor = cursor_of(page)
        await emit(page)
        if next_cursor is None or (size is not None and size < count):
            return
        if at_most is not None and fetched >= at_most:
            return
        last = last_id_of(page)
        if last is not None and next_cursor != last:
            raise PaginationError(
                f"the API returned cursor {next_cursor}, not the id of the page's last item"
                f" ({last}); stopping instead of paging without end"
            )
        if next_cursor in seen:
            raise PaginationError(
                f"the API returned cursor {next_cursor} twice; stopping instead of looping"
            )
        seen.add(next_cursor)
        cursor = next_cursor


Chain = Callable[[Callable[[P], Awaitable[None]]], Awaitable[None]]


class _Outcome:
    """How the chains of a stream ended: the error to raise to the caller, if any."""

    error: BaseException | None = None


async def _supervise(
    chains: list[Chain[P]], workers: int, send: MemoryObjectSendStream[P], outcome: _Outcome
) -> None:
    """Run *chains* on *workers* workers, sending their pages; record how it ended."""
    pending = iter(chains)

    async def worker() -> None:
        for chain in pending:
            await chain(send.send)

    try:
        async with send, anyio.create_task_group() as tg:
            for _ in range(workers):
                tg.start_soon(worker)
    except BaseExceptionGroup as group:
        outcome.error = unwrap_group(group)
    except anyio.BrokenResourceError:
        pass  # the caller closed the stream; nothing is waiting for pages
    except Exception as exc:
        outcome.error = exc


class PageStream(Generic[P]):
    """Pages of several chains, fetched concurrently while the caller works on earlier ones.

    Use it with ``async for``; leaving the loop early (``break``, an exception,
    cancellation) stops the chains' requests: at once with ``async with`` or
    ``aclose()``, else when the stream is collected.  At most *workers* chains run at
    once and at most *buffer* pages wait for the caller, so memory stays bounded by a few
    pages however many items there are.
    """

    def __init__(self, chains: Iterable[Chain[P]], *, workers: int, buffer: int = 2) -> None:
        self._chains = list(chains)
        self._workers = max(1, min(workers, len(self._chains)))
        self._send: MemoryObjectSendStream[P]
        self._receive: MemoryObjectReceiveStream[P]
        self._send, self._receive = anyio.create_memory_object_stream[P](buffer)
        self._outcome = _Outcome()
        self._aborted: BaseException | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._closed = False

    def _start(self) -> None:
        # The supervisor task is owned by this stream: aclose() (or collection of the
        # stream) cancels it, and its task group owns the chain workers, so no request
        # outlives the iteration.  A task group cannot live in the caller's task here,
        # because the caller's code runs between pages, outside any scope we could own.
        # The task holds no reference to the stream, so a stream left behind by a
        # ``break`` is collected, and its __del__ cancels the task.
        self._supervisor = asyncio.get_running_loop().create_task(
            _supervise(self._chains, self._workers, self._send, self._outcome)
        )

    def __aiter__(self) -> PageStream[P]:
        return self

    async def __anext__(self) -> P:
        if self._closed:
            if self._aborted is not None:
                raise self._aborted
            raise StopAsyncIteration
        if self._supervisor is None:
            self._start()
        try:
            return await self._receive.receive()
        except anyio.EndOfStream:
            pass
        except anyio.ClosedResourceError:
            # Closed under a reader, by aclose() in another task.
            if self._aborted is not None:
                raise self._aborted from None
            raise StopAsyncIteration from None
        if self._supervisor is not None:
            await self._supervisor
        error = self._outcome.error
        await self.aclose()
        if error is not None:
            # Raised as is, outside any except block, so its own __cause__ (the aiohttp or
            # parsing error underneath) stays what the user sees.
            raise error
        raise StopAsyncIteration

    async def abort(self, error: BaseException) -> None:
        """Stop every chain; a reader gets *error*, not a silently shortened stream."""
        if not self._closed:
            self._aborted = error
        await self.aclose()

    async def aclose(self) -> None:
        """Stop every chain and wait until its requests are cancelled."""
        self._closed = True
        self._receive.close()
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None and not supervisor.done():
            supervisor.cancel()
            with anyio.CancelScope(shield=True), contextlib.suppress(asyncio.CancelledError):
                await supervisor
        self._send.close()

    async def __aenter__(self) -> PageStream[P]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        supervisor = self._supervisor
        if supervisor is not None and not supervisor.done():
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                supervisor.cancel()
        self._receive.close()
        self._send.close()


async def _flatten(
    pages: PageStream[P], items_of: Callable[[P], list[T]]
) -> AsyncGenerator[T, None]:
    async for page in pages:
        for item in items_of(page):
            yield item


class ItemStream(Generic[P, T]):
    """The items of a :class:`PageStream`, one at a time (``iter_all``).

    ``async for`` runs over an async generator, whose steps are far cheaper than a
    coroutine per item; the generator holds no scope or task, so it may be finalized
    anywhere.
    """

    def __init__(self, pages: PageStream[P], items_of: Callable[[P], list[T]]) -> None:
        self._pages = pages
        self._items = _flatten(pages, items_of)

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items

    async def __anext__(self) -> T:
        return await self._items.__anext__()

    async def aclose(self) -> None:
        """Stop fetching; see :meth:`PageStream.aclose`."""
        await self._items.aclose()
        await self._pages.aclose()

    async def __aenter__(self) -> ItemStream[P, T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
