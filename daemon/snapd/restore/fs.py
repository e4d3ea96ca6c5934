"""Symlink-proof file operations relative to the worktree's root fd.

Every directory is opened from the root one component at a time with ``O_NOFOLLOW`` (a
symlink or file where a directory should be refuses the path); files are written to a
temporary file in the same directory and fsynced before they are swapped into place.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterable
from typing import Final

import attrs

from snapd.store.objects import MODE_EXEC

TMP_PREFIX: Final = b".snapd-restore-"
"""Temporary files of an interrupted restore start with this. They are captured like any
file, so restoring the safety snapshot (which does not hold them) removes them."""


SYMLINK_MAX: Final = 64 * 1024
"""A symlink target longer than this is not a symlink snapd wrote (PATH_MAX is 4096)."""


class InTheWay(Exception):
    """A path component is a symlink or not a directory."""

    def __init__(self, prefix: bytes) -> None:
        super().__init__(prefix)
        self.prefix = prefix


_DIR_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@attrs.define
class _Dir:
    """An open directory reached from the root, and the identity of each level on the way.

    Only the last level's descriptor is held (a 1,500-deep path must not take 1,500
    descriptors): going back up (pruning emptied directories) opens ``..`` and checks its
    device and inode against ``ids``, so a directory moved meanwhile stops the climb.
    """

    fd: int
    ids: list[tuple[int, int]]
    """(st_dev, st_ino) of the root and of each directory down to ``fd``'s."""

    def close(self) -> None:
        """Close the held descriptor."""
        if self.fd != -1:
            os.close(self.fd)
            self.fd = -1

    def up(self) -> bool:
        """Move to the parent level (False, staying put, if it is not the one walked down)."""
        if len(self.ids) < 2:
            return False
        try:
            parent = os.open(b"..", _DIR_FLAGS, dir_fd=self.fd)
        except OSError:
            return False
        st = os.fstat(parent)
        if (st.st_dev, st.st_ino) != self.ids[-2]:
            os.close(parent)
            return False
        os.close(self.fd)
        self.fd = parent
        self.ids.pop()
        return True


def open_dirs(root_fd: int, parts: list[bytes], *, create: bool) -> _Dir:
    """Open the directory ``parts`` names from the root, never following a symlink.

    Each level is opened from the one above and the one above is closed at once: one
    descriptor at a time, whatever the depth.

    Returns:
        The open directory (the caller closes it).

    Raises:
        InTheWay: a component is a symlink, a file, or not a plain name.
        FileNotFoundError: a component is missing and ``create`` is false.
    """
    here = _Dir(os.open(b".", _DIR_FLAGS, dir_fd=root_fd), [])
    try:
        st = os.fstat(here.fd)
        here.ids.append((st.st_dev, st.st_ino))
        for i, name in enumerate(parts):
            if name in (b"", b".", b"..", b".git"):
                raise InTheWay(b"/".join(parts[: i + 1]))
            try:
                fd = os.open(name, _DIR_FLAGS, dir_fd=here.fd)
            except FileNotFoundError:
                if not create:
                    raise
                try:
                    os.mkdir(name, 0o777, dir_fd=here.fd)
                except FileExistsError:
                    pass  # created meanwhile: the open below checks what it is
                try:
                    fd = os.open(name, _DIR_FLAGS, dir_fd=here.fd)
                except OSError as exc:
                    raise InTheWay(b"/".join(parts[: i + 1])) from exc
            except OSError as exc:
                # ELOOP: a symlink (O_NOFOLLOW); ENOTDIR: a file or a symlink (O_DIRECTORY).
                if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                    raise InTheWay(b"/".join(parts[: i + 1])) from exc
                raise
            os.close(here.fd)
            here.fd = fd
            st = os.fstat(fd)
            here.ids.append((st.st_dev, st.st_ino))
    except BaseException:
        here.close()
        raise
    return here


def lstat_at(dir_fd: int, name: bytes) -> os.stat_result | None:
    """``lstat`` of ``name`` in ``dir_fd``, or None when it does not exist."""
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def hash_file(dir_fd: int, name: bytes) -> str | None:
    """The git blob id of a regular file, streamed (None if it is not one or is unreadable)."""
    try:
        fd = os.open(
            name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd
        )
    except OSError:
        return None
    with os.fdopen(fd, "rb", buffering=0) as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        h = hashlib.sha1(b"blob %d\0" % st.st_size)
        n = 0
        while chunk := fh.read(256 * 1024):
            h.update(chunk)
            n += len(chunk)
        return h.hexdigest() if n == st.st_size else None


def tmp_name() -> bytes:
    """A fresh temporary file name (removed by restoring the safety snapshot if left behind)."""
    return TMP_PREFIX + b"%d-%s.tmp" % (os.getpid(), os.urandom(6).hex().encode())


def perm_for(new_mode: int | None, existing: os.stat_result | None) -> int:
    """Permission bits for a restored file: git's exec bit on the file's own other bits."""
    exec_ = new_mode == MODE_EXEC
    if existing is None or not stat.S_ISREG(existing.st_mode):
        return 0o755 if exec_ else 0o644
    perm = existing.st_mode & 0o666
    return perm | ((perm & 0o444) >> 2) if exec_ else perm


def write_tmp(dir_fd: int, chunks: Iterable[bytes], size: int, perm: int) -> bytes:
    """Write new content to a fresh temporary file in the directory, fsynced; its name."""
    tmp = tmp_name()
    fd = os.open(
        tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
        dir_fd=dir_fd,
    )  # fmt: skip
    try:
        written = 0
        for chunk in chunks:
            view = memoryview(chunk)
            while view:
                n = os.write(fd, view)
                view = view[n:]
                written += n
        if written != size:
            raise OSError(errno.EIO, f"wrote {written} bytes, expected {size}")
        os.fchmod(fd, perm)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        unlink_quietly(dir_fd, tmp)
        raise
    os.close(fd)
    return tmp


def unlink_quietly(dir_fd: int, name: bytes) -> None:
    """Remove ``name`` in ``dir_fd`` if it is there; errors are ignored."""
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass


def same_file(a: os.stat_result | None, b: os.stat_result | None) -> bool:
    """True if two ``lstat`` results are the same inode with the same data.

    Not ``st_ctime``: renaming a file changes it. A write that restores the mtime is caught
    by the content hash (captured files).
    """
    if a is None or b is None:
        return a is b
    return (a.st_dev, a.st_ino, a.st_mode, a.st_size, a.st_mtime_ns) == (
        b.st_dev,
        b.st_ino,
        b.st_mode,
        b.st_size,
        b.st_mtime_ns,
    )


def write_link(dir_fd: int, target: bytes) -> bytes:
    """Create a symlink under a fresh temporary name; its name."""
    tmp = tmp_name()
    os.symlink(target, tmp, dir_fd=dir_fd)
    return tmp
