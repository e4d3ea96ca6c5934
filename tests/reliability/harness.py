"""Helpers for the reliability tests: a raw synchronous daemon, store checks, memory."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from snapd.errors import ALL_ERRORS, JSONRPC_CODES
from snapd_client import daemon_command
from tests.helpers import git, peak_rss_kib

DOCUMENTED_CODES = frozenset({cls.CODE for cls in ALL_ERRORS} | set(JSONRPC_CODES))
MIB = 1024 * 1024


def frame(message: Any) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class RawDaemon:
    """``snapd --stdio`` over pipes, with raw bytes in and parsed frames out (a thread reads)."""

    def __init__(self, cmd: list[str], **popen: Any) -> None:
        popen.setdefault("stderr", subprocess.DEVNULL)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, **popen)
        self.messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._ids = 1_000_000

    @classmethod
    def spawn(cls, root: Path, store: Path, log: Path, *extra: str, **popen: Any) -> RawDaemon:
        """Start a daemon; its stderr (tracebacks of a crash) goes to ``<log>.stderr``."""
        cmd = daemon_command(root, store=store, log_file=log, extra=extra)
        with open(f"{log}.stderr", "wb") as err:
            return cls(cmd, stderr=err, **popen)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        try:
            while True:
                length = None
                while True:
                    line = out.readline()
                    if not line:
                        return
                    line = line.strip()
                    if not line:
                        if length is not None:
                            break
                        continue
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = out.read(length)
                if len(body) != length:
                    return
                self.messages.put(json.loads(body))
        finally:
            self.messages.put(None)

    def send_raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, message: Any) -> None:
        self.send_raw(frame(message))

    def next_id(self) -> int:
        self._ids += 1
        return self._ids

    def receive(self, timeout: float = 30.0) -> dict[str, Any]:
        msg = self.messages.get(timeout=timeout)
        assert msg is not None, "the daemon closed its stdout"
        return msg

    def request(self, method: str, params: Any = None, timeout: float = 60.0) -> dict[str, Any]:
        """Send a request; return its response (other messages are checked and dropped)."""
        rid = self.next_id()
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        deadline = time.monotonic() + timeout
        while True:
            reply = self.receive(max(0.1, deadline - time.monotonic()))
            if reply.get("id") == rid and "method" not in reply:
                return reply
            if "id" in reply and "method" in reply:  # server->client request: accept it
                self.send({"jsonrpc": "2.0", "id": reply["id"], "result": None})

    def initialize(self, options: dict[str, Any] | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"processId": os.getpid(), "capabilities": {}}
        if options is not None:
            params["initializationOptions"] = options
        reply = self.request("initialize", params)
        self.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        return reply

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass

    def wait(self, timeout: float = 30.0) -> int:
        code = self.proc.wait(timeout)
        self._release()
        return code

    def kill(self) -> None:
        """SIGKILL (if still running) and release the pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._release()

    def _release(self) -> None:
        self.close_stdin()
        self._reader.join(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def peak_rss_kib(self) -> int:
        return peak_rss_kib(self.pid)


def assert_fsck_clean(store: Path) -> None:
    out = git(store, "fsck", "--strict", "--no-dangling", "--no-progress")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "error" not in out.stderr.lower(), out.stderr


def snapshot_ids(store: Path) -> list[str]:
    """The store's snapshots, newest first, read with git alone.

    One ref per snapshot (``refs/snapd/snapshots/<seq>``) when the store has them; otherwise
    the first-parent history of ``refs/heads/snapshots`` (the older layout).
    """
    out = git(store, "for-each-ref", "--format=%(objectname) %(refname)", "refs/snapd/snapshots/")
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines() if line.strip()]
    if rows:
        return [oid for oid, _name in sorted(rows, key=lambda r: r[1], reverse=True)]
    return first_parent_history(store)


def first_parent_history(store: Path) -> list[str]:
    out = git(store, "log", "--first-parent", "--format=%H", "refs/heads/snapshots")
    if out.returncode != 0 and "does not have any commits" in out.stderr + out.stdout:
        return []
    if out.returncode != 0 and "unknown revision" in out.stderr:
        return []
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def assert_snapshots_readable(
    store: Path, ids: list[str], *, ls_tree: list[str] | None = None
) -> None:
    """Every snapshot in ``ids`` is readable: all its trees and blobs are present.

    One ``git rev-list --objects --no-walk`` reads every tree of every listed snapshot and
    checks each object it names exists; ``ls_tree`` (default: all of ``ids``) are also listed
    with ``git ls-tree -r``.
    """
    if not ids:
        return
    listed = git(store, "rev-list", "--objects", "--no-walk", *ids)
    assert listed.returncode == 0, listed.stderr
    for oid in ids if ls_tree is None else ls_tree:
        out = git(store, "ls-tree", "-r", "--full-tree", oid)
        assert out.returncode == 0, (oid, out.stderr)
