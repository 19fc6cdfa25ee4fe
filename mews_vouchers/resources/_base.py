"""What the two resources share: getAll as page chains, chunked writes, exactly-once adds.

A resource is this machinery plus data: the operations it calls, how to read their
answers and how to key its items (:class:`Paging`, :class:`Adding`, :class:`Deleting`).
Everything it needs from the client comes through the :class:`~.._context.Context`.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import attrs

from .. import _telemetry as telemetry
from .._batching import ChunkError, ProgressCallback, WriteLedger, run_chunked
from .._converter import unstructure
from .._envelopes import (
    Limitation,
)
from .._errors import MewsError, MewsValidationError
from .._exactly_once import add_exactly_once
from .._fastwire import loads_object
from .._pagination import CursorChain, ItemStream, PageStream
from .._queries import ChainSpec, Query
from .._requester import AttemptRecord
from .._validation import Errors, enterprise_id_of, materialize, to_uuid_list

if TYPE_CHECKING:
    from .._context import Context


class _Item(Protocol):
    """An item of a getAll page: a voucher or a code."""

    @property
    def id(self) -> uuid.UUID | None: ...

    @property
    def is_active(self) -> bool: ...


class _Page(Protocol):
    """A page of a getAll answer: the API's cursor is on every one."""

    @property
    def cursor(self) -> uuid.UUID | None: ...


P = TypeVar("P", bound=_Page)
T = TypeVar("T", bound=_Item)
Param = TypeVar("Param")
R = TypeVar("R")
P_contra = TypeVar("P_contra", contravariant=True)
R_co = TypeVar("R_co", covariant=True)


class Merge(Protocol[P_contra, R_co]):
    """Takes in the pages of a ``get_all`` and returns them merged."""

    def add(self, page: P_contra) -> None:
        """Take in one page."""
        ...

    def result(self) -> R_co:
        """Return what was taken in, merged."""
        ...


@attrs.frozen(kw_only=True)
class Paging(Generic[P, T]):
    """How to read the pages of a resource's getAll."""

    operation: str
    parse: Callable[[bytes], P]
    items_of: Callable[[P], list[T]]


@attrs.frozen(kw_only=True)
class Adding(Generic[Param, T]):
    """How to add a resource's items, exactly once."""

    operation: str
    kind: type[Param]
    validate: Callable[[Sequence[object]], None]
    request: Callable[[list[Param], uuid.UUID | None], object]
    """The request model of one chunk, for the enterprise given (or None)."""
    parse: Callable[[bytes], list[T]]
    noun: str
    key: Callable[[Param], Hashable | None]
    """What a lookup finds the item's result by (None: it cannot be looked up)."""


@attrs.frozen(kw_only=True)
class Deleting:
    """How to delete a resource's items by id."""

    operation: str
    ids_name: str
    request: Callable[[list[uuid.UUID], uuid.UUID | None], object]


Lookup = Callable[[uuid.UUID | None, list[Param]], Awaitable[Mapping[Any, T]]]


