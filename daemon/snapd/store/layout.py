"""The store directory on disk: the bare repository layout and the single-writer lock."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from typing import Final

from snapd.store.errors import LockedError, StoreError
from snapd.store.objects import SNAPSHOT_REF

LOCK_NAME: Final = "snapd.lock"


def create_layout(path: str) -> None:
    """Create a bare repository layout if absent (what ``git init --bare`` makes, minus hooks)."""
    os.makedirs(path, exist_ok=True)
    for sub in ("objects/info", "objects/pack", "refs/heads", "refs/tags"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    head = os.path.join(path, "HEAD")
    if not os.path.exists(head):
        _write_new(head, b"ref: " + SNAPSHOT_REF + b"\n")
    config = os.path.join(path, "config")
    if not os.path.exists(config):
        _write_new(
            config,
            b"[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n"
            b"[gc]\n\tauto = 0\n",
        )
    description = os.path.join(path, "description")
    if not os.path.exists(description):
        _write_new(description, b"snapd sidecar store: snapshots of a worktree\n")


def _write_new(path: str, data: bytes) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def acquire_lock(path: str) -> int:
    """Take the store's single-writer lock (``flock``) and name the holder in the lock file."""
    lock_path = os.path.join(path, LOCK_NAME)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            os.close(fd)
            raise StoreError(f"cannot lock {lock_path}: {exc.strerror or exc}") from exc
        try:
            holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
        except ValueError:
            holder = {}
        os.close(fd)
        raise LockedError(path, holder) from exc
    # flock is released by the kernel when the holder dies, so a lock left by a killed daemon is
    # never stale; the file's content is only there to name the holder in the error.
    info = {"pid": os.getpid(), "host": socket.gethostname(), "since": int(time.time())}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)
    return fd


def object_ids(objects_dir: str) -> set[bytes] | None:
    """Every object id in the store (raw 20 bytes), read from pack indexes and loose dirs.

    For checking many ids at once (a loaded stat cache): reading the indexes whole is far
    cheaper than one lookup per id. None when a pack index is not version 2 (the caller
    falls back to :meth:`contains`).
    """
    ids: set[bytes] = set()
    pack_dir = os.path.join(objects_dir, "pack")
    try:
        names = os.listdir(pack_dir)
    except FileNotFoundError:
        names = []
    for name in names:
        if not name.endswith(".idx"):
            continue
        with open(os.path.join(pack_dir, name), "rb") as fh:
            head = fh.read(8 + 256 * 4)
            if head[:8] != b"\377tOc\0\0\0\2" or len(head) != 8 + 256 * 4:
                return None
            count = int.from_bytes(head[-4:], "big")
            table = fh.read(20 * count)
        if len(table) != 20 * count:
            return None
        ids.update(table[i : i + 20] for i in range(0, len(table), 20))
    with os.scandir(objects_dir) as it:
        for ent in it:
            if len(ent.name) == 2 and ent.is_dir(follow_symlinks=False):
                prefix = ent.name
                for rest in os.listdir(ent.path):
                    if len(rest) == 38:
                        with contextlib.suppress(ValueError):
                            ids.add(bytes.fromhex(prefix + rest))
    return ids
