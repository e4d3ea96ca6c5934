"""Restore under injected faults: an error after a swap or a rename aside never loses a file.

Each test injects one fault (monkeypatch) at the instant the user's file is under a temporary
name or has just been checked, and asserts the user's content is still at its path.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from snapd import fileswap, protocol
from snapd import restore as restoring
from snapd.service import Service
from tests.helpers import make_service, write


def snap(svc: Service) -> str:
    return svc.snapshot(protocol.SnapshotParams()).id


def apply(svc: Service, from_: str, **kw: object) -> protocol.RestoreResult:
    return svc.restore(protocol.RestoreParams(from_=from_, dry_run=False, **kw))  # type: ignore[arg-type]


def leftovers(root: Path) -> list[str]:
    return [p.name for p in root.iterdir() if p.name.startswith(".snapd-restore-")]


@pytest.fixture
def svc(worktree: Path, store_dir: Path):
    s = make_service(worktree, store_dir, content_limit=1000)
    yield s
    s.close()


@pytest.fixture
def exchange() -> None:
    if not fileswap.supported(fileswap.RENAME_EXCHANGE):
        pytest.skip("no renameat2 here")


def _eio(*_: object) -> str | None:
    raise OSError(errno.EIO, "Input/output error")


def test_an_error_checking_what_was_swapped_out_swaps_it_back(
    svc: Service, worktree: Path, monkeypatch: pytest.MonkeyPatch, exchange: None
) -> None:
    write(worktree, "w.txt", "v1\n")
    s1 = snap(svc)
    write(worktree, "w.txt", "user\n")
    # Reading the swapped-out file fails (EIO): it is the user's file, under the temporary name.
    monkeypatch.setattr(restoring, "_still_checked", _eio)
    res = apply(svc, s1)
    assert res.conflicted == 1 and res.conflicts is not None
    assert "Input/output error" in (res.conflicts[0].reason or "")
    assert (worktree / "w.txt").read_text() == "user\n"
    assert leftovers(worktree) == []


def test_a_failed_swap_back_keeps_the_users_file(
    svc: Service, worktree: Path, monkeypatch: pytest.MonkeyPatch, exchange: None
) -> None:
    write(worktree, "w.txt", "v1\n")
    s1 = snap(svc)
    write(worktree, "w.txt", "user\n")
    monkeypatch.setattr(restoring, "_still_checked", lambda *_: "it changed while the restore ran")
    real = fileswap.rename2
    calls = []

    def second_exchange_fails(dir_fd: int, src: bytes, dst: bytes, flags: int) -> bool:
        calls.append(flags)
        if flags == fileswap.RENAME_EXCHANGE and calls.count(flags) == 2:
            raise OSError(errno.EIO, "Input/output error")
        return real(dir_fd, src, dst, flags)

    monkeypatch.setattr(fileswap, "rename2", second_exchange_fails)
    res = apply(svc, s1)
    assert res.conflicted == 1 and res.conflicts is not None
    reason = res.conflicts[0].reason or ""
    # The user's content was not unlinked: it is kept under the name the reason gives.
    kept = leftovers(worktree)
    assert len(kept) == 1 and kept[0] in reason, reason
    assert (worktree / kept[0]).read_text() == "user\n"


@pytest.mark.parametrize("fault", ["check", "unlink"])
def test_an_error_after_a_delete_renamed_aside_puts_the_file_back(
    svc: Service, worktree: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    write(worktree, "keep.txt", "v1\n")
    s1 = snap(svc)
    write(worktree, "gone.txt", "user\n")
    if fault == "check":
        monkeypatch.setattr(restoring, "_still_checked", _eio)
    else:
        real_unlink = os.unlink

        def unlink(path: object, *args: object, **kw: object) -> None:
            if isinstance(path, bytes) and path.startswith(restoring.TMP_PREFIX):
                raise PermissionError(errno.EACCES, "Permission denied")
            real_unlink(path, *args, **kw)  # type: ignore[arg-type]

        monkeypatch.setattr(os, "unlink", unlink)
    res = apply(svc, s1)
    monkeypatch.undo()
    assert res.conflicted == 1 and res.conflicts is not None
    assert (worktree / "gone.txt").read_text() == "user\n"
    assert leftovers(worktree) == []
