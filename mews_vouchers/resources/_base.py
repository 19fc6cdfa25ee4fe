"""What the resources share: requests for pages and chunks, streams, and the write runner."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .. import _telemetry as telemetry
from .._batching import ChunkError, ProgressCallback, WriteLedger, run_chunked
from .._errors import MewsError
from .._models import Limitation, to_uuid
from .._pagination import Chain, PageStream, follow_chain
from .._requester import AttemptRecord
from .._validation import Errors

if TYPE_CHECKING:
    from .._context import Context

R = TypeVar("R")


class _Page(Protocol):
    """A page of a getAll answer: the API's cursor is on every one."""

    @property
    def cursor(self) -> uuid.UUID | None: ...


P = TypeVar("P", bound=_Page)


def _enterprise(enterprise_id: uuid.UUID | str | None) -> uuid.UUID | None:
    return None if enterprise_id is None else to_uuid(enterprise_id, "enterprise_id")


def _nothing(data: dict[str, Any]) -> None:
    return None


class _Resource:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def _chain(
        self,
        operation: str,
        params: Callable[[Limitation], dict[str, Any]],
        parse: Callable[[dict[str, Any]], P],
        size_of: Callable[[P], int | None],
        last_id_of: Callable[[P], uuid.UUID | None],
        at_most: int | None = None,
    ) -> Chain[P]:
        ctx = self._ctx

        async def fetch(count: int, cursor: uuid.UUID | None) -> P:
            return await ctx.requester.call(
                operation,
                params(Limitation(count=count, cursor=cursor)),
                items=count,
                idempotent=True,
                retry_timeouts=False,
                parse=parse,
            )

        async def chain(emit: Callable[[P], Awaitable[None]]) -> None:
            await follow_chain(
                fetch,
                page_size=ctx.settings.page_size,
                size_of=size_of,
                cursor_of=_page_cursor,
                last_id_of=last_id_of,
                emit=emit,
                max_shrinks=ctx.settings.retry.max_attempts - 1,
                at_most=at_most,
            )

        return chain

    def _call(self, operation: str) -> contextlib.AbstractAsyncContextManager[None]:
        """Run one public call of *operation* (see :meth:`Context.call`)."""
        return self._ctx.call(telemetry.call_name(operation))

    def _stream(self, chains: list[Chain[P]]) -> PageStream[P]:
        return self._ctx.stream(chains)

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
        async with self._ctx.call(telemetry.call_name(operation)):
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

    async def _send_once(
        self,
        operation: str,
        params: dict[str, Any],
        count: int,
        parse: Callable[[dict[str, Any]], list[R]],
        record: AttemptRecord,
        noun: str,
    ) -> list[R]:
        """Send one add, never retried once it may have applied; check one result per item."""
        results = await self._ctx.requester.call(
            operation, params, items=count, idempotent=False, parse=parse, record=record
        )
        if len(results) != count:
            raise ChunkError(
                MewsError(f"{operation} answered {len(results)} {noun} for {count}"),
                ambiguous=True,
            )
        return results

    async def _idempotent_chunk(
        self,
        operation: str,
        params: dict[str, Any],
        items: int,
        parse: Callable[[dict[str, Any]], R],
    ) -> R:
        record = AttemptRecord()
        try:
            return await self._ctx.requester.call(
                operation,
                params,
                items=items,
                idempotent=True,
                parse=parse,
                # A 408 on several items is sent again in halves by the batcher instead.
                retry_timeouts=items == 1,
                record=record,
            )
        except MewsError as exc:
            raise ChunkError(exc, ambiguous=record.maybe_applied) from exc


def _opt(
    values: Iterable[Any] | None,
    convert: Callable[[Iterable[Any] | None, str, Errors], list[Any]],
    name: str,
    errors: Errors,
) -> list[Any] | None:
    return None if values is None else convert(values, name, errors)


def _id_bound(ids: tuple[uuid.UUID, ...] | None) -> int | None:
    """A chain filtered by ids can answer at most one item per distinct id."""
    return None if ids is None else len(set(ids))


def _page_cursor(page: _Page) -> uuid.UUID | None:
    return page.cursor
