"""fileswap: a file system that refuses a renameat2 flag turns it off for that device only."""

from __future__ import annotations

import ctypes
import errno
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from snapd import fileswap


def test_a_refused_flag_on_one_device_keeps_it_on_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = fileswap._renameat2
    if real is None or not os.path.isdir("/dev/shm"):
        pytest.skip("no renameat2 or no /dev/shm here")
    other = Path("/dev/shm")
    if os.stat(other).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs two file systems")
    monkeypatch.setattr(fileswap, "_works", {})
    refusing = os.stat(other).st_dev

    def renameat2(fd: int, src: bytes, fd2: int, dst: bytes, flags: int) -> Any:
        if os.fstat(fd).st_dev == refusing:  # a mount without RENAME_EXCHANGE
            ctypes.set_errno(errno.EINVAL)
            return -1
        return real(fd, src, fd2, dst, flags)

    monkeypatch.setattr(fileswap, "_renameat2", renameat2)
    with tempfile.TemporaryDirectory(dir=other) as there:
        for d in (Path(there), tmp_path):
            (d / "a").write_text("a")
            (d / "b").write_text("b")
        fd_there = os.open(there, os.O_RDONLY | os.O_DIRECTORY)
        fd_here = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            assert not fileswap.rename2(fd_there, b"a", b"b", fileswap.RENAME_EXCHANGE)
            assert (Path(there) / "a").read_text() == "a"  # nothing renamed: caller falls back
            # The other file system still swaps atomically.
            assert fileswap.rename2(fd_here, b"a", b"b", fileswap.RENAME_EXCHANGE)
            assert (tmp_path / "a").read_text() == "b" and (tmp_path / "b").read_text() == "a"
            assert not fileswap.rename2(fd_there, b"a", b"b", fileswap.RENAME_EXCHANGE)
        finally:
            os.close(fd_there)
            os.close(fd_here)