class Resource(Generic[P, T]):
    """The operations of one API resource, over the client's :class:`Context`."""

    def __init__(self, ctx: Context, paging: Paging[P, T]) -> None:
        self._ctx = ctx
        self._paging = paging

    def _call(self, operation: str) -> contextlib.AbstractAsyncContextManager[None]:
        """Run one public call of *operation* (see :meth:`Context.call`)."""
        return self._ctx.call(telemetry.call_name(operation))

    # -- reading ------------------------------------------------------------------------

    def _chain(self, spec: ChainSpec) -> CursorChain[P]:
        ctx, paging = self._ctx, self._paging

        async def fetch(count: int, cursor: uuid.UUID | None) -> P:
            return await ctx.requester.call(
                paging.operation,
                spec.params(Limitation(count=count, cursor=cursor)),
                items=count,
                idempotent=True,
                retry_timeouts=False,
                parse=paging.parse,
            )

        def size_of(page: P) -> int | None:
            return len(paging.items_of(page)) if spec.sized else None

        def last_id_of(page: P) -> uuid.UUID | None:
            items = paging.items_of(page)
            return items[-1].id if items else None

        return CursorChain(
            fetch,
            page_size=ctx.settings.page_size,
            size_of=size_of,
            cursor_of=_cursor_of,
            last_id_of=last_id_of,
            max_shrinks=ctx.settings.retry.max_attempts - 1,
            at_most=spec.at_most,
        )

    def _pages(self, query: Query, *, items_only: bool = False) -> PageStream[P]:
        """Stream the pages of *query*'s chains (``iter_pages``)."""
        return self._ctx.stream([self._chain(spec) for spec in query.chains(items_only=items_only)])

    def _items(self, query: Query) -> ItemStream[P, T]:
        """Stream the items of *query* (``iter_all``), reading only the items' chains."""
        return ItemStream(self._pages(query, items_only=True), self._paging.items_of)

    async def _gather(self, query: Query, merge: Merge[P, R]) -> R:
        """Read every page of *query* concurrently into *merge* (``get_all``)."""
        async with self._call(self._paging.operation), self._pages(query) as pages:
            async for page in pages:
                merge.add(page)
        return merge.result()

    async def _collect(self, query: Query, key: Callable[[T], Hashable]) -> dict[Any, T]:
        """Return the active items of *query* by *key*, the first (newest) of each key.

        A chain pages from newest to oldest, and the chains of one query never share a
        key (each holds one slice of every filter), so the first seen is the newest.
        """
        found: dict[Any, T] = {}
        items_of = self._paging.items_of
        async with self._pages(query, items_only=True) as pages:
            async for page in pages:
                for item in items_of(page):
                    if item.is_active:
                        found.setdefault(key(item), item)
        return found

    # -- writing ------------------------------------------------------------------------

    async def _write(
        self,
        operation: str,
        items: list[Any],
        send: Callable[[list[Any]], Awaitable[list[R]]],
        on_progress: ProgressCallback | None,
        ledger: WriteLedger[R] | None = None,
        *,
        idempotent: bool = False,
    ) -> list[R]:
        """Send *items* in chunks through *send* (see :func:`run_chunked`), as one call."""
        async with self._call(operation):
            return await run_chunked(
                items,
                operation=operation,
                chunk_size=self._ctx.settings.chunk_size,
                concurrency=self._ctx.settings.max_concurrency,
                send=send,
                on_progress=on_progress,
                split_timeouts=idempotent,
                ledger=ledger,
            )

    async def _idempotent_chunk(
        self,
        operation: str,
        request: object,
        items: int,
        parse: Callable[[bytes], R],
    ) -> R:
        """Send one chunk of an update or delete, retried as the policy allows."""
        record = AttemptRecord()
        try:
            return await self._ctx.requester.call(
                operation,
                unstructure(request),
                items=items,
                idempotent=True,
                parse=parse,
                # A 408 on several items is sent again in halves by the batcher instead.
                retry_timeouts=items == 1,
                record=record,
            )
        except MewsError as exc:
            raise ChunkError(exc, ambiguous=record.maybe_applied) from exc

    async def _add(
        self,
        adding: Adding[Param, T],
        params: Iterable[Param],
        lookup: Lookup[Param, T],
        enterprise_id: uuid.UUID | str | None,
        on_progress: ProgressCallback | None,
        ledger: WriteLedger[T] | None,
    ) -> list[T]:
        """Add *params*, each exactly once: a chunk in doubt is settled by *lookup*."""
        items = materialize(params, "params", adding.kind)
        adding.validate(items)
        eid = enterprise_id_of(enterprise_id)
        if not items:
            return []

        async def send(chunk: list[Param], record: AttemptRecord) -> list[T]:
            # Never retried once it may have applied: add_exactly_once settles it.
            request = unstructure(adding.request(chunk, eid))
            results = await self._ctx.requester.call(
                adding.operation,
                request,
                items=len(chunk),
                idempotent=False,
                parse=adding.parse,
                record=record,
            )
            if len(results) != len(chunk):
                answered = f"answered {len(results)} {adding.noun} for {len(chunk)}"
                raise ChunkError(MewsError(f"{adding.operation} {answered}"), ambiguous=True)
            return results

        async def add_chunk(chunk: list[Param]) -> list[T]:
            return await add_exactly_once(self._ctx, chunk, adding.key, send, partial(lookup, eid))

        return await self._write(adding.operation, items, add_chunk, on_progress, ledger)

    async def _delete(
        self,
        deleting: Deleting,
        ids: Iterable[uuid.UUID | str],
        enterprise_id: uuid.UUID | str | None,
        on_progress: ProgressCallback | None,
        ledger: WriteLedger[uuid.UUID] | None,
    ) -> None:
        """Delete the items of *ids*; ``.results`` of a partial failure: the ids deleted."""
        errors: Errors = []
        checked = to_uuid_list(ids, deleting.ids_name, errors)
        if errors:
            raise MewsValidationError(errors)
        eid = enterprise_id_of(enterprise_id)
        if not checked:
            return

        async def send(chunk: list[uuid.UUID]) -> list[uuid.UUID]:
            request = deleting.request(chunk, eid)
            await self._idempotent_chunk(deleting.operation, request, len(chunk), _nothing)
            return chunk

        await self._write(deleting.operation, checked, send, on_progress, ledger, idempotent=True)


def _cursor_of(page: _Page) -> uuid.UUID | None:
    return page.cursor


def _nothing(body: bytes) -> None:
    loads_object(body)  # a delete answers an object, which holds nothing to read
