"""An in-memory daemon for client tests: a ``Transport`` that answers from a script."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

HOLD = object()
"""Returned by a handler: do not answer now (the test answers with :meth:`FakeDaemon.reply`)."""


class Fail(Exception):
    """Raised by a handler: answer with a JSON-RPC error."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


Handler = Callable[[Any], Any]


class FakeDaemon:
    """Answers requests by method with ``handlers[method](params)``; records what it got."""

    def __init__(self, handlers: dict[str, Handler] | None = None) -> None:
        self.inbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.sent: list[dict[str, Any]] = []
        self.held: list[dict[str, Any]] = []
        self.closed = False
        self._held_more = asyncio.Event()
        self.handlers: dict[str, Handler] = {
            "initialize": lambda p: {
                "capabilities": {"experimental": {"snapd": {"protocolVersion": "0.1"}}}
            },
            "shutdown": lambda p: None,
        }
        self.handlers.update(handlers or {})

    # -- Transport ------------------------------------------------------------------------------

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        if "method" not in message or "id" not in message:
            return  # a notification, or our answer to a server->client request
        handler = self.handlers.get(message["method"])
        if handler is None:
            self.error(message["id"], -32601, f"unknown method {message['method']}")
            return
        try:
            result = handler(message.get("params"))
        except Fail as exc:
            self.error(message["id"], exc.code, exc.message, exc.data)
            return
        if result is HOLD:
            self.held.append(message)
            self._held_more.set()
            return
        self.reply(message["id"], result)

    async def receive(self) -> dict[str, Any] | None:
        return await self.inbox.get()

    async def close(self) -> None:
        self.closed = True
        self.inbox.put_nowait(None)

    # -- scripting ------------------------------------------------------------------------------

    def push(self, message: dict[str, Any]) -> None:
        self.inbox.put_nowait(message)

    def reply(self, msg_id: Any, result: Any) -> None:
        self.push({"jsonrpc": "2.0", "id": msg_id, "result": result})

    def error(self, msg_id: Any, code: int, message: str, data: Any = None) -> None:
        err: dict[str, Any] = {"code": code, "message": message}
        if data is not None:
            err["data"] = data
        self.push({"jsonrpc": "2.0", "id": msg_id, "error": err})

    def notify(self, method: str, params: Any) -> None:
        self.push({"jsonrpc": "2.0", "method": method, "params": params})

    def end(self) -> None:
        """End of stream: the daemon went away."""
        self.inbox.put_nowait(None)

    async def wait_held(self, n: int) -> list[dict[str, Any]]:
        """Wait until ``n`` requests are held unanswered."""
        while len(self.held) < n:
            self._held_more.clear()
            await self._held_more.wait()
        return self.held

    def requests(self, method: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m.get("method") == method and "id" in m]


def paged(items: list[Any], key: str, page: int) -> Handler:
    """A handler serving ``items`` ``page`` at a time with integer-offset cursors."""

    def handler(params: Any) -> Any:
        start = int(params.get("cursor") or 0)
        result: dict[str, Any] = {key: items[start : start + page]}
        if start + page < len(items):
            result["nextCursor"] = str(start + page)
        return result

    return handler
