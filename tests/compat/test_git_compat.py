"""Real git reads our store: fsck is clean and git's diff agrees with snapd/diff."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from snapd import protocol, requests
from tests.helpers import git, make_service, write

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def test_fsck_and_name_status_agree(worktree: Path, store_dir: Path) -> None:
    write(worktree, "a/b/c.txt", "one\n")
    write(worktree, "a/x.txt", "x\n")
    write(worktree, "run.sh", "#!/bin/sh\n")
    write(worktree, "gone.txt", "bye\n")
    write(worktree, "huge.txt", "z" * 3000)
    svc = make_service(worktree, store_dir, content_limit=2048)
    a = requests.snapshot(svc, protocol.SnapshotParams(label="first")).id
    write(worktree, "a/b/c.txt", "two\n")
    (worktree / "run.sh").chmod(0o755)
    (worktree / "gone.txt").unlink()
    write(worktree, "a/new/n.txt", "n\n")
    write(worktree, "huge.txt", "y" * 3000)
    b = requests.snapshot(svc, protocol.SnapshotParams()).id
    svc.close()

    fsck = git(store_dir, "fsck", "--strict", "--no-dangling")
    assert fsck.returncode == 0, fsck.stderr
    ours = requests.diff(make_service(worktree, store_dir), protocol.DiffParams(from_=a, to=b))
    captured = {(f.path, f.status.value[0].upper()) for f in ours.files if f.skipped is None}
    theirs = git(store_dir, "diff", "--name-status", "--no-renames", a, b).stdout.split("\n")
    assert captured == {tuple(reversed(line.split("\t"))) for line in theirs if line}
    # The skipped file is reported by snapd (git cannot see it: it is metadata only).
    assert any(f.path == "huge.txt" and f.skipped for f in ours.files)
    refs = git(
        store_dir,
        "for-each-ref",
        "--format=%(objectname) %(contents:subject)",
        "refs/snapd/snapshots/",
    ).stdout.split("\n")
    assert refs[:2] == [f"{a} first", f"{b} snapshot"]
    assert git(store_dir, "log", "-1", "--format=%H", "HEAD").stdout.strip() == b
    trailer = git(store_dir, "log", "-1", "--format=%(trailers:key=Snapd-Parent,valueonly)", b)
    assert trailer.stdout.strip() == a


def test_nothing_is_written_inside_the_worktree(worktree: Path, store_dir: Path) -> None:
    write(worktree, ".git/HEAD", "ref: refs/heads/main\n")
    before = sorted(p.relative_to(worktree) for p in worktree.rglob("*"))
    svc = make_service(worktree, store_dir)
    requests.snapshot(svc, protocol.SnapshotParams())
    write(worktree, "src/main.txt", "changed\n")
    requests.diff(svc, protocol.DiffParams(from_="latest"))
    requests.hunks(svc, protocol.HunksParams(from_="latest", path="src/main.txt"))
    svc.close()
    assert sorted(p.relative_to(worktree) for p in worktree.rglob("*")) == before


def test_store_inside_worktree_is_refused(worktree: Path) -> None:
    from snapd.failures import Refused
    from snapd.requests.common import wire_error

    with pytest.raises(Refused) as refused:
        make_service(worktree, worktree / ".snapd-store")
    error = wire_error(refused.value)
    assert error.code == -32602 and error.data == {"field": "store"}


def test_interrupted_writer_leftovers_are_cleaned(worktree: Path, store_dir: Path) -> None:
    svc = make_service(worktree, store_dir)
    requests.snapshot(svc, protocol.SnapshotParams())
    svc.close()
    (store_dir / "objects" / "tmp_obj_123_dead").write_bytes(b"partial")
    (store_dir / "refs" / "heads" / "snapshots.lock").write_text("stale")
    svc = make_service(worktree, store_dir)
    write(worktree, "src/main.txt", "again\n")
    assert requests.snapshot(svc, protocol.SnapshotParams()).created
    svc.close()
    assert not (store_dir / "objects" / "tmp_obj_123_dead").exists()
    assert git(store_dir, "fsck", "--strict").returncode == 0
