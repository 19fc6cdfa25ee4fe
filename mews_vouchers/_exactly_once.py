"""Exactly-once adds: a chunk whose outcome is unknown is settled by looking its items up.

An add is never re-sent blindly once it may have been applied (a timeout, a lost
connection, a 5xx, an answer with the wrong count).  When every item has a key a lookup
can find it by (a voucher's service and external identifier, a code's voucher and
value), the chunk is settled: wait a backoff, look the items up, keep what exists and
re-send only the rest.  Both resources' ``add`` run their chunks through
:func:`add_exactly_once`; what differs between them (how to send, how to look up, the
keys) is passed in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from ._batching import ChunkError
from ._errors import MewsError
from ._requester import AttemptRecord
from ._retry import retry_delay

if TYPE_CHECKING:
    from ._context import Context

R = TypeVar("R")
Item = TypeVar("Item")
Send = Callable[[list[Item], AttemptRecord], Awaitable[list[R]]]
Lookup = Callable[[list[Item]], Awaitable[Mapping[Any, R]]]


async def add_exactly_once(
    ctx: Context,
    chunk: list[Item],
    key: Callable[[Item], Hashable | None],
    send: Send[Item, R],
    lookup: Lookup[Item, R],
) -> list[R]:
    """Send an add chunk; if its outcome is unknown, settle it by looking its items up.

    *key* gives what identifies an item in what *lookup* returns (``None``: the item
    cannot be looked up); it is asked only once the chunk is in doubt, which is rare.  A
    failure known not to have been applied fails the chunk plainly.  One that may have
    been applied, or an answer with the wrong count, puts the chunk in doubt; then each
    round waits a backoff (a request still being processed gets time to land), looks the
    pending items up, keeps what exists and re-sends only the rest.  Without a key for
    every item, or with one repeated, a lookup cannot tell, so the chunk stays ambiguous.
    """
    results: list[R | None] = [None] * len(chunk)
    pending = list(range(len(chunk)))
    doubt: MewsError | None = None  # why the chunk is in doubt, once it is
    attempts = 0
    keys: list[Hashable | None] = []
    while True:
        record = AttemptRecord()
        try:
            sent = await send(chunk if doubt is None else [chunk[i] for i in pending], record)
        except ChunkError as exc:
            doubt = exc.error  # answered, but not one result per item: applied, in some part
        except MewsError as exc:
            if not record.maybe_applied:
                partial = None if doubt is None else results
                raise ChunkError(exc, ambiguous=False, partial=partial) from exc
            doubt = exc
        else:
            if doubt is None:
                return sent
            for i, result in zip(pending, sent, strict=True):
                results[i] = result
            ctx.stats.resolved_ambiguous += 1
            return results  # type: ignore[return-value]  # every slot filled
        attempts += record.attempts
        keys = keys or [key(item) for item in chunk]
        if any(k is None for k in keys) or len(set(keys)) != len(keys):
            raise ChunkError(doubt, ambiguous=True) from doubt
        await ctx.timer.sleep_for(retry_delay(ctx.settings.retry, max(attempts, 1)))
        try:
            found = await lookup([chunk[i] for i in pending])
        except MewsError:
            raise ChunkError(doubt, ambiguous=True, partial=results) from doubt
        for i in pending:
            results[i] = found.get(keys[i])
        pending = [i for i in pending if results[i] is None]
        if not pending:
            ctx.stats.resolved_ambiguous += 1
            return results  # type: ignore[return-value]  # no None left
        if attempts >= ctx.settings.retry.max_attempts:
            # Looked up (a read costs no duplicate), but no attempt is left to re-send.
            raise ChunkError(doubt, ambiguous=True, partial=results) from doubt
