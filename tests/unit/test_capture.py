from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from snapd import protocol, requests
from snapd.capture.decision import Candidate
from snapd.capture.policy import Policy
from snapd.config import Options
from snapd.diff.changes import lookup
from snapd.errors import InvalidParams, PathOutsideRoot
from snapd.paths import from_wire, to_wire
from tests.helpers import make_service, write


def explain(root: Path, rel: str, **opts):
    policy = Policy(os.fsencode(root), Options(**opts))
    return policy.explain(from_wire(rel))[0]


def test_gitignore_family_with_evidence(worktree: Path) -> None:
    write(worktree, ".gitignore", "*.log\nout/\n")
    write(worktree, "src/.gitignore", "local.txt\n!keep.log\n")
    write(worktree, "a.log", "x")
    write(worktree, "src/keep.log", "x")
    write(worktree, "out/bin", "x")
    write(worktree, "src/local.txt", "x")
    d = explain(worktree, "a.log")
    assert (d.captured, d.rule, d.evidence) == (False, "ignore-file", ".gitignore:1: *.log")
    assert explain(worktree, "src/keep.log").captured  # deeper negation wins
    assert not explain(worktree, "src/local.txt").captured
    d = explain(worktree, "out/bin")
    assert not d.captured and "inside skipped directory out" in d.reason


def test_info_exclude_and_snapdignore(worktree: Path) -> None:
    write(worktree, ".git/info/exclude", "secret.txt\n")
    write(worktree, ".snapdignore", "scratch/\n")
    assert not explain(worktree, "secret.txt").captured
    assert explain(worktree, "scratch/x").evidence == ".snapdignore:1: scratch/"


def test_tracked_files_are_not_ignored_by_gitignore(worktree: Path) -> None:
    write(worktree, "gen.log", "tracked log\n")
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "init", "-q", str(worktree)], check=True, env=env)
    subprocess.run(["git", "-C", str(worktree), "add", "gen.log"], check=True, env=env)
    write(worktree, ".gitignore", "*.log\n")
    write(worktree, "other.log", "untracked\n")
    assert explain(worktree, "gen.log").captured
    assert not explain(worktree, "other.log").captured
    write(worktree, ".snapdignore", "gen.log\n")  # snapd's own ignore applies to tracked files
    assert not explain(worktree, "gen.log").captured


def test_size_limit_applies_to_every_file(worktree: Path) -> None:
    with open(worktree / "big.bin", "wb") as fh:
        fh.truncate(3 * 1024 * 1024)
    d = explain(worktree, "big.bin")
    assert (d.captured, d.rule) == (False, "size-limit")
    assert explain(worktree, "big.bin", content_limit=4 * 1024 * 1024).captured


def test_binary_is_captured_but_flagged(worktree: Path) -> None:
    write(worktree, "img.png", b"\x89PNG\0\0\0data")
    d = explain(worktree, "img.png")
    assert d.captured and d.binary


def test_dot_git_and_special_files_never_captured(worktree: Path) -> None:
    write(worktree, ".git/config", "[core]\n")
    os.mkfifo(worktree / "fifo")
    assert not explain(worktree, ".git/config").captured
    d = explain(worktree, "fifo")
    assert (d.captured, d.rule) == (False, "special-file")


def test_snapshot_never_opens_fifo_and_records_it(worktree: Path, store_dir: Path) -> None:
    os.mkfifo(worktree / "fifo")  # opening it for read would block forever
    write(worktree, ".git/HEAD", "ref: refs/heads/main\n")
    svc = make_service(worktree, store_dir)
    snap = requests.snapshot(svc, protocol.SnapshotParams())
    assert snap.rules == {"special-file": 1}
    assert snap.files == 1  # src/main.txt; nothing from .git


