"""A small recursive inotify reader (Linux) that never loses an event silently.

watchfiles (through the notify crate) drops the kernel's ``IN_Q_OVERFLOW`` and the removal
of a watch on the floor, so a watcher built on it cannot tell "nothing changed" from "changes
were lost". This module reads the inotify queue itself and reports both as *doubt*: the
caller then walks the whole tree and starts a fresh instance (new watches everywhere, so a
directory whose creation event was lost gets one too).

It knows paths as bytes relative to the worktree root, the store's cookie directory and the
user's ``.git`` directory; nothing about snapshots or JSON-RPC.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import struct
import sys
from typing import Final

import attrs

IN_MODIFY: Final = 0x00000002
IN_ATTRIB: Final = 0x00000004
IN_CLOSE_WRITE: Final = 0x00000008
IN_MOVED_FROM: Final = 0x00000040
IN_MOVED_TO: Final = 0x00000080
IN_CREATE: Final = 0x00000100
IN_DELETE: Final = 0x00000200
IN_DELETE_SELF: Final = 0x00000400
IN_MOVE_SELF: Final = 0x00000800
IN_UNMOUNT: Final = 0x00002000
IN_Q_OVERFLOW: Final = 0x00004000
IN_IGNORED: Final = 0x00008000
IN_ONLYDIR: Final = 0x01000000
IN_DONT_FOLLOW: Final = 0x02000000
IN_EXCL_UNLINK: Final = 0x04000000
IN_ISDIR: Final = 0x40000000
IN_NONBLOCK: Final = os.O_NONBLOCK
IN_CLOEXEC: Final = os.O_CLOEXEC

CONTENT_MASK: Final = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
)
"""Everything that can change what a snapshot would capture (opens and reads are left out)."""

WATCH_FLAGS: Final = IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK

_HEADER: Final = struct.Struct("iIII")  # wd, mask, cookie, len (struct inotify_event)

READ_BYTES: Final = 256 * 1024
"""Bytes read per ``read(2)``; one call of :meth:`Inotify.read` reads at most this many."""

ROOT: Final = "root"
COOKIES: Final = "cookies"
GIT: Final = "git"
GIT_INFO: Final = "git-info"


def available() -> bool:
    """True where this module works (Linux with a C library exposing inotify)."""
    return sys.platform.startswith("linux") and _libc() is not None


_LIBC: list[ctypes.CDLL | None] = []


def _libc() -> ctypes.CDLL | None:
    if not _LIBC:
        lib: ctypes.CDLL | None
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            lib.inotify_init1.argtypes = [ctypes.c_int]
            lib.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
            lib.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
        except (OSError, AttributeError):
            lib = None
        _LIBC.append(lib)
    return _LIBC[0]


def _check(result: int, what: str, path: bytes | None = None) -> int:
    if result < 0:
        err = ctypes.get_errno()
        # The sentence is the C library's; ``what`` names the call for a debugger.
        exc = OSError(err, os.strerror(err), os.fsdecode(path) if path else None)
        exc.add_note(what)
        raise exc
    return result


@attrs.frozen
class Event:
    """One ``struct inotify_event``."""

    wd: int
    mask: int
    cookie: int
    name: bytes


class Inotify:
    """One non-blocking inotify instance: add and remove watches, read raw events."""

    def __init__(self) -> None:
        lib = _libc()
        if lib is None:
            raise OSError(errno.ENOSYS, "inotify is not available on this system")
        self._lib = lib
        self.fd = _check(lib.inotify_init1(IN_NONBLOCK | IN_CLOEXEC), "inotify_init1")

    def add_watch(self, path: bytes, mask: int) -> int:
        """Watch one directory; returns its watch descriptor (the same one if already watched).

        Raises:
            OSError: ENOSPC when the user's watch limit is reached, ENOENT, EACCES, ENOTDIR...
        """
        return _check(self._lib.inotify_add_watch(self.fd, path, mask), "inotify_add_watch", path)

    def rm_watch(self, wd: int) -> None:
        """Stop watching (the kernel then queues ``IN_IGNORED`` for ``wd``); gone is fine."""
        self._lib.inotify_rm_watch(self.fd, wd)

    def read(self) -> list[Event]:
        """The events queued now (up to :data:`READ_BYTES`); empty when none are."""
        try:
            data = os.read(self.fd, READ_BYTES)
        except BlockingIOError:
            return []
        events: list[Event] = []
        pos = 0
        while pos + _HEADER.size <= len(data):
            wd, mask, cookie, length = _HEADER.unpack_from(data, pos)
            pos += _HEADER.size
            name = data[pos : pos + length].rstrip(b"\0")
            pos += length
            events.append(Event(wd, mask, cookie, name))
        return events

    def close(self) -> None:
        """Release the instance and all its watches (idempotent)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


