"""A scripted HTTP server on loopback that answers whatever a test tells it to."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import orjson
from aiohttp import web

Handler = Callable[[web.Request, dict[str, Any]], Awaitable[web.StreamResponse]]


class ScriptedServer:
    """Serves every POST with ``handler(request, body)``; records what it received."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.received: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        self.received.append(body)
        return await self.handler(request, body)

    async def __aenter__(self) -> ScriptedServer:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


def answer(status: int, body: bytes | str | Any, headers: dict[str, str] | None = None) -> Handler:
    """A handler that always answers *status* with *body* (bytes, text, or JSON-able)."""
    if isinstance(body, str):
        raw = body.encode()
    elif isinstance(body, bytes):
        raw = body
    else:
        raw = orjson.dumps(body)

    async def handler(request: web.Request, _: dict[str, Any]) -> web.StreamResponse:
        return web.Response(status=status, body=raw, headers=headers or {})

    return handler
