"""getAll at scale: splitting a query into chains, following cursors, streaming pages.

A call is planned (by ``_queries``) as a list of *chains*: one per enterprise, per slice
of any filter list longer than the API takes (:func:`split_values`), and per window of an
``updated_utc`` interval longer than the API allows (:func:`split_interval`).  Each chain
follows its cursor from newest to oldest until a short page or a null cursor
(:class:`CursorChain`).  :class:`PageStream` runs the chains concurrently and hands their
pages to the caller as they come, with memory bounded by a few pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
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


class CursorChain(Generic[P]):
    """One cursor chain, followed from the newest page to the last, a page at a time.

    The end is a null cursor or a page shorter than asked for (no extra request), or
    *at_most* items when the filter bounds the answer (a chain filtered by 1000 ids has
    at most 1000 items, so a full page of them is the last).  When *size_of* gives None
    (the paged items are not in the answer: an extent without vouchers, whose page still
    covers up to ``count`` vouchers and carries their cursor), the page's length is
    unknown and only a null cursor, or the bound, ends the chain.  A 408 halves the page size
    (the server found the request too heavy) and tries again, at most *max_shrinks*
    times.  A cursor that comes back again, or that is not the id of the page's last
    (oldest) item as the API defines it, raises PaginationError: either would page forever.

    Between pages a chain is only this state, no task: a stream of many chains holds
    them in a queue while its few workers fetch their pages in turn.
    """

    def __init__(
        self,
        fetch: FetchPage[P],
        *,
        page_size: int,
        size_of: Callable[[P], int | None],
        cursor_of: Callable[[P], uuid.UUID | None],
        last_id_of: Callable[[P], uuid.UUID | None],
        max_shrinks: int,
        at_most: int | None = None,
    ) -> None:
        self._fetch = fetch
        self._size_of = size_of
        self._cursor_of = cursor_of
        self._last_id_of = last_id_of
        self._max_shrinks = max_shrinks
        self._at_most = at_most
        self._count = page_size
        self._cursor: uuid.UUID | None = None
        self._seen: set[uuid.UUID] = set()
        self._shrinks = 0
        self._fetched = 0

    async def fetch(self) -> P:
        """Fetch the chain's next page (then :meth:`advance` past it)."""
        while True:
            try:
                return await self._fetch(self._count, self._cursor)
            except RequestTimeoutError:
                if self._count <= 1 or self._shrinks >= self._max_shrinks:
                    raise
                self._count = max(1, self._count // 2)
                self._shrinks += 1

    def advance(self, page: P) -> bool:
        """Move past *page*, the one just fetched; return whether another page follows."""
        size = self._size_of(page)
        # Unknown size: every page before the last covers exactly `count` items, so the
        # bound still holds once `count` per page reaches it.
        self._fetched += self._count if size is None else size
        cursor = self._cursor_of(page)
        if cursor is None or (size is not None and size < self._count):
            return False
        if self._at_most is not None and self._fetched >= self._at_most:
            return False
        last = self._last_id_of(page)
        if last is not None and cursor != last:
            raise PaginationError(
                f"the API returned cursor {cursor}, not the id of the page's last item"
                f" ({last}); stopping instead of paging without end"
            )
        if cursor in self._seen:
            raise PaginationError(
                f"the API returned cursor {cursor} twice; stopping instead of looping"
            )
        self._seen.add(cursor)
        self._cursor = cursor
        return True


class _Outlet(Generic[P]):
    """Where a stream's workers hand over pages, each fetched with a page token.

    A worker takes a token before it asks for a page (:meth:`reserve`) and hands it over
    with the page (:meth:`emit`); the reader gives it back as it takes the page
    (:meth:`take`).  So the pages being fetched, with those fetched and not yet taken,
    never outnumber the tokens, however many chains there are.
    """

    def __init__(self, tokens: int) -> None:
        self._tokens = anyio.Semaphore(tokens)
        # Unbounded in itself: the tokens bound it.
        self.send: MemoryObjectSendStream[P]
        self.receive: MemoryObjectReceiveStream[P]
        self.send, self.receive = anyio.create_memory_object_stream[P](math.inf)

    async def reserve(self) -> None:
        """Wait for a page token: a page may then be fetched."""
        await self._tokens.acquire()

    def emit(self, page: P) -> None:
        """Hand *page* to the reader, with the token it was fetched with."""
        self.send.send_nowait(page)

    async def take(self) -> P:
        """Return the next page for the reader, giving its token back."""
        page = await self.receive.receive()
        self._tokens.release()
        return page


class _Outcome:
    """How the chains of a stream ended: the error to raise to the caller, if any."""

    error: BaseException | None = None


async def _supervise(
    chains: list[CursorChain[P]], workers: int, outlet: _Outlet[P], outcome: _Outcome
) -> None:
    """Fetch the pages of *chains* with *workers* workers into *outlet*; record how it ended.

    Every chain waits in one queue, first come, first served: a worker takes the chain
    at its head, fetches one page with a token and puts the chain back at the tail.  So
    every chain starts at once and takes its turn for each page, and the chains end
    together instead of a few starting late and running alone at the end, with request
    slots idle.  No chain waits for more than one round of the others.
    """
    live = len(chains)
    ready_send, ready = anyio.create_memory_object_stream[CursorChain[P]](math.inf)
    for chain in chains:
        ready_send.send_nowait(chain)
    if not live:
        ready_send.close()

    async def worker() -> None:
        nonlocal live
        async for chain in ready:
            await outlet.reserve()
            page = await chain.fetch()
            outlet.emit(page)
            more = chain.advance(page)
            # The reader's now: a worker waiting for its next turn must not keep it alive.
            del page
            if more:
                ready_send.send_nowait(chain)
            else:
                live -= 1
                if not live:
                    ready_send.close()  # every worker's loop ends

    try:
        async with outlet.send, ready_send, ready, anyio.create_task_group() as tg:
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
    ``aclose()``, else when the stream is collected.  Every chain runs at once, taking
    turns for pages; the pages being fetched or waiting for the caller are at most one
    per request slot (*concurrency*, or one per chain if fewer) plus *buffer*: enough
    to keep every slot busy while the caller keeps up, and memory bounded by a few
    pages however many chains and items there are.
    """

    def __init__(
        self, chains: Iterable[CursorChain[P]], *, concurrency: int, buffer: int = 2
    ) -> None:
        self._chains = list(chains)
        slots = max(1, min(concurrency, len(self._chains)))
        self._workers = min(slots + buffer, max(1, len(self._chains)))
        self._outlet = _Outlet[P](slots + buffer)
        self._send = self._outlet.send
        self._receive = self._outlet.receive
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
            _supervise(self._chains, self._workers, self._outlet, self._outcome)
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
            return await self._outlet.take()
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
