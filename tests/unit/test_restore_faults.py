"""Restore under injected faults: an error after a swap or a rename aside never loses a file.

Each test injects one fault (monkeypatch) at the instant the user's file is under a temporary
name or has just been checked, and asserts the user's content is still at its path.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from snapd import errors, fileswap, protocol, requests
from snapd.restore import apply as restore_apply
from snapd.restore import fs as restore_fs
from snapd.store.errors import StoreError
from snapd.worktree import Worktree
from tests.helpers import make_service, write


def snap(svc: Worktree) -> str:
    return requests.snapshot(svc, protocol.SnapshotParams()).id


def apply(svc: Worktree, from_: str, **kw: object) -> protocol.RestoreResult:
    return requests.restore(svc, protocol.RestoreParams(from_=from_, dry_run=False, **kw))  # type: ignore[arg-type]


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
    svc: Worktree, worktree: Path, monkeypatch: pytest.MonkeyPatch, exchange: None
) -> None:
    write(worktree, "w.txt", "v1\n")
    s1 = snap(svc)
    write(worktree, "w.txt", "user\n")
    # Reading the swapped-out file fails (EIO): it is the user's file, under the temporary name.
    monkeypatch.setattr(restore_apply, "_still_checked", _eio)
    res = apply(svc, s1)
    assert res.conflicted == 1 and res.conflicts is not None
    assert "Input/output error" in (res.conflicts[0].reason or "")
    assert (worktree / "w.txt").read_text() == "user\n"
    assert leftovers(worktree) == []


def test_a_failed_swap_back_keeps_the_users_file(
    svc: Worktree, worktree: Path, monkeypatch: pytest.MonkeyPatch, exchange: None
) -> None:
    write(worktree, "w.txt", "v1\n")
    s1 = snap(svc)
    write(worktree, "w.txt", "user\n")
    monkeypatch.setattr(
        restore_apply, "_still_checked", lambda *_: "it changed while the restore ran"
    )
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
    svc: Worktree, worktree: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    write(worktree, "keep.txt", "v1\n")
    s1 = snap(svc)
    write(worktree, "gone.txt", "user\n")
    if fault == "check":
        monkeypatch.setattr(restore_apply, "_still_checked", _eio)
    else:
        real_unlink = os.unlink

        def unlink(path: object, *args: object, **kw: object) -> None:
            if isinstance(path, bytes) and path.startswith(restore_fs.TMP_PREFIX):
                raise PermissionError(errno.EACCES, "Permission denied")
            real_unlink(path, *args, **kw)  # type: ignore[arg-type]

        monkeypatch.setattr(os, "unlink", unlink)
    res = apply(svc, s1)
    monkeypatch.undo()
    assert res.conflicted == 1 and res.conflicts is not None
    assert (worktree / "gone.txt").read_text() == "user\n"
    assert leftovers(worktree) == []


@pytest.mark.parametrize("kind", ["write", "delete"])
def test_an_edit_right_after_the_check_of_an_uncaptured_file_is_never_lost(
    svc: Worktree, worktree: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    # Files without a captured blob (forced past the size limit or the ignore rules): only
    # their lstat data guards them.
    write(worktree, ".gitignore", "*.log\n")
    write(worktree, "big.txt", "small at first\n")
    s1 = snap(svc)
    if kind == "write":
        write(worktree, "big.txt", "user\n" + "x" * 5000)  # over the limit: not captured
        path, before = "big.txt", "user\n" + "x" * 5000
    else:
        write(worktree, "stray.log", "user\n")
        path, before = "stray.log", "user\n"
    checked = restore_apply._unchanged

    def check_then_edit(store, dir_fd, name, action):
        why = checked(store, dir_fd, name, action)
        if name == path.encode():
            with open(name, "ab", opener=lambda p, f: os.open(p, f, dir_fd=dir_fd)) as fh:
                fh.write(b"saved\n")
        return why

    monkeypatch.setattr(restore_apply, "_unchanged", check_then_edit)
    res = apply(svc, s1, force=[path])
    action = next(a for a in res.plan if a.path == path)
    assert action.forced and action.action.value == kind
    assert res.conflicted == 1, res
    assert (worktree / path).read_text() == before + "saved\n"
    assert leftovers(worktree) == []


def test_a_store_error_mid_restore_tells_the_watcher_the_path_was_left_alone(
    svc: Worktree, worktree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(worktree, "w.txt", "v1\n")
    s1 = snap(svc)
    write(worktree, "w.txt", "user\n")
    events: list[tuple[str, bytes | None]] = []
    svc.on_restore.append(lambda e: events.append((e.phase, e.path)))

    def broken(*_: object) -> bytes:
        raise StoreError("the store cannot be read")

    monkeypatch.setattr(restore_apply, "write_tmp", broken)
    with pytest.raises(errors.WorktreeFailure):
        apply(svc, s1)
    phases = [p for p, _ in events]
    assert phases == ["begin", "pending", "failed", "end"], events
    assert events[2][1] == b"w.txt"
    assert (worktree / "w.txt").read_text() == "user\n"


def test_each_replaced_file_is_hashed_once(
    svc: Worktree, worktree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(4):
        write(worktree, f"f{i}.txt", f"v1 {i}\n")
    s1 = snap(svc)
    for i in range(4):
        write(worktree, f"f{i}.txt", f"v2 {i}\n")
    write(worktree, "new.txt", "to delete\n")
    hashed: list[bytes] = []
    real = restore_fs.hash_file

    def counting(dir_fd: int, name: bytes) -> str | None:
        hashed.append(name)
        return real(dir_fd, name)

    monkeypatch.setattr(restore_apply, "hash_file", counting)
    res = apply(svc, s1)
    assert res.conflicted == 0 and res.written == 4 and res.deleted == 1
    # Untouched since the plan (same lstat signature): only the check right before the file
    # is replaced or deleted reads it (renameat2 or not, that check always hashes).
    assert len(hashed) == 5, hashed