@attrs.define
class Batch:
    """What one read of the queue means to the watcher."""

    paths: list[bytes] = attrs.Factory(list)
    """Worktree paths (relative, ``/``-separated) that may have changed, in event order."""
    cookies: list[bytes] = attrs.Factory(list)
    """Names of files that appeared or changed in the cookie directory."""
    index: bool = False
    """The user's git index was replaced or changed."""
    rules: bool = False
    """``.git/info/exclude`` or ``.git/info/attributes`` changed: every decision may change."""
    doubt: str | None = None
    """Why events may have been lost (queue overflow, a watch the kernel dropped)."""
    events: int = 0


class Tree:
    """Recursive watches on a worktree, plus the cookie directory and the user's git dir.

    Every directory below the root is watched except those named ``.git`` (git metadata is
    never captured; the root's own ``.git`` is watched flat, for its ``index`` and ``info/``).
    New directories get watches as their events arrive and are reported themselves, so a
    snapshot lists them in full (their first entries may predate the watch).
    """

    def __init__(self, root: bytes, cookies: bytes) -> None:
        self.root = root
        self.cookies = cookies
        self.ino = Inotify()
        self._where: dict[int, tuple[str, bytes]] = {}
        """wd -> (role, worktree-relative directory for ROOT, else the absolute path)."""
        self._gone: set[int] = set()
        """Watches removed by us or deleted with their directory: their IN_IGNORED is expected."""
        self._info = os.path.join(root, b".git", b"info")
        """The git ``info`` directory watched (see :meth:`watch_git`)."""

    @property
    def fd(self) -> int:
        """The descriptor to poll for readability."""
        return self.ino.fd

    @property
    def watches(self) -> int:
        """Directories watched now."""
        return len(self._where)

    def close(self) -> None:
        """Drop every watch."""
        self.ino.close()
        self._where.clear()

    # -- watches -------------------------------------------------------------------------------

    def start(self) -> None:
        """Watch the cookie directory, the git dir and every directory of the worktree.

        Raises:
            OSError: the root or the cookie directory cannot be watched, or the watch limit
                (``fs.inotify.max_user_watches``) was reached.
        """
        self._add(self.cookies, COOKIES, self.cookies, required=True)
        self.watch_git()
        self.add_tree(b"", required=True)

    def _add(self, path: bytes, role: str, key: bytes, *, required: bool = False) -> bool:
        try:
            wd = self.ino.add_watch(path, CONTENT_MASK | WATCH_FLAGS)
        except OSError as exc:
            if required or exc.errno == errno.ENOSPC:
                raise
            return False  # gone, unreadable or no longer a directory: nothing to watch
        self._where[wd] = (role, key)
        self._gone.discard(wd)
        return True

    def watch_git(self) -> None:
        """Watch the root's ``.git`` directory and its ``info/`` (flat), if there is one."""
        from snapd.gitdir import git_dir, git_info_dir

        try:
            gitdir = git_dir(self.root)  # a linked worktree's ".git" names it elsewhere
        except OSError:
            return
        if gitdir is None:
            return
        self._add(gitdir, GIT, gitdir)
        # Where git reads info/exclude and info/attributes (the common dir's, when linked).
        self._info = git_info_dir(self.root)
        self._add(self._info, GIT_INFO, b"info")

    def add_tree(self, rel: bytes, *, required: bool = False) -> list[bytes]:
        """Watch ``rel`` and every directory below it (iteratively, no recursion on depth).

        Returns:
            The directories watched.
        """
        added: list[bytes] = []
        stack = [rel]
        while stack:
            current = stack.pop()
            full = os.path.join(self.root, current) if current else self.root
            if not self._add(full, ROOT, current, required=required and current == rel):
                continue
            added.append(current)
            try:
                with os.scandir(full) as it:
                    for entry in it:
                        if entry.name == b".git":
                            continue
                        try:
                            is_dir = entry.is_dir(follow_symlinks=False)
                        except OSError:
                            continue
                        if is_dir:
                            stack.append(current + b"/" + entry.name if current else entry.name)
            except OSError:
                continue  # vanished or unreadable meanwhile: its events say so
        return added

    def remove_tree(self, rel: bytes) -> None:
        """Stop watching ``rel`` and everything below it (it was moved away)."""
        prefix = rel + b"/"
        for wd, (role, where) in list(self._where.items()):
            if role == ROOT and (where == rel or where.startswith(prefix)):
                del self._where[wd]
                self._gone.add(wd)
                self.ino.rm_watch(wd)

    # -- events --------------------------------------------------------------------------------

    def read(self) -> Batch:
        """Read what is queued now and say what it means."""
        batch = Batch()
        events = self.ino.read()
        batch.events = len(events)
        for ev in events:
            self._event(ev, batch)
        return batch

    def _event(self, ev: Event, batch: Batch) -> None:
        if ev.mask & IN_Q_OVERFLOW:
            batch.doubt = "the kernel's inotify queue overflowed (events were lost)"
            return
        if ev.mask & IN_IGNORED:
            if ev.wd in self._gone:
                self._gone.discard(ev.wd)
                return
            where = self._where.pop(ev.wd, None)
            if where is not None:
                batch.doubt = f"the kernel dropped the watch on {os.fsdecode(where[1]) or '.'}"
            return
        if ev.mask & IN_UNMOUNT:
            batch.doubt = "a watched file system was unmounted"
            return
        where = self._where.get(ev.wd)
        if where is None:
            return  # a watch we removed (its directory moved): the new place is reported
        role, key = where
        if role == COOKIES:
            if ev.name:
                batch.cookies.append(ev.name)
            return
        if role == GIT:
            self._git_event(ev, batch)
            return
        if role == GIT_INFO:
            if ev.name in (b"exclude", b"attributes"):
                batch.rules = True
            elif ev.mask & (IN_DELETE_SELF | IN_MOVE_SELF):
                batch.rules = True
                self._drop(ev.wd)
            return
        if ev.mask & (IN_DELETE_SELF | IN_MOVE_SELF):
            if key == b"":
                batch.doubt = "the worktree root itself was deleted or moved"
                return
            if ev.mask & IN_DELETE_SELF:
                self._drop(ev.wd)  # deleted: its IN_IGNORED follows; the parent reports it
            return
        if not ev.name:
            return  # an event on the directory itself (its attributes): not content
        rel = key + b"/" + ev.name if key else ev.name
        if ev.name == b".git":
            if key == b"" and ev.mask & (IN_CREATE | IN_MOVED_TO):
                self.watch_git()  # "git init" after start
                batch.index = batch.rules = True
            return  # git metadata is never captured
        if ev.mask & IN_ISDIR:
            if ev.mask & IN_MOVED_FROM:
                self.remove_tree(rel)
            elif ev.mask & (IN_CREATE | IN_MOVED_TO):
                self.add_tree(rel)
        batch.paths.append(rel)

    def _git_event(self, ev: Event, batch: Batch) -> None:
        if ev.mask & (IN_DELETE_SELF | IN_MOVE_SELF):
            self._drop(ev.wd)
            batch.index = batch.rules = True
            return
        if ev.name == b"index":
            batch.index = True
        elif ev.name == b"info" and ev.mask & (IN_CREATE | IN_MOVED_TO):
            self._add(self._info, GIT_INFO, b"info")
            batch.rules = True

    def _drop(self, wd: int) -> None:
        """Forget a watch whose directory is gone (its IN_IGNORED is then expected)."""
        if self._where.pop(wd, None) is not None:
            self._gone.add(wd)
