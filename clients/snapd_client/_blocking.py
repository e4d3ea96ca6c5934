"""A blocking session with the worktree's shared daemon, on the standard library alone.

The command line's fast path. A short command such as ``snapd log`` spends most of its time
starting Python: the typed client (asyncio, attrs, cattrs and the wire classes) takes longer
to import than the daemon takes to answer. :class:`BlockingSession` speaks the same
LSP-framed JSON-RPC over the daemon's Unix socket with ``socket`` and ``json`` and hands back
the raw results (the wire's camelCase objects), which is all a command that only prints
needs. The LSP framing lives here; :mod:`snapd_client._transport` uses the same
:func:`encode_frame`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

from snapd_client._errors import SnapdClientError, TransportClosed, error_for

if TYPE_CHECKING:
    from snapd.autostart import Place

MAX_FRAME: Final = 64 * 1024 * 1024
"""The largest frame a client reads (the daemon's pages are far smaller)."""

RECONNECTS: Final = 3
"""Times a client starts over when a daemon closes before it answers ``initialize`` (it was
stopping as the client connected)."""


def encode_frame(message: dict[str, Any]) -> bytes:
    """LSP framing: ``Content-Length`` header, blank line, UTF-8 JSON body."""
    body = json.dumps(message, separators=(",", ":")).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def root_uri(root: str | os.PathLike[str]) -> str:
    """A ``file://`` URI for a worktree path."""
    return Path(os.path.abspath(root)).as_uri()


def initialize_params(
    root: str | os.PathLike[str] | None,
    options: dict[str, Any] | None = None,
    client_name: str | None = None,
) -> dict[str, Any]:
    """The params of ``initialize`` every Python client sends."""
    params: dict[str, Any] = {"processId": os.getpid(), "capabilities": {}}
    if client_name is not None:
        params["clientInfo"] = {"name": client_name}
    if root is not None:
        params["rootUri"] = root_uri(root)
    if options is not None:
        params["initializationOptions"] = options
    return params


def shared_place(
    root: str | os.PathLike[str], store: str | os.PathLike[str] | None, env: Mapping[str, str]
) -> Place:
    """Where the shared daemon of ``root`` lives (see :func:`snapd.autostart.locate`).

    Raises:
        TransportClosed: the runtime directory is unsafe or the socket path unusable.
    """
    from snapd.autostart import locate_from_env
    from snapd.rendezvous import RendezvousError

    try:
        return locate_from_env(root, store, env)
    except RendezvousError as exc:
        raise TransportClosed(str(exc)) from exc


def dial(place: Place, env: Mapping[str, str], daemon_args: Sequence[str] = ()) -> socket.socket:
    """A connection to the daemon of ``place``, started first (with ``daemon_args``) if none runs.

    Raises:
        TransportClosed: no daemon could be reached or started (the reason is a sentence).
    """
    from snapd.autostart import connect_or_start
    from snapd.rendezvous import RendezvousError

    try:
        return connect_or_start(place, uid=os.getuid(), env=env, args=daemon_args)
    except RendezvousError as exc:
        raise TransportClosed(str(exc)) from exc


class FrameHeaders:
    """The header lines of one LSP frame, fed one at a time (blocking and asyncio readers)."""

    def __init__(self) -> None:
        self._length: int | None = None

    def feed(self, line: bytes) -> bool:
        """Take one header line; True once the blank line ending the headers came."""
        line = line.strip()
        if not line:
            return self._length is not None  # blank lines before a frame are skipped
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            self._length = int(value.strip())
        return False

    def length(self) -> int:
        """The body's length.

        Raises:
            TransportClosed: it is over :data:`MAX_FRAME`.
        """
        assert self._length is not None  # feed() returned True
        if self._length > MAX_FRAME:
            raise TransportClosed(f"frame of {self._length} bytes is over the client's limit")
        return self._length


def read_frame(stream: IO[bytes]) -> dict[str, Any] | None:
    """Read one LSP frame from a blocking stream; None at EOF."""
    headers = FrameHeaders()
    while True:
        line = stream.readline(8192)
        if not line:
            return None
        if headers.feed(line):
            break
    length = headers.length()
    body = stream.read(length)
    if len(body) < length:
        return None
    message: dict[str, Any] = json.loads(body)
    return message


class BlockingSession:
    """One initialized connection to a daemon, used by one thread, request by request.

    Notifications (``snapd/didSnapshot``, ``$/progress``) are dropped, and the daemon's
    requests (``window/workDoneProgress/create``) accepted: a command that only prints has no
    use for them.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._stream = sock.makefile("rb")
        self._ids = itertools.count(1)
        self.initialize_result: dict[str, Any] | None = None

    @classmethod
    def connect(
        cls,
        root: str | os.PathLike[str],
        store: str | os.PathLike[str] | None,
        *,
        env: Mapping[str, str],
        client_name: str | None = None,
        options: dict[str, Any] | None = None,
        daemon_args: Sequence[str] = (),
    ) -> BlockingSession:
        """Join the shared daemon of ``root`` (starting it if none runs) and initialize.

        ``options`` go in ``initializationOptions``; ``daemon_args`` are flags for a daemon
        started here (``-v``, ``--log-file``).

        Raises:
            TransportClosed: no daemon could be reached or started (the reason is a sentence).
            ResponseError: the daemon refused ``initialize``.
        """
        place = shared_place(root, store, env)
        attempt = 0
        while True:
            attempt += 1
            session = cls(dial(place, env, daemon_args))
            try:
                session.initialize_result = session.request(
                    "initialize", initialize_params(root, options, client_name=client_name)
                )
                session.notify("initialized", {})
            except TransportClosed:
                session.abandon()
                if attempt >= RECONNECTS:
                    raise
                continue
            except BaseException:
                session.abandon()
                raise
            return session

    def _send(self, message: dict[str, Any]) -> None:
        try:
            self._sock.sendall(encode_frame(message))
        except OSError as exc:
            raise TransportClosed("the daemon closed the connection") from exc

    def notify(self, method: str, params: Any = None) -> None:
        """Send a notification."""
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self._send(message)

    def request(self, method: str, params: Any = None) -> Any:
        """Send a request and wait for its raw result.

        Raises:
            ResponseError: the daemon answered with an error (the subclass of its code).
            TransportClosed: the connection ended first.
        """
        msg_id = next(self._ids)
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            message["params"] = params
        self._send(message)
        while True:
            try:
                reply = read_frame(self._stream)
            except (OSError, ValueError) as exc:
                raise TransportClosed(f"the daemon closed the connection: {exc}") from exc
            if reply is None:
                raise TransportClosed("the daemon closed the connection")
            if "method" in reply:
                if "id" in reply:  # a request of the daemon's: accept it
                    self._send({"jsonrpc": "2.0", "id": reply["id"], "result": None})
                continue
            if reply.get("id") != msg_id:
                continue
            if "error" in reply:
                err = reply["error"] or {}
                raise error_for(
                    int(err.get("code", -32603)), str(err.get("message", "")), err.get("data")
                )
            return reply.get("result")

    def close(self) -> None:
        """``shutdown`` and ``exit`` (the shared daemon keeps serving its other clients)."""
        try:
            self.request("shutdown")
            self.notify("exit")
        except SnapdClientError:
            pass  # gone already: nothing to end
        finally:
            self.abandon()

    def abandon(self) -> None:
        """Close the connection without a word."""
        with contextlib.suppress(OSError):
            self._stream.close()
        with contextlib.suppress(OSError):
            self._sock.close()

    def __enter__(self) -> BlockingSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
