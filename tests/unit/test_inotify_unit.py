"""The inotify reader on a real kernel queue: recursive watches, moves, git inputs, doubt."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from snapd.watch import inotify
from tests.helpers import write

pytestmark = pytest.mark.skipif(not inotify.available(), reason="inotify is Linux only")


def _drain(tree: inotify.Tree) -> inotify.Batch:
    """Everything queued now, merged into one batch (the queue is read until empty)."""
    merged = inotify.Batch()
    while True:
        batch = tree.read()
        if not batch.events:
            return merged
        merged.paths += batch.paths
        merged.cookies += batch.cookies
        merged.index |= batch.index
        merged.rules |= batch.rules
        merged.doubt = merged.doubt or batch.doubt
        merged.events += batch.events


@pytest.fixture
def tree(tmp_path: Path) -> inotify.Tree:
    root, cookies = tmp_path / "wt", tmp_path / "store" / "cookies"
    write(root, "src/a.txt", "a\n")
    write(root, ".git/info/exclude", "")
    write(root, ".git/index", "")
    cookies.mkdir(parents=True)
    t = inotify.Tree(os.fsencode(root), os.fsencode(cookies))
    t.start()
    return t


def test_new_directories_are_watched_and_reported(tree: inotify.Tree, tmp_path: Path) -> None:
    root = tmp_path / "wt"
    (root / "new" / "deep").mkdir(parents=True)
    first = _drain(tree)
    assert b"new" in first.paths and first.doubt is None
    write(root, "new/deep/x.txt", "x\n")  # its directory was watched while it was created
    assert b"new/deep/x.txt" in _drain(tree).paths


def test_a_moved_directory_reports_its_new_paths(tree: inotify.Tree, tmp_path: Path) -> None:
    root = tmp_path / "wt"
    (root / "src").rename(root / "lib")
    moved = _drain(tree)
    assert {b"src", b"lib"} <= set(moved.paths) and moved.doubt is None
    write(root, "lib/a.txt", "edited\n")
    assert set(_drain(tree).paths) == {b"lib/a.txt"}  # never under its old name
    (root / "lib").rename(tmp_path / "outside")
    _drain(tree)
    write(tmp_path, "outside/a.txt", "not ours\n")
    assert _drain(tree).paths == []


def test_git_inputs_and_cookies_are_told_apart(tree: inotify.Tree, tmp_path: Path) -> None:
    root = tmp_path / "wt"
    write(root, ".git/index.lock", "new index")
    os.replace(root / ".git/index.lock", root / ".git/index")
    batch = _drain(tree)
    assert batch.index and not batch.rules and batch.paths == []
    write(root, ".git/info/exclude", "*.tmp\n")
    assert _drain(tree).rules
    write(tmp_path, "store/cookies/1-1", "")
    assert set(_drain(tree).cookies) == {b"1-1"}  # created, then written


def test_a_dropped_watch_is_doubt(tree: inotify.Tree) -> None:
    # The kernel drops a watch by itself on unmount; removing one behind the tree's back
    # looks the same to it (an IN_IGNORED it did not expect).
    wd = next(wd for wd, (role, key) in tree._where.items() if key == b"src")
    tree.ino.rm_watch(wd)
    assert _drain(tree).doubt is not None


def test_a_deleted_directory_is_no_doubt(tree: inotify.Tree, tmp_path: Path) -> None:
    (tmp_path / "wt" / "src" / "a.txt").unlink()
    (tmp_path / "wt" / "src").rmdir()
    batch = _drain(tree)
    assert batch.doubt is None and b"src" in batch.paths


def test_a_linked_worktree_watches_the_info_files_git_reads(tmp_path: Path) -> None:
    # A linked worktree's ".git" is a file naming <main>/.git/worktrees/<name>; git reads
    # info/exclude and info/attributes from the common dir that one names (commondir).
    main, root, cookies = tmp_path / "main", tmp_path / "wt", tmp_path / "store" / "cookies"
    write(main, ".git/info/exclude", "")
    write(main, ".git/worktrees/wt/index", "")
    write(main, ".git/worktrees/wt/commondir", "../..\n")
    write(root, ".git", f"gitdir: {main / '.git' / 'worktrees' / 'wt'}\n")
    write(root, "src/a.txt", "a\n")
    cookies.mkdir(parents=True)
    t = inotify.Tree(os.fsencode(root), os.fsencode(cookies))
    t.start()
    try:
        write(main, ".git/info/exclude", "*.log\n")
        assert _drain(t).rules
        write(main, ".git/worktrees/wt/index", "changed")
        assert _drain(t).index
    finally:
        t.close()


def test_the_policy_reads_a_linked_worktrees_info_exclude(tmp_path: Path) -> None:
    from snapd.capture.decision import Candidate
    from snapd.capture.policy import Policy
    from snapd.config import Options

    main, root = tmp_path / "main", tmp_path / "wt"
    write(main, ".git/info/exclude", "*.log\n")
    write(main, ".git/worktrees/wt/commondir", "../..\n")
    write(root, ".git", f"gitdir: {main / '.git' / 'worktrees' / 'wt'}\n")
    write(root, "build.log", "x\n")
    policy = Policy(os.fsencode(root), Options())
    st = os.lstat(root / "build.log")
    assert not policy.decide(Candidate(rel=b"build.log", st=st)).captured  # as git ignores it
