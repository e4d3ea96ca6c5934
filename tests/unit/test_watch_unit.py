"""Watcher pieces without a real watcher: the dirty set, batches, the filter, reconcile."""

from __future__ import annotations

import asyncio
from pathlib import Path

from watchfiles import Change

from snapd import protocol
from snapd.watch import OVERFLOW_BATCH, DirtySet, SnapdFilter, Watcher
from tests.helpers import git, make_service, write


def test_dirty_set_take_give_back_and_bound() -> None:
    d = DirtySet()
    assert d.take() is None  # a new set knows nothing: the first snapshot walks everything
    d.add(b"a/b.txt")
    d.add(b"src/.gitignore")
    assert d.take() == frozenset({b"a/b.txt", b"src/.gitignore"})
    assert d.take() == frozenset()
    d.give_back(frozenset({b"x"}))
    assert d.take() == frozenset({b"x"})
    d.invalidate()
    d.add(b"y")
    assert d.count() == -1 and d.take() is None


def test_filter_keeps_everything_capturable() -> None:
    f = SnapdFilter("/store", "/store/cookies")
    assert f(Change.modified, "/w/.notes.swp")
    assert f(Change.modified, "/w/node_modules/x/index.js")
    assert f(Change.added, "/store/cookies/1-1")
    assert not f(Change.modified, "/w/.git/index")
    assert not f(Change.added, "/store/objects/ab/cdef")


def test_batches_note_paths_and_overflow_invalidates(tmp_path: Path) -> None:
    async def run() -> None:
        dirty = DirtySet()
        dirty.take()
        seen: list[list[bytes]] = []
        w = Watcher(str(tmp_path), str(tmp_path / "store"), dirty, on_batch=seen.append)
        w._batch({(Change.modified, str(tmp_path / "src" / "a.py"))})
        assert dirty.take() == frozenset({b"src/a.py"}) and seen == [[b"src/a.py"]]
        w._batch({(Change.added, str(tmp_path / f"f{i}")) for i in range(OVERFLOW_BATCH)})
        assert dirty.take() is None  # assume the kernel queue overflowed
        w._batch({(Change.added, str(tmp_path / "bad\ufffdname"))})
        assert dirty.take() is None  # an undecodable name cannot be trusted

    asyncio.run(run())


def test_a_suppressed_watcher_is_corrected_by_reconcile(worktree: Path, store_dir: Path) -> None:
    svc = make_service(worktree, store_dir)
    svc.snapshot(protocol.SnapshotParams())
    write(worktree, "src/missed.txt", "the watcher never reported this\n")
    write(worktree, "src/main.txt", "also missed\n")
    blind = svc.snapshot(protocol.SnapshotParams(label="blind"), dirty=frozenset())
    assert blind.consistency == "exact" and blind.changed == 0  # it trusted an empty set
    fixed = svc.snapshot(protocol.SnapshotParams(label="reconcile"))
    assert fixed.consistency == "reconciled" and fixed.changed == 2
    assert git(store_dir, "show", f"{fixed.id}:src/missed.txt").stdout.startswith("the watcher")
    svc.close()
