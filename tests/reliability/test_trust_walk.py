"""Walks that never stop capturing: budgets retried, any depth, bounded paths (issue 13).

Against the real daemon over pipes: a directory skipped by ``new-files-budget`` is captured by
the next snapshot (exact, reconciled, after a restart) and ``snapd/explain`` says what the
snapshot does (item 2); a directory nested 1,500 levels deep is snapshotted, diffed and
explained like any other (item 7); a path longer than PATH_MAX is refused with -32602 in
bounded memory (item 8); a file skipped by ``snapshot-budget`` is read by the next snapshot
(item 12).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import git, write
from tests.reliability.harness import MIB, RawDaemon, assert_fsck_clean

pytestmark = [pytest.mark.e2e]


class Daemons:
    """Starts daemons on one worktree and store (one at a time), and kills them at the end."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.root = tmp / "work"
        self.store = tmp / "store"
        self.started: list[RawDaemon] = []
        self.root.mkdir()

    def start(self, options: dict[str, Any] | None = None) -> RawDaemon:
        n = len(self.started)
        d = RawDaemon.spawn(self.root, self.store, self.tmp / f"d{n}.log")
        self.started.append(d)
        assert "result" in d.initialize({"autoSnapshot": False, **(options or {})})
        return d

    def stop(self, d: RawDaemon) -> None:
        d.close_stdin()
        assert d.wait() == 0


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Daemons]:
    ds = Daemons(tmp_path)
    yield ds
    for d in ds.started:
        d.kill()
    for n in range(len(ds.started)):
        assert "Traceback" not in (tmp_path / f"d{n}.log.stderr").read_text()


def snap(d: RawDaemon, **params: Any) -> dict[str, Any]:
    reply = d.request("snapd/snapshot", params)
    assert "result" in reply, reply
    result: dict[str, Any] = reply["result"]
    result.setdefault("consistency", "reconciled")  # its default when absent
    result.setdefault("rules", {})
    return result


def tree_paths(store: Path, oid: str) -> set[str]:
    out = git(store, "ls-tree", "-r", "--name-only", "--full-tree", oid)
    assert out.returncode == 0, out.stderr
    return set(out.stdout.splitlines())


def skipped_records(d: RawDaemon, a: str, b: str) -> dict[str, dict[str, Any]]:
    """Paths of the diff ``a`` -> ``b`` whose new side is skipped, with the skip info."""
    out: dict[str, dict[str, Any]] = {}
    params: dict[str, Any] = {"from": a, "to": b}
    while True:
        page = d.request("snapd/diff", params)["result"]
        for f in page["files"]:
            if f.get("skipped") is not None and f["status"] != "deleted":
                out[f["path"]] = f["skipped"]
        if not page.get("nextCursor"):
            return out
        params["cursor"] = page["nextCursor"]


def explain(d: RawDaemon, path: str) -> dict[str, Any]:
    reply = d.request("snapd/explain", {"path": path})
    assert "result" in reply, reply
    result: dict[str, Any] = reply["result"]
    return result


# -- item 2 ----------------------------------------------------------------------------------------

BUDGET = 40


