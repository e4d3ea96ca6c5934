"""Issue 13 regressions: a pinned worktree root, and one ``initialize`` per connection."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from snapd.errors import WorktreeFailure
from tests.helpers import write
from tests.reliability.harness import RawDaemon, assert_fsck_clean


def _tree(path: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


@pytest.fixture
def worktrees(tmp_path: Path) -> Iterator[tuple[Path, Path, Path, RawDaemon]]:
    wt, other, store = tmp_path / "wt", tmp_path / "other", tmp_path / "store"
    write(wt, "README.md", "this worktree\n")
    write(wt, "src/app.py", "print('wt')\n")
    write(other, "README.md", "another project: must never be touched\n")
    write(other, "precious.txt", "another project's file\n")
    daemon = RawDaemon.spawn(wt, store, tmp_path / "snapd.log")
    try:
        daemon.initialize({"autoSnapshot": False})
        yield wt, other, store, daemon
    finally:
        daemon.kill()


def _swap(wt: Path, how: str, other: Path) -> None:
    if how == "symlink":
        shutil.rmtree(wt)
        wt.symlink_to(other, target_is_directory=True)
    else:  # moved away, a new directory in its place
        wt.rename(wt.with_name("wt.moved"))
        wt.mkdir()
        write(wt, "README.md", "a new directory at the old path\n")


@pytest.mark.fault(
    "#1 the worktree path swapped for a symlink to another project or a new directory: "
    "restore, snapshot and diff refuse (WorktreeFailure), nothing written through it",
    trials=1,
)
@pytest.mark.parametrize("how", ["symlink", "replaced"])
def test_a_swapped_root_is_never_written_through(
    worktrees: tuple[Path, Path, Path, RawDaemon], how: str
) -> None:
    wt, other, store, daemon = worktrees
    first = daemon.request("snapd/snapshot", {"label": "A"})["result"]["id"]
    write(wt, "src/app.py", "print('edited')\n")
    write(wt, "new.txt", "added after A\n")
    before_other = _tree(other)
    _swap(wt, how, other)
    before_new = _tree(wt) if how == "replaced" else None

    for method, params in [
        ("snapd/restore", {"from": first}),
        ("snapd/restore", {"from": first, "dryRun": True}),
        ("snapd/snapshot", {}),
        ("snapd/diff", {"from": first}),
        ("snapd/hunks", {"from": first, "path": "src/app.py"}),
    ]:
        reply = daemon.request(method, params)
        assert "error" in reply, (method, reply)
        err = reply["error"]
        assert err["code"] == WorktreeFailure.CODE, (method, err)
        assert "no longer" in err["message"], err["message"]
    assert _tree(other) == before_other
    if before_new is not None:
        assert _tree(wt) == before_new
    status = daemon.request("snapd/status")["result"]
    assert status["watcher"] != "watching", status
    assert "no longer" in (status.get("worktreeError") or ""), status
    # Reading history still works: the store is intact.
    assert daemon.request("snapd/snapshots")["result"]["snapshots"][0]["id"] == first
    daemon.close_stdin()
    daemon.wait()
    assert_fsck_clean(store)


@pytest.mark.fault(
    "#17 a second initialize on the same connection: refused (-32600), the first session "
    "keeps serving",
    trials=1,
)
def test_a_second_initialize_is_refused(tmp_path: Path) -> None:
    wt, store = tmp_path / "wt", tmp_path / "store"
    other = tmp_path / "other"
    write(wt, "a.txt", "a\n")
    write(other, "b.txt", "b\n")
    daemon = RawDaemon.spawn(wt, store, tmp_path / "snapd.log")
    try:
        daemon.initialize({"autoSnapshot": False})
        again = daemon.request(
            "initialize",
            {"processId": os.getpid(), "capabilities": {}, "rootUri": other.as_uri()},
        )
        assert again.get("error", {}).get("code") == -32600, again
        assert "already initialized" in again["error"]["message"]
        status = daemon.request("snapd/status")["result"]
        assert status["root"] == str(wt.resolve())
        snap = daemon.request("snapd/snapshot", {})["result"]
        assert snap["files"] == 1
        daemon.close_stdin()
        assert daemon.wait() == 0
    finally:
        daemon.kill()
