"""``snapd --stdio`` as a thin forwarder to the worktree's shared daemon (issue 15, item 2).

An editor or an agent starts ``snapd --stdio`` and speaks LSP-framed JSON-RPC on its pipes,
as it always did. By default that process serves nothing itself: it reads the client's first
frame (``initialize``) to learn the worktree (``--root`` wins over it), finds the worktree's
shared daemon or starts it (:func:`snapd.autostart.connect_or_start`), sends the frame on, and
copies bytes both ways until either side closes. gopls's ``-remote=auto`` works the same way.

What the client sees is what a private daemon would do:

* ``exit`` ends the process with 0 after ``shutdown`` and 1 without, as LSP asks (the forwarder
  reads the client's frames to know; the daemon's answers, which can be large, are copied
  without being parsed).
* Options given on the forwarder's command line (``--content-limit``) go into
  ``initializationOptions``, where the shared daemon checks them against the policy its other
  clients share (a mismatch is an error naming the key, never a silent change).
* A first frame that is not a well-formed ``initialize`` naming a worktree (garbage, a huge
  length, a request before ``initialize``, no root at all) is served in-process, exactly as
  ``--standalone`` would, so the client gets the same error answers as before.
* A daemon that was stopping when the client connected closes the connection before it
  answers; the forwarder then looks for (or starts) a daemon again, a bounded number of times.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import socket
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any, Final
from urllib.parse import unquote, urlparse

from snapd.autostart import Place, connect_or_start, locate
from snapd.rendezvous import RendezvousError

logger = logging.getLogger(__name__)

FIRST_FRAME_MAX: Final = 1 << 20
"""Bytes the forwarder reads of the first frame (an ``initialize`` is a few hundred)."""

HEADER_LINE_MAX: Final = 8192
"""A longer header line is the daemon's to report, not the forwarder's to read."""

INSPECT_MAX: Final = 1 << 16
"""Client frames up to this size are parsed to see ``shutdown`` and ``exit``; bigger ones are
copied in chunks without being held (no lifecycle message is that large)."""

CHUNK: Final = 1 << 16

RECONNECTS: Final = 3
"""Times the forwarder starts over when a daemon closes the connection before answering."""


class _Replay(io.RawIOBase):
    """``prefix``, then the rest of ``stream``: the bytes the forwarder read, given back."""

    def __init__(self, prefix: bytes, stream: io.BufferedIOBase) -> None:
        super().__init__()
        self._prefix = prefix
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._prefix:
            n = min(len(view), len(self._prefix))
            view[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._stream.read1(len(view))
        view[: len(data)] = data
        return len(data)


class FirstFrame:
    """The client's first frame as read: its raw bytes and, if it is one, the ``initialize``."""

    def __init__(self, raw: bytes, message: dict[str, Any] | None) -> None:
        self.raw = raw
        self.message = message

    @classmethod
    def read(cls, stdin: io.BufferedIOBase) -> FirstFrame:
        """Read one frame's headers and (if small enough) its body; never more."""
        raw = bytearray()
        length: int | None = None
        while True:
            line = stdin.readline(HEADER_LINE_MAX)
            raw += line
            if not line or not line.endswith(b"\n"):
                return cls(bytes(raw), None)
            text = line.strip()
            if not text:
                if length is None:
                    if raw.strip():
                        return cls(bytes(raw), None)
                    continue  # blank lines before the frame
                break
            name, sep, value = text.partition(b":")
            if not sep:
                return cls(bytes(raw), None)
            if name.strip().lower() == b"content-length":
                value = value.strip()
                if not value.isdigit() or int(value) > FIRST_FRAME_MAX:
                    return cls(bytes(raw), None)
                length = int(value)
        body = stdin.read(length)
        raw += body
        if len(body) < length:
            return cls(bytes(raw), None)
        try:
            message = json.loads(body)
        except (ValueError, RecursionError):
            return cls(bytes(raw), None)
        if not (
            isinstance(message, dict)
            and message.get("method") == "initialize"
            and "id" in message
            and isinstance(message.get("params"), dict)
        ):
            return cls(bytes(raw), None)
        return cls(bytes(raw), message)

    def root(self) -> str | None:
        """The worktree the ``initialize`` names (``rootUri``, ``rootPath``, first folder)."""
        if self.message is None:
            return None
        params = self.message["params"]
        uri = params.get("rootUri")
        if isinstance(uri, str) and uri:
            return _file_uri_path(uri)
        path = params.get("rootPath")
        if isinstance(path, str) and path:
            return path
        folders = params.get("workspaceFolders")
        if isinstance(folders, list) and folders and isinstance(folders[0], dict):
            folder = folders[0].get("uri")
            return _file_uri_path(folder) if isinstance(folder, str) else None
        return None

    def rewritten(self, root: str | None, options: Mapping[str, Any]) -> bytes:
        """The frame to send: ``--root`` as ``rootUri``, command-line options merged in."""
        if self.message is None or (root is None and not options):
            return self.raw
        message = json.loads(json.dumps(self.message))
        params = message["params"]
        if root is not None:
            params["rootUri"] = _path_uri(root)
            params.pop("rootPath", None)
        if options:
            given = params.get("initializationOptions")
            params["initializationOptions"] = {
                **(given if isinstance(given, dict) else {}),
                **options,
            }
        body = json.dumps(message, separators=(",", ":")).encode("utf-8")
        return b"Content-Length: %d\r\n\r\n" % len(body) + body


def _file_uri_path(uri: str) -> str | None:
    parsed = urlparse(uri)
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        return None
    return unquote(parsed.path, errors="surrogateescape") or None