@pytest.mark.fault(
    "#2 a directory that gains more than dirNewFileBudget entries (mv src lib): skipped once, "
    "then captured by the next exact, reconciled or restarted snapshot; explain agrees",
    trials=1,
)
@pytest.mark.parametrize("next_snapshot", ["exact", "reconcile", "restart"])
def test_a_directory_over_the_new_files_budget_is_captured_next_time(
    daemons: Daemons, next_snapshot: str
) -> None:
    root, store = daemons.root, daemons.store
    for i in range(BUDGET + 10):
        write(root, f"src/m{i:03}.py", f"x = {i}\n")
    write(root, "src/pkg/inner/deep.py", "deep = 1\n")
    for i in range(BUDGET + 10):
        write(root, f"src/pkg/p{i:03}.py", f"p = {i}\n")
    write(root, "a/b/keep.txt", "keep\n")
    options = {"dirNewFileBudget": BUDGET}
    d = daemons.start(options)
    first = snap(d)["id"]
    (root / "src").rename(root / "lib")
    # A clean directory above a budget-skipped one must not carry its record forward.
    (root / "lib").rename(root / "a" / "b" / "lib")
    # Before the snapshot, explain says what it will do: the budget skips the directory.
    ex = explain(d, "a/b/lib/m001.py")
    assert (ex["outcome"], ex["rule"]) == ("skipped", "new-files-budget"), ex
    second = snap(d)
    assert second["rules"] == {"new-files-budget": 1}, second
    records = skipped_records(d, first, second["id"])
    assert list(records) == ["a/b/lib"], records
    assert records["a/b/lib"]["rule"] == "new-files-budget"
    # The budget counts entries new since the previous snapshot, which recorded the directory:
    # the next snapshot captures it, and explain says so before and after.
    ex = explain(d, "a/b/lib/m001.py")
    assert (ex["outcome"], ex["rule"]) == ("captured", "captured"), ex
    assert explain(d, "a/b/lib/pkg/p001.py")["outcome"] == "captured"
    if next_snapshot == "restart":
        daemons.stop(d)
        d = daemons.start(options)
    third = snap(d, reconcile=True) if next_snapshot == "reconcile" else snap(d)
    expected = "reconciled" if next_snapshot != "exact" else "exact"
    if next_snapshot == "restart":
        expected = third["consistency"]  # a fresh daemon may walk in full: either is fine
    assert third["consistency"] == expected, third
    assert third["created"], third
    assert third["rules"] == {}, third
    paths = tree_paths(store, third["id"])
    for i in range(BUDGET + 10):
        assert f"a/b/lib/m{i:03}.py" in paths
        assert f"a/b/lib/pkg/p{i:03}.py" in paths
    assert "a/b/lib/pkg/inner/deep.py" in paths
    assert "a/b/keep.txt" in paths
    ex = explain(d, "a/b/lib/m001.py")
    assert (ex["outcome"], ex["rule"]) == ("captured", "captured"), ex
    # And it stays captured.
    write(root, "a/b/lib/m001.py", "x = 'edited'\n")
    fourth = snap(d)
    assert fourth["rules"] == {} and fourth["changed"] == 1, fourth
    d.close_stdin()
    d.wait()
    assert_fsck_clean(store)


# -- item 7 ----------------------------------------------------------------------------------------

DEPTH = 1500


def make_nested(root: Path, depth: int) -> str:
    """``d/d/.../d`` ``depth`` levels deep, with rule files along the way; returns its path."""
    rel = "/".join(["d"] * depth)
    cur = root
    for level in range(depth):
        cur = cur / "d"
        cur.mkdir()  # os.makedirs recurses once per level
        if level % 300 == 0:
            (cur / ".gitignore").write_text("*.log\n")
            (cur / ".gitattributes").write_text("*.gen linguist-generated\n")
    (cur / "bottom.txt").write_text("the bottom\n")
    (cur / "noise.log").write_text("ignored\n")
    return rel


def remove_nested(top: Path) -> None:
    """Remove a tree bottom-up without recursion (``shutil.rmtree`` recurses once per level,
    and pytest's clean-up of old temporary directories would fail on this one)."""
    stack, dirs = [os.fsencode(top)], []
    while stack:
        path = stack.pop()
        dirs.append(path)
        with os.scandir(path) as it:
            for ent in it:
                if ent.is_dir(follow_symlinks=False):
                    stack.append(ent.path)
                else:
                    os.unlink(ent.path)
    for path in reversed(dirs):
        os.rmdir(path)


@pytest.fixture
def nested(daemons: Daemons) -> Iterator[str]:
    try:
        yield make_nested(daemons.root, DEPTH)
    finally:
        remove_nested(daemons.root / "d")


@pytest.mark.fault(
    "#7 a directory nested 1,500 levels deep: snapshots (full and exact), diffs, hunks and "
    "explain work and capture it; no recursion on input depth",
    trials=1,
)
def test_a_very_deep_directory_does_not_stop_snapshots(daemons: Daemons, nested: str) -> None:
    root, store, deep = daemons.root, daemons.store, nested
    write(root, "top.txt", "top\n")
    d = daemons.start()
    first = snap(d)
    assert first["files"] == 2 + DEPTH // 300 * 2, first
    assert first["rules"] == {"ignore-file": 1}, first
    assert f"{deep}/bottom.txt" in tree_paths(store, first["id"])
    ex = explain(d, f"{deep}/noise.log")
    assert (ex["outcome"], ex["rule"]) == ("skipped", "ignore-file"), ex
    assert explain(d, f"{deep}/bottom.txt")["outcome"] == "captured"
    (root / deep / "bottom.txt").write_text("the bottom, edited\n")
    (root / deep / "new.gen").write_text("generated\n")
    second = snap(d)
    assert second["consistency"] == "exact" and second["changed"] == 2, second
    third = snap(d, reconcile=True)
    assert not third["created"], third
    files = d.request("snapd/diff", {"from": first["id"], "to": second["id"]})["result"]["files"]
    assert [(f["path"], f["status"]) for f in files] == [
        (f"{deep}/bottom.txt", "modified"),
        (f"{deep}/new.gen", "added"),
    ], files
    live = d.request("snapd/diff", {"from": first["id"]})["result"]["files"]
    assert [f["path"] for f in live] == [f"{deep}/bottom.txt", f"{deep}/new.gen"], live
    hunks = d.request("snapd/hunks", {"from": first["id"], "path": f"{deep}/bottom.txt"})
    assert hunks["result"]["hunks"][0]["lines"] == ["-the bottom", "+the bottom, edited"], hunks
    d.close_stdin()
    d.wait()
    assert_fsck_clean(store)


