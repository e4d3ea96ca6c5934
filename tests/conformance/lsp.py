"""A small LSP-framed JSON-RPC client over a child process's stdin/stdout (stdlib only).

It imports nothing from snapd: the conformance suite must be able to test any implementation.
Every byte the server writes to stdout is parsed as a frame; anything else (a log line, a bad
header, a body that is not a JSON object) is recorded in :attr:`Server.violations`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Callable
from typing import Any

Message = dict[str, Any]

TIMEOUT = 30.0
"""Seconds to wait for any one answer before the case fails."""


class ServerGone(Exception):
    """The server closed its stdout (or died) while an answer was awaited."""


class RpcError(Exception):
    """A JSON-RPC error response."""

    def __init__(self, error: Message, method: str) -> None:
        self.error = error
        self.method = method
        self.code: int | None = error.get("code") if isinstance(error, dict) else None
        self.data: Any = error.get("data") if isinstance(error, dict) else None
        super().__init__(f"{method}: error {self.code}: {error.get('message')!r}")

    @property
    def field(self) -> Any:
        """``data.field``, if any."""
        return self.data.get("field") if isinstance(self.data, dict) else None


def frame(body: bytes) -> bytes:
    """One LSP frame around ``body``."""
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def encode(msg: Any) -> bytes:
    """JSON body bytes (lone surrogates travel as ``\\udcXX`` escapes)."""
    return json.dumps(msg, ensure_ascii=True, separators=(",", ":")).encode("ascii")


class Server:
    """One spawned server process and the messages it sent."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.next_id = 1000
        self.pending: dict[Any, asyncio.Future[Message]] = {}
        self.orphans: asyncio.Queue[Message] = asyncio.Queue()
        """Responses whose id matches no pending request (e.g. ``id`` null errors)."""
        self.notifications: list[Message] = []
        self.on_notification: list[Callable[[Message], None]] = []
        self.server_requests: list[Message] = []
        self.violations: list[str] = []
        """Framing problems seen on stdout: the suite fails a case that has any."""
        self.closed = asyncio.Event()
        self._tasks: set[asyncio.Future[None]] = set()
        self._reader = asyncio.ensure_future(self._read_loop())

    @classmethod
    async def spawn(
        cls, argv: list[str], *, cwd: str | None = None, env: dict[str, str] | None = None
    ) -> Server:
        """Start ``argv`` with pipes for stdin/stdout and stderr to DEVNULL (``env`` added)."""
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            cwd=cwd,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        return cls(proc)

    # -- reading -----------------------------------------------------------------------------

    async def _read_frame(self) -> bytes | None:
        stdout = self.proc.stdout
        assert stdout is not None
        length: int | None = None
        saw_header = False
        while True:
            line = await stdout.readline()
            if not line:
                if saw_header:
                    self.violations.append("stdout ended inside a frame header")
                return None
            if not line.endswith(b"\r\n"):
                self.violations.append(f"header line not ended by CRLF: {line[:80]!r}")
            text = line.strip()
            if not text:
                if length is None:
                    if saw_header:
                        self.violations.append("frame without Content-Length")
                    continue
                break
            saw_header = True
            name, sep, value = text.partition(b":")
            if not sep:
                self.violations.append(f"not a header line on stdout: {text[:80]!r}")
                continue
            if name.strip().lower() == b"content-length":
                try:
                    length = int(value.strip())
                except ValueError:
                    self.violations.append(f"bad Content-Length {value[:40]!r}")
        try:
            return await stdout.readexactly(length)
        except asyncio.IncompleteReadError:
            self.violations.append("stdout ended inside a frame body")
            return None

    async def _read_loop(self) -> None:
        try:
            while (body := await self._read_frame()) is not None:
                try:
                    msg = json.loads(body.decode("utf-8"))
                except (UnicodeDecodeError, ValueError) as exc:
                    self.violations.append(f"frame body is not UTF-8 JSON: {exc}")
                    continue
                if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0":
                    self.violations.append(f"not a JSON-RPC 2.0 object: {str(msg)[:120]}")
                    continue
                self._route(msg)
        finally:
            self.closed.set()
            for fut in self.pending.values():
                if not fut.done():
                    fut.set_exception(ServerGone("the server closed its stdout"))
                    fut.add_done_callback(lambda f: f.exception())  # retrieved: no warning

    def _route(self, msg: Message) -> None:
        if "method" in msg:
            if "id" in msg:
                # A server -> client request: answer null so the server is never left waiting.
                self.server_requests.append(msg)
                task = asyncio.ensure_future(
                    self.send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
                )
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                return
            self.notifications.append(msg)
            for handler in list(self.on_notification):
                handler(msg)
            return
        fut = self.pending.pop(msg.get("id"), None) if _hashable(msg.get("id")) else None
        if fut is not None and not fut.done():
            fut.set_result(msg)
        else:
            self.orphans.put_nowait(msg)

    # -- writing -----------------------------------------------------------------------------

    async def send_raw(self, data: bytes) -> None:
        """Write raw bytes to the server's stdin."""
        stdin = self.proc.stdin
        assert stdin is not None
        stdin.write(data)
        await stdin.drain()

    async def send(self, msg: Any) -> None:
        """Send one message as a frame."""
        await self.send_raw(frame(encode(msg)))

    def new_id(self) -> int:
        """A fresh request id."""
        self.next_id += 1
        return self.next_id

    async def call(
        self, method: str, params: Any = None, *, msg_id: Any = None, omit_params: bool = False
    ) -> Message:
        """Send a request and return the whole response message (result or error)."""
        fut = await self.start(method, params, msg_id=msg_id, omit_params=omit_params)
        return await self.wait(fut)

    async def start(
        self, method: str, params: Any = None, *, msg_id: Any = None, omit_params: bool = False
    ) -> asyncio.Future[Message]:
        """Send a request; the returned future resolves to its response."""
        rid = self.new_id() if msg_id is None else msg_id
        fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self.pending[rid] = fut
        msg: Message = {"jsonrpc": "2.0", "id": rid, "method": method}
        if not omit_params:
            msg["params"] = {} if params is None else params
        await self.send(msg)
        return fut

    async def wait(self, fut: asyncio.Future[Message], within: float = TIMEOUT) -> Message:
        """The response of :meth:`start`, within ``within`` seconds."""
        try:
            return await asyncio.wait_for(asyncio.shield(fut), within)
        except TimeoutError:
            raise TimeoutError(f"no answer within {within:g} s") from None

    async def request(self, method: str, params: Any = None) -> Any:
        """Send a request; return its result or raise :class:`RpcError`."""
        resp = await self.call(method, params)
        if "error" in resp:
            raise RpcError(resp["error"], method)
        return resp.get("result")

    async def notify(self, method: str, params: Any = None) -> None:
        """Send a notification."""
        await self.send(
            {"jsonrpc": "2.0", "method": method, "params": {} if params is None else params}
        )

    async def notification(
        self, want: Callable[[Message], bool], within: float = TIMEOUT
    ) -> Message:
        """The first notification ``want`` accepts: one already received, or the next to come.

        Cases await the event the protocol sends (a ``$/progress`` ``end``, a
        ``snapd/didSnapshot``) instead of polling for it.
        """
        for msg in self.notifications:
            if want(msg):
                return msg
        found: asyncio.Future[Message] = asyncio.get_running_loop().create_future()

        def on(msg: Message) -> None:
            if not found.done() and want(msg):
                found.set_result(msg)

        self.on_notification.append(on)
        closed = asyncio.ensure_future(self.closed.wait())
        either: set[asyncio.Future[Any]] = {found, closed}
        try:
            await asyncio.wait(either, timeout=within, return_when="FIRST_COMPLETED")
        finally:
            self.on_notification.remove(on)
            closed.cancel()
            await asyncio.gather(closed, return_exceptions=True)
        if found.done():
            return found.result()
        found.cancel()
        if self.closed.is_set():
            raise ServerGone("the server closed its stdout")
        raise TimeoutError(f"no such notification within {within:g} s")

    async def next_orphan(self, within: float = TIMEOUT) -> Message:
        """The next response that answered no pending request (e.g. an ``id`` null error)."""
        if not self.orphans.empty():
            return self.orphans.get_nowait()
        get = asyncio.ensure_future(self.orphans.get())
        closed = asyncio.ensure_future(self.closed.wait())
        try:
            await asyncio.wait({get, closed}, timeout=within, return_when="FIRST_COMPLETED")
        finally:
            for task in (get, closed):
                if not task.done():
                    task.cancel()
            await asyncio.gather(get, closed, return_exceptions=True)
        if not get.cancelled() and get.exception() is None:
            return get.result()
        if self.closed.is_set():
            raise ServerGone("the server closed its stdout")
        raise TimeoutError(f"no answer within {within:g} s")

    # -- ending ------------------------------------------------------------------------------

    async def close_stdin(self) -> None:
        """Close the server's stdin (EOF)."""
        stdin = self.proc.stdin
        if stdin is not None and not stdin.is_closing():
            stdin.close()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await stdin.wait_closed()

    async def wait_exit(self, within: float = 10.0) -> int | None:
        """The exit code, or None when the process did not exit within ``within``."""
        try:
            return await asyncio.wait_for(self.proc.wait(), within)
        except TimeoutError:
            return None

    async def kill(self) -> None:
        """Stop the process (if still running) and the reader."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(self._reader, 5)


def _hashable(value: Any) -> bool:
    return isinstance(value, int | str) and not isinstance(value, bool)
