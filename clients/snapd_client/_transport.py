"""Transports: how the client exchanges LSP-framed JSON messages with a daemon.

The client only needs :class:`Transport`; tests inject their own (e.g. an in-memory pair), and
:class:`StdioTransport` spawns ``snapd --stdio`` as a subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, Protocol

from snapd_client._errors import TransportClosed

MAX_FRAME = 64 * 1024 * 1024


class Transport(Protocol):
    """A bidirectional message channel."""

    async def send(self, message: dict[str, Any]) -> None:
        """Send one JSON-RPC message."""

    async def receive(self) -> dict[str, Any] | None:
        """Receive one message; None at end of stream."""

    async def close(self) -> None:
        """Close the channel (and stop the peer if we own it)."""


def encode_frame(message: dict[str, Any]) -> bytes:
    """LSP framing: ``Content-Length`` header, blank line, UTF-8 JSON body."""
    body = json.dumps(message, separators=(",", ":")).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """Read one LSP frame; None at EOF."""
    length: int | None = None
    while True:
        line = await reader.readline()
        if not line:
            return None
        line = line.strip()
        if not line:
            if length is not None:
                break
            continue
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length > MAX_FRAME:
        raise TransportClosed(f"frame of {length} bytes is over the client's limit")
    body = await reader.readexactly(length)
    message: dict[str, Any] = json.loads(body)
    return message


def daemon_command(
    root: str | os.PathLike[str] | None = None,
    *,
    store: str | os.PathLike[str] | None = None,
    log_file: str | os.PathLike[str] | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """The command line that starts this Python's ``snapd --stdio``."""
    cmd = [sys.executable, "-m", "snapd", "--stdio"]
    if root is not None:
        cmd += ["--root", os.fspath(root)]
    if store is not None:
        cmd += ["--store", os.fspath(store)]
    if log_file is not None:
        cmd += ["--log-file", os.fspath(log_file)]
    return cmd + list(extra)


class StdioTransport:
    """Spawn a daemon and talk to it over its stdin/stdout.

    The daemon's stderr goes to ``stderr`` (default: discarded), never to an undrained pipe: a
    chatty daemon writing into a full pipe would block forever. Prefer ``--log-file``.
    """

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        assert proc.stdin is not None and proc.stdout is not None
        self._stdin = proc.stdin
        self._stdout = proc.stdout

    @classmethod
    async def spawn(cls, cmd: Sequence[str], *, stderr: int | None = None) -> StdioTransport:
        """Start ``cmd`` (e.g. from :func:`daemon_command`)."""
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL if stderr is None else stderr,
            limit=MAX_FRAME,
        )
        return cls(proc)

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
            return await read_frame(self._stdout)
        except asyncio.IncompleteReadError:
            return None

    async def close(self) -> None:
        """Close stdin and wait for the daemon (kill it if it does not exit promptly)."""
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), timeout=10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
