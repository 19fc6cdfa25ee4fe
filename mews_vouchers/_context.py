"""The seam between the client and the code that runs its calls: one small, explicit context.

The client builds one :class:`Context` and hands it to its resources, which hand it to the
engines (the chunked writer, the exactly-once settlement, the page chains).  It holds what
a call needs and nothing more: the requester (which holds the transport, and the rate
limiter behind its ``Limiter`` interface), the settings, the timer, and the registry of
the calls and page streams running, which :meth:`Context.aclose` ends.  Nothing below the
client reads the client itself, so a resource can be read, and tested, on its own.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import anyio
import attrs

from . import _telemetry as telemetry
from ._config import RetryPolicy
from ._errors import MewsConnectionError, unwrap_group
from ._pagination import CursorChain, PageStream
from ._requester import ClientStats, Requester
from ._timing import Timer

P = TypeVar("P")


@attrs.frozen(kw_only=True)
class Settings:
    """The client's options that shape its calls (checked by the client)."""

    chunk_size: int
    page_size: int
    max_concurrency: int
    retry: RetryPolicy


class Context:
    """What the calls of one client share: requester, settings, timer, running calls."""

    def __init__(self, *, requester: Requester, settings: Settings, timer: Timer) -> None:
        self.requester = requester
        self.settings = settings
        self.timer = timer
        self.closed = False
        self._scopes: set[anyio.CancelScope] = set()
        self._streams: weakref.WeakSet[PageStream[Any]] = weakref.WeakSet()

    @property
    def stats(self) -> ClientStats:
        """Return the client's counters."""
        return self.requester.stats

    def check_open(self) -> None:
        """Refuse a call on a closed client at once: nothing is sent, retried or counted."""
        if self.closed:
            raise MewsConnectionError("the client is closed", ambiguous=False)

    @contextlib.asynccontextmanager
    async def call(self, name: str) -> AsyncIterator[None]:
        """Run one public call (``vouchers.add``) in its span (see :mod:`._telemetry`).

        The call is refused once the client is closed, ended by :meth:`aclose`, and lets
        no ExceptionGroup out: the one error that matters is raised instead.
        """
        with telemetry.call_span(name):
            self.check_open()
            scope = anyio.CancelScope()
            self._scopes.add(scope)
            leaf: BaseException | None = None
            try:
                with scope:
                    try:
                        yield
                    except BaseExceptionGroup as group:
                        leaf = unwrap_group(group)
            finally:
                self._scopes.discard(scope)
            if leaf is not None:
                raise leaf
            if scope.cancelled_caught:
                raise MewsConnectionError(
                    "the client was closed while the call was running", ambiguous=True
                )

    def stream(self, chains: list[CursorChain[P]]) -> PageStream[P]:
        """Return a stream of the pages of *chains*, which :meth:`aclose` stops."""
        self.check_open()
        # Two pages beyond the request slots: while the caller keeps up, a request waits
        # for each slot that frees, and memory stays a few pages however many chains.
        stream = PageStream(chains, concurrency=self.settings.max_concurrency, buffer=2)
        self._streams.add(stream)
        return stream

    async def aclose(self) -> None:
        """End every call and stream still running, then close the requester."""
        self.closed = True
        self.requester.closed = True
        for scope in list(self._scopes):
            scope.cancel()
        for stream in list(self._streams):
            await stream.abort(
                MewsConnectionError("the client was closed while reading pages", ambiguous=False)
            )
        await self.requester.aclose()