def _path_uri(path: str) -> str:
    from pathlib import Path

    return Path(os.path.abspath(path)).as_uri()


class _Lifecycle:
    """What the client said of the LSP lifecycle: ``shutdown`` and ``exit`` seen."""

    def __init__(self) -> None:
        self.shutdown = False
        self.exit = False
        self.stdin_closed = False

    def see(self, body: bytes) -> None:
        try:
            message = json.loads(body)
        except (ValueError, RecursionError):
            return
        if not isinstance(message, dict):
            return
        method = message.get("method")
        if method == "shutdown" and "id" in message:
            self.shutdown = True
        elif method == "exit":
            self.exit = True

    def exit_code(self) -> int:
        if self.exit:
            return 0 if self.shutdown else 1
        return 0


def _pump_in(stdin: io.BufferedIOBase, conn: socket.socket, lifecycle: _Lifecycle) -> None:
    """Copy the client's frames to the daemon, watching for ``shutdown`` and ``exit``."""
    try:
        while True:
            length: int | None = None
            seen = False
            while True:
                line = stdin.readline(HEADER_LINE_MAX)
                if not line:
                    return
                conn.sendall(line)
                text = line.strip()
                if not text:
                    if seen:
                        break
                    continue
                seen = True
                name, _, value = text.partition(b":")
                if name.strip().lower() == b"content-length" and value.strip().isdigit():
                    length = int(value.strip())
            if length is None:
                continue
            if length <= INSPECT_MAX:
                # Seen before it is sent: the daemon may hang up as soon as it has `exit`.
                body = stdin.read(length)
                lifecycle.see(body)
                conn.sendall(body)
                if len(body) < length:
                    return
                continue
            while length > 0:
                chunk = stdin.read(min(length, CHUNK))
                if not chunk:
                    return
                conn.sendall(chunk)
                length -= len(chunk)
    except OSError as exc:
        logger.info("stopped copying to the daemon: %s", exc)
    finally:
        lifecycle.stdin_closed = True
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_WR)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def forward(
    *,
    root: str | None,
    store: str | None,
    options: Mapping[str, Any],
    daemon_args: Sequence[str],
    data_home: str,
    runtime: str | None,
    tmp: str,
    uid: int,
    env: Mapping[str, str],
    standalone: Callable[[IO[bytes]], int],
) -> int:
    """Serve the client on stdin/stdout through the shared daemon; the exit code.

    Args:
        root: ``--root``, or None to take the worktree from ``initialize``.
        store: ``--store``, or None for the default.
        options: Command-line options to put in ``initializationOptions``.
        daemon_args: Flags for a daemon started here (``--idle-timeout``, ``-v``, ...).
        data_home: ``$XDG_DATA_HOME`` (or its default).
        runtime: ``$XDG_RUNTIME_DIR``, None when unset.
        tmp: The temp directory.
        uid: The user's uid.
        env: The environment of a daemon started here.
        standalone: Serves in-process on the given stdin (the first frame replayed first),
            for a client whose first frame names no worktree.
    """
    stdin = io.BufferedReader(io.FileIO(sys.stdin.fileno(), "rb", closefd=False), CHUNK)
    first = FirstFrame.read(stdin)
    worktree = root if root is not None else first.root()
    if first.message is None or worktree is None:
        logger.info("the first frame is not an initialize naming a worktree: serving it here")
        return standalone(io.BufferedReader(_Replay(first.raw, stdin), CHUNK))
    try:
        place = locate(worktree, store, data_home=data_home, runtime=runtime, tmp=tmp, uid=uid)
    except RendezvousError as exc:
        sys.stderr.write(f"snapd: {exc}\n")
        return 1
    frame = first.rewritten(root, options)
    for _ in range(RECONNECTS):
        try:
            conn = connect_or_start(place, uid=uid, env=env, args=daemon_args)
        except RendezvousError as exc:
            sys.stderr.write(f"snapd: {exc}\n")
            return 1
        answer = _handshake(conn, frame)
        if answer:
            return _copy(stdin, conn, answer, place)
        logger.info("the daemon at %s closed the connection before answering", place.socket)
        conn.close()
    sys.stderr.write(
        f"snapd: the snapd daemon at {place.socket} keeps closing the connection before it "
        f"answers; its log is {place.log}\n"
    )
    return 1


def _handshake(conn: socket.socket, frame: bytes) -> bytes:
    """Send the first frame; the daemon's first bytes (b'' if it closed without a word)."""
    try:
        conn.sendall(frame)
        return conn.recv(CHUNK)
    except OSError:
        return b""


def _copy(stdin: io.BufferedIOBase, conn: socket.socket, answer: bytes, place: Place) -> int:
    """Copy both ways until the daemon closes the connection; the exit code."""
    lifecycle = _Lifecycle()
    threading.Thread(
        target=_pump_in, args=(stdin, conn, lifecycle), name="snapd-forward-in", daemon=True
    ).start()
    out = sys.stdout.fileno()
    try:
        data = answer
        while data:
            _write_all(out, data)
            data = conn.recv(CHUNK)
    except BrokenPipeError:
        logger.info("the client closed our stdout")
        return 1
    except OSError as exc:
        logger.info("the connection to the daemon broke: %s", exc)
    finally:
        conn.close()
    if not lifecycle.exit and not lifecycle.stdin_closed:
        sys.stderr.write(
            f"snapd: the snapd daemon for {place.root} closed the connection; its log is "
            f"{place.log}\n"
        )
        return 1
    return lifecycle.exit_code()
