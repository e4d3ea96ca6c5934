"""Atomic exchange and no-replace renames inside one directory (``renameat2`` on Linux).

A restore must never lose an edit that lands between its last check of a path and the rename
that replaces it (issue 13, item 5). A plain ``rename`` cannot tell what it replaced; with
``RENAME_EXCHANGE`` the new file and the old one swap names in one step, so what was swapped
out can be checked *after* the swap (nothing can write to it by path any more) and swapped
back if it is not what the restore checked. ``RENAME_NOREPLACE`` creates a path only if it is
still absent.

``renameat2`` is called through ctypes (glibc 2.28+). Elsewhere, or on a file system that does
not support a flag (``EINVAL``, remembered per device), the functions say so and the caller
falls back to a check right before a plain rename.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys
from typing import Any, Final

RENAME_NOREPLACE: Final = 1
"""Fail with ``EEXIST`` instead of replacing the destination."""

RENAME_EXCHANGE: Final = 2
"""Swap source and destination (both must exist)."""

_UNSUPPORTED: Final = frozenset({errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP})


def _load() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_renameat2: Any = _load()
_works: dict[tuple[int, int], bool] = {}
"""Per (flag, device): False once that file system refused the flag (callers fall back there;
one mount without ``RENAME_EXCHANGE`` does not turn it off for the others)."""
_ANY_DEVICE: Final = -1
"""The key's device when the kernel itself has no ``renameat2`` (``ENOSYS``): everywhere."""


def supported(flags: int, dev: int = _ANY_DEVICE) -> bool:
    """True unless ``renameat2`` with ``flags`` is known not to work here (on device ``dev``)."""
    if _renameat2 is None or not _works.get((flags, _ANY_DEVICE), True):
        return False
    return _works.get((flags, dev), True)


def rename2(dir_fd: int, src: bytes, dst: bytes, flags: int) -> bool:
    """``renameat2(dir_fd, src, dir_fd, dst, flags)``: rename within one directory.

    Returns:
        True when done; False when ``renameat2`` or the flag is not supported here (nothing
        was renamed: the caller falls back).

    Raises:
        OSError: the rename failed (``EEXIST`` for ``RENAME_NOREPLACE`` onto an existing path,
            ``ENOENT`` for ``RENAME_EXCHANGE`` when a side is missing, ...).
    """
    if not supported(flags):
        return False
    dev = os.fstat(dir_fd).st_dev
    if not supported(flags, dev):
        return False
    if _renameat2(dir_fd, src, dir_fd, dst, flags) == 0:
        return True
    err = ctypes.get_errno()
    if err in _UNSUPPORTED:
        # EINVAL also covers "this file system has no RENAME_EXCHANGE": remember per device;
        # ENOSYS (no renameat2 in this kernel) holds for all of them.
        _works[(flags, _ANY_DEVICE if err == errno.ENOSYS else dev)] = False
        return False
    raise OSError(err, os.strerror(err), os.fsdecode(dst))
