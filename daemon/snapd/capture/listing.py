"""Listing a directory the way a snapshot walks it."""

from __future__ import annotations

import errno
import os
import stat
from typing import Final

from snapd.capture.decision import LStat

UNLISTABLE_ERRNOS: Final = frozenset({errno.ENAMETOOLONG, errno.ELOOP, errno.ENOTDIR, errno.EIO})
"""Errors listing a worktree directory that skip it (as ``unreadable``) rather than fail."""


def sorted_entries(full: bytes) -> list[tuple[bytes, LStat]]:
    """A directory's entries with their lstat, in git tree order (directories sort as 'name/')."""
    out: list[tuple[bytes, bytes, LStat]] = []
    with os.scandir(full) as it:
        for ent in it:
            try:
                st = LStat.of(ent.stat(follow_symlinks=False))
            except FileNotFoundError:
                continue
            key = ent.name + b"/" if stat.S_ISDIR(st.st_mode) else ent.name
            out.append((key, ent.name, st))
    out.sort(key=lambda item: item[0])
    return [(name, st) for _key, name, st in out]


SUMMARY_MAX_ENTRIES: Final = 10_000
"""A skipped directory's summary walk stops after this many entries (bounded work)."""


def summarise(full: bytes, own_mtime_ns: int) -> tuple[int, int, int]:
    """(files, total bytes, newest mtime_ns) under a directory, from lstat only, bounded."""
    files = size = 0
    newest = own_mtime_ns
    seen = 0
    stack = [full]
    while stack and seen < SUMMARY_MAX_ENTRIES:
        try:
            with os.scandir(stack.pop()) as it:
                for ent in it:
                    seen += 1
                    if seen > SUMMARY_MAX_ENTRIES:
                        break
                    try:
                        st = ent.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    newest = max(newest, st.st_mtime_ns)
                    if stat.S_ISDIR(st.st_mode):
                        stack.append(ent.path)
                    else:
                        files += 1
                        size += st.st_size
        except OSError:
            continue
    return files, size, newest