# -- item 8 ----------------------------------------------------------------------------------------


@pytest.mark.fault(
    "#8 a 1 MiB path of many components to explain and hunks: -32602 with a sentence, peak "
    "RSS bounded, the daemon keeps serving",
    trials=1,
)
def test_a_huge_path_is_refused_in_bounded_memory(daemons: Daemons) -> None:
    write(daemons.root, "a.txt", "a\n")
    d = daemons.start()
    sid = snap(d)["id"]
    assert explain(d, "a.txt")["outcome"] == "captured"
    before = d.peak_rss_kib()
    huge = "a/" * (MIB // 2)
    too_long = "b" * 4097
    name_too_long = "c" * 256 + "/x"
    for path in (huge, too_long, name_too_long):
        for method, params in [
            ("snapd/explain", {"path": path}),
            ("snapd/hunks", {"from": sid, "path": path}),
            ("snapd/diff", {"from": sid, "paths": [path]}),
        ]:
            reply = d.request(method, params)
            err = reply.get("error")
            assert err is not None and err["code"] == -32602, (method, len(path), reply)
            message = err["message"]
            assert message.endswith(".") and "'" not in message, message
            assert "longer than" in message, message
            assert len(message) < 300, message
    peak = d.peak_rss_kib()
    assert peak - before < 48 * 1024, (before, peak)
    # A long but legal path (4,000 bytes of short components) is answered.
    legal = "/".join(["e"] * 2000)
    ex = explain(d, legal)
    assert (ex["exists"], ex["outcome"]) == (False, "captured"), ex
    assert explain(d, "a.txt")["outcome"] == "captured"
    d.close_stdin()
    assert d.wait() == 0


# -- item 12 ---------------------------------------------------------------------------------------


@pytest.mark.fault(
    "#12 files skipped by snapshot-budget: the next exact or reconciled snapshot reads them "
    "(records are never copied forward), and they can be restored after deletion",
    trials=1,
)
@pytest.mark.parametrize("next_snapshot", ["exact", "reconcile"])
def test_files_over_the_snapshot_budget_are_read_next_time(
    daemons: Daemons, next_snapshot: str
) -> None:
    root, store = daemons.root, daemons.store
    write(root, "x/y/seed.txt", "seed\n")
    write(root, "other/z.txt", "z\n")
    d = daemons.start({"snapshotByteBudget": 3500})
    first = snap(d)["id"]
    past = time.time() - 60  # not racily clean: read once, never again while unchanged
    for i in range(6):
        big = write(root, f"x/y/big{i}.txt", f"{i}" * 1000 + "\n")
        os.utime(big, (past, past))
    second = snap(d)
    assert second["rules"] == {"snapshot-budget": 3}, second
    over = sorted(skipped_records(d, first, second["id"]))
    assert over and all(p.startswith("x/y/big") for p in over), over
    # Something unrelated changes, elsewhere: the exact snapshot must still retry the skipped.
    write(root, "other/z.txt", "z edited\n")
    third = snap(d, reconcile=True) if next_snapshot == "reconcile" else snap(d)
    assert third["consistency"] == ("reconciled" if next_snapshot == "reconcile" else "exact")
    assert third["rules"] == {}, third
    paths = tree_paths(store, third["id"])
    assert {f"x/y/big{i}.txt" for i in range(6)} <= paths
    # Deleted now, and restorable from the snapshot that captured them.
    for i in range(6):
        os.unlink(root / f"x/y/big{i}.txt")
    reply = d.request("snapd/restore", {"from": third["id"], "paths": ["x/y"], "dryRun": False})
    assert "result" in reply, reply
    assert (root / "x/y/big5.txt").exists(), reply
    assert (root / "x/y/big5.txt").read_text() == "5" * 1000 + "\n"
    d.close_stdin()
    d.wait()
    assert_fsck_clean(store)