def test_symlinked_dir_is_not_followed(worktree: Path, tmp_path: Path, store_dir: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    write(outside, "secret", "do not read")
    os.symlink(outside, worktree / "escape")
    d = explain(worktree, "escape/secret")
    assert d.captured  # judged by name only: it does not exist inside the worktree
    svc = make_service(worktree, store_dir)
    res = requests.explain(svc, protocol.ExplainParams(path="escape/secret"))
    assert res.exists is False
    requests.snapshot(svc, protocol.SnapshotParams())
    side = lookup(svc.store, svc.resolve("latest", "from").state, b"escape")
    assert side is not None and side.kind == "symlink"  # stored as a link, not followed
    svc.close()


@pytest.mark.parametrize("bad", ["/etc/passwd", "../x", "a/../../b", "a\0b"])
def test_paths_outside_root_are_refused(bad: str) -> None:
    with pytest.raises(PathOutsideRoot):
        from_wire(bad)


def test_paths_longer_than_the_file_system_allows_are_invalid_params() -> None:
    longest = "/".join(["n" * 254] * 16) + "/" + "x" * 16
    assert len(from_wire(longest)) == 4096
    utf8 = "/".join(["é" * 127] * 16)  # 4,095 bytes in 2,047 characters
    assert from_wire(utf8) == utf8.encode()
    for bad in ["x" * 4097, "é" * 2049, "a/" * 500_000, "n" * 256, "a/" + "n" * 256 + "/b"]:
        with pytest.raises(InvalidParams) as info:
            from_wire(bad, field="paths")
        assert info.value.data == {"field": "paths"}
        assert "longer than the file system allows" in str(info.value.message)


def test_non_utf8_names_round_trip() -> None:
    raw = b"caf\xe9/\xff.txt"
    assert from_wire(to_wire(raw)) == raw


def test_a_vanished_worktree_is_a_worktree_failure(worktree: Path, store_dir: Path) -> None:
    import shutil

    from snapd.errors import WorktreeFailure

    svc = make_service(worktree, store_dir)
    requests.snapshot(svc, protocol.SnapshotParams())
    shutil.rmtree(worktree)
    with pytest.raises(WorktreeFailure):
        requests.snapshot(svc, protocol.SnapshotParams())
    svc.close()


def test_explain_reports_an_unlistable_directory(worktree: Path, monkeypatch) -> None:
    (worktree / "locked").mkdir()
    real_scandir = os.scandir

    def scandir(path):
        if os.fsencode(path).endswith(b"/locked"):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    d = explain(worktree, "locked")
    assert (d.captured, d.rule) == (False, "unreadable")
    assert explain(worktree, "src").captured


def test_rule_chains_of_any_depth_are_built_without_recursion(worktree: Path) -> None:
    # Deeper than Python's recursion limit: the ignore chain and the attribute layers of every
    # ancestor are built iteratively (and cached, so a sibling reuses them).
    write(worktree, ".gitignore", "*.log\n")
    write(worktree, ".gitattributes", "*.gen linguist-generated\n")
    policy = Policy(os.fsencode(worktree), Options())
    deep = b"/".join([b"d"] * 3000)
    st = os.stat_result((0o100644, 0, 0, 1, 0, 0, 10, 0, 0, 0))
    assert not policy.decide(Candidate(rel=deep + b"/x.log", st=st)).captured
    assert policy.decide(Candidate(rel=deep + b"/x.gen", st=st)).generated
    assert policy.decide(Candidate(rel=deep + b"/x.txt", st=st)).captured


@pytest.mark.parametrize("keep", [12, 20, 40])
def test_a_truncated_git_index_reads_as_untracked_with_a_warning(
    tmp_path: Path, keep: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A damaged index must not fail every snapshot (dulwich raises struct.error on it)."""
    from snapd.capture.rules import read_tracked

    write(tmp_path, "a.txt", "a\n")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "add", "a.txt"], check=True)
    index = tmp_path / ".git" / "index"
    assert read_tracked(os.fsencode(tmp_path)).paths == {b"a.txt"}
    index.write_bytes(index.read_bytes()[:keep])
    assert read_tracked(os.fsencode(tmp_path)).paths == frozenset()
    assert "cannot read the git index" in caplog.text


def test_the_parsed_git_index_is_reused_until_the_index_changes(tmp_path: Path) -> None:
    """Parsing a big index takes seconds: it is parsed again only when its signature moves."""
    from snapd.capture.rules import read_tracked

    root = os.fsencode(tmp_path)
    write(tmp_path, "a/b.txt", "a\n")
    write(tmp_path, "c.txt", "c\n")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "add", "a/b.txt"], check=True)
    index = tmp_path / ".git" / "index"
    old = 1_600_000_000
    os.utime(index, (old, old))  # not racily new: it may be cached
    first = read_tracked(root)
    assert first.paths == {b"a/b.txt"} and first.dirs == {b"a"}
    assert read_tracked(root) is first  # not parsed again
    # git writes a new index and renames it into place.
    subprocess.run(["git", "-C", str(tmp_path), "add", "c.txt"], check=True)
    os.utime(index, (old, old))
    second = read_tracked(root)
    assert second.paths == {b"a/b.txt", b"c.txt"}
    assert read_tracked(root) is second
    # Damaged in place (same inode, same size, mtime put back): its ctime still moves, so it
    # is parsed again, found damaged, and read as untracked.
    size = index.stat().st_size
    with open(index, "r+b") as f:
        f.seek(size - 4)
        f.write(b"\0\0\0\0")
    os.utime(index, (old, old))
    assert read_tracked(root).paths == frozenset()


def test_a_racily_new_index_is_parsed_every_time(tmp_path: Path) -> None:
    from snapd.capture.rules import read_tracked

    write(tmp_path, "a.txt", "a\n")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "add", "a.txt"], check=True)
    root = os.fsencode(tmp_path)
    assert read_tracked(root) is not read_tracked(root)  # written just now: not cached
