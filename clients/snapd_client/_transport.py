"""Transports: how the client exchanges LSP-framed JSON messages with a daemon.

The client only needs :class:`Transport`; tests inject their own (e.g. an in-memory pair), and
:class:`StdioTransport` spawns ``snapd --stdio`` as a subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
from collections.abc import Sequence
from typing import Any, Final, Protocol

from snapd_client._blocking import MAX_FRAME, FrameHeaders, encode_frame
from snapd_client._errors import TransportClosed


class Transport(Protocol):
    """A bidirectional message channel."""

    async def send(self, message: dict[str, Any]) -> None:
        """Send one JSON-RPC message."""

    async def receive(self) -> dict[str, Any] | None:
        """Receive one message; None at end of stream."""

    async def close(self) -> None:
        """Close the channel (and stop the peer if we own it)."""


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """Read one LSP frame; None at EOF."""
    headers = FrameHeaders()
    while True:
        line = await reader.readline()
        if not line:
            return None
        if headers.feed(line):
            break
    body = await reader.readexactly(headers.length())
    message: dict[str, Any] = json.loads(body)
    return message


def daemon_command(
    root: str | os.PathLike[str] | None = None,
    *,
    store: str | os.PathLike[str] | None = None,
    log_file: str | os.PathLike[str] | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """The command line that starts a private ``snapd --stdio --standalone`` of this Python.

    A private daemon serves only the client that started it, in its own process (its logs,
    its exit, its store lock); :meth:`AsyncClient.connect` joins the worktree's shared daemon
    instead.

    ``-P``: ``python -m`` would put the current directory first on ``sys.path``, so a
    ``json.py`` or ``typing.py`` in the directory the client runs in would replace the standard
    module inside the daemon and kill it at start-up. ``-I`` would fix that too, but also drop
    ``PYTHONPATH`` and the user's site-packages, where snapd may be installed.
    """
    cmd = [sys.executable, "-P", "-m", "snapd", "--stdio", "--standalone"]
    if root is not None:
        cmd += ["--root", os.fspath(root)]
    if store is not None:
        cmd += ["--store", os.fspath(store)]
    if log_file is not None:
        cmd += ["--log-file", os.fspath(log_file)]
    return cmd + list(extra)


STDERR_TAIL: Final = 4096
"""Bytes of the daemon's stderr kept to explain its death (the rest is read and dropped)."""

EXIT_WAIT: Final = 5.0
"""Seconds to wait, once the daemon closed its stdout, for it to exit and say why."""


class StdioTransport:
    """Spawn a daemon and talk to it over its stdin/stdout.

    The daemon's stderr goes to ``stderr`` when given; by default it is read continuously and
    only its last :data:`STDERR_TAIL` bytes are kept (an undrained pipe would block a chatty
    daemon forever), so a daemon that dies, e.g. during start-up, is reported with its own
    last words. Prefer ``--log-file`` for logs.
    """

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        assert proc.stdin is not None and proc.stdout is not None
        self._stdin = proc.stdin
        self._stdout = proc.stdout
        self._tail = b""
        self._drain: asyncio.Task[None] | None = None
        if proc.stderr is not None:
            self._drain = asyncio.get_running_loop().create_task(self._drain_stderr(proc.stderr))

    @classmethod
    async def spawn(cls, cmd: Sequence[str], *, stderr: int | None = None) -> StdioTransport:
        """Start ``cmd`` (e.g. from :func:`daemon_command`)."""
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE if stderr is None else stderr,
            limit=MAX_FRAME,
        )
        return cls(proc)

    async def _drain_stderr(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(65536):
            self._tail = (self._tail + chunk)[-STDERR_TAIL:]

    def stderr_tail(self, lines: int = 5) -> str:
        """The last few non-blank lines the daemon wrote on stderr (when this transport kept it)."""
        text = self._tail.decode("utf-8", "replace")
        return "\n".join([ln for ln in text.splitlines() if ln.strip()][-lines:])

    async def _death(self) -> str | None:
        """Why the daemon closed its stdout, if it exited with a failure status."""
        try:
            code = await asyncio.wait_for(self.proc.wait(), timeout=EXIT_WAIT)
            if self._drain is not None:
                await asyncio.wait_for(asyncio.shield(self._drain), timeout=EXIT_WAIT)
        except TimeoutError:
            return None
        if code == 0:
            return None
        tail = self.stderr_tail()
        said = f": {tail}" if tail else " (it wrote nothing on stderr)"
        return f"the daemon exited with status {code}{said}"

    async def send(self, message: dict[str, Any]) -> None:
        """Write one frame."""
        await self.send_raw(encode_frame(message))

    async def send_raw(self, data: bytes) -> None:
        """Write raw bytes (tests use it for malformed frames)."""
        try:
            self._stdin.write(data)
            await self._stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise TransportClosed("the daemon closed its stdin") from exc

    async def receive(self) -> dict[str, Any] | None:
        """Read one frame."""
        try:
            message = await read_frame(self._stdout)
        except asyncio.IncompleteReadError:
            message = None
        if message is None and (why := await self._death()) is not None:
            raise TransportClosed(why)
        return message

    async def close(self) -> None:
        """Close stdin and wait for the daemon (kill it if it does not exit promptly)."""
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), timeout=10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        if self._drain is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._drain, timeout=EXIT_WAIT)


class SocketTransport:
    """Talk to a shared daemon (``snapd --listen SOCKET``) over its Unix socket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def connect(cls, path: str) -> SocketTransport:
        """Connect to the daemon listening on ``path``.

        Raises:
            TransportClosed: no daemon listens there (absent, stale or refused).
        """
        try:
            reader, writer = await asyncio.open_unix_connection(path, limit=MAX_FRAME)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise TransportClosed(f"no snapd listens on {path} ({exc.strerror})") from exc
        return cls(reader, writer)

    @classmethod
    async def from_socket(cls, sock: socket.socket) -> SocketTransport:
        """Speak over an already connected Unix socket (it is taken over)."""
        reader, writer = await asyncio.open_unix_connection(sock=sock, limit=MAX_FRAME)
        return cls(reader, writer)

    async def send(self, message: dict[str, Any]) -> None:
        """Write one frame."""
        try:
            self._writer.write(encode_frame(message))
            await self._writer.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise TransportClosed("the daemon closed the connection") from exc

    async def receive(self) -> dict[str, Any] | None:
        """Read one frame; None when the daemon closed the connection."""
        try:
            return await read_frame(self._reader)
        except (asyncio.IncompleteReadError, ConnectionResetError):
            return None

    async def close(self) -> None:
        """Close the connection (the daemon keeps serving its other clients)."""
        self._writer.close()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            await self._writer.wait_closed()
