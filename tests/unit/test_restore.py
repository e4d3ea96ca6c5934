"""snapd/restore in process: plans, tokens, kept files, hunks, escapes, hooks and paging."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from snapd import errors, protocol, requests
from snapd.restore import actions as restore_actions
from snapd.restore import apply as restore_apply
from snapd.restore import plan as restore_plan
from snapd.restore import tree as restore_tree
from snapd.store.history import EMPTY_BLOB, Counts, State, commit_snapshot
from snapd.store.objects import MODE_FILE, MODE_TREE, Entry
from snapd.worktree import Worktree
from tests.helpers import make_service, write


def snap(svc: Worktree, label: str | None = None) -> str:
    return requests.snapshot(svc, protocol.SnapshotParams(label=label)).id


def plan(svc: Worktree, from_: str, **kw: object) -> protocol.RestoreResult:
    return requests.restore(svc, protocol.RestoreParams(from_=from_, **kw))  # type: ignore[arg-type]


def apply(svc: Worktree, from_: str, **kw: object) -> protocol.RestoreResult:
    return requests.restore(svc, protocol.RestoreParams(from_=from_, dry_run=False, **kw))  # type: ignore[arg-type]


def field_of(exc: errors.SnapdError) -> object:
    data = exc.data if isinstance(exc.data, dict) else {}
    return data.get("field")


def actions(result: protocol.RestoreResult) -> dict[str, str]:
    return {a.path: a.action.value for a in result.plan}


def tree(root: Path) -> dict[str, object]:
    """Every file and symlink under root: content (or link target) and exec bit."""
    out: dict[str, object] = {}
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in files + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(full))
            elif stat.S_ISREG(st.st_mode):
                out[rel] = (Path(full).read_bytes(), bool(st.st_mode & 0o100))
            else:
                out[rel] = ("special",)
    return out


@pytest.fixture
def svc(worktree: Path, store_dir: Path):
    s = make_service(worktree, store_dir, content_limit=1000)
    yield s
    s.close()


def test_dry_run_plans_and_writes_nothing(svc: Worktree, worktree: Path) -> None:
    write(worktree, "src/util.txt", "util\n")
    s1 = snap(svc)
    write(worktree, "src/main.txt", "hello\nchanged\n")
    (worktree / "src/util.txt").unlink()
    write(worktree, "src/new.txt", "new\n")
    before = tree(worktree)
    result = plan(svc, s1)
    assert not result.applied and result.safety_snapshot is None
    assert actions(result) == {
        "src/main.txt": "write",
        "src/new.txt": "delete",
        "src/util.txt": "create",
    }
    main = result.plan[0]
    assert (main.old_size, main.new_size, main.new_mode) == (14, 6, MODE_FILE)
    assert (result.written, result.deleted, result.kept) == (2, 1, 0)
    assert tree(worktree) == before
    # The token depends on the plan and the worktree, not on when it was asked.
    assert plan(svc, s1).plan_token == result.plan_token
    assert plan(svc, s1, paths=["src/main.txt"]).plan_token != result.plan_token


def test_apply_restores_content_modes_and_symlinks_and_is_undoable(
    svc: Worktree, worktree: Path
) -> None:
    write(worktree, "run.sh", "#!/bin/sh\n")
    os.chmod(worktree / "run.sh", 0o755)
    os.symlink("src/main.txt", worktree / "link")
    write(worktree, "d/e/deep.txt", "deep\n")
    s1 = snap(svc)
    expected = tree(worktree)
    os.chmod(worktree / "run.sh", 0o644)
    os.unlink(worktree / "link")
    os.symlink("/etc/passwd", worktree / "link")
    write(worktree, "src/main.txt", "edited\n")
    (worktree / "d/e/deep.txt").unlink()
    write(worktree, "extra/new.txt", "x\n")
    edited = tree(worktree)
    dry = plan(svc, s1)
    done = apply(svc, s1, plan_token=dry.plan_token)
    assert done.applied and done.safety_snapshot is not None and done.conflicted == 0
    assert tree(worktree) == expected
    assert not (worktree / "extra").exists()  # emptied by the restore and not in the snapshot
    assert os.readlink(worktree / "link") == "src/main.txt"
    # Nothing changed since s1 now: a live diff is empty, and a new snapshot has s1's tree.
    assert requests.diff(svc, protocol.DiffParams(from_=s1)).files == []
    assert svc.resolve(snap(svc, "after"), "x").state.tree == svc.resolve(s1, "x").state.tree
    # The safety snapshot undoes it.
    undo = apply(svc, done.safety_snapshot)
    assert undo.conflicted == 0
    assert tree(worktree) == edited


def test_uncaptured_files_are_kept_unless_forced(svc: Worktree, worktree: Path) -> None:
    write(worktree, ".gitignore", "*.log\n")
    write(worktree, "app.log", "log v1\n")
    write(worktree, "big.txt", "small at first\n")
    write(worktree, "node_modules/m.js", "module\n")  # build-dir rule: a skipped directory
    s1 = snap(svc)
    write(worktree, "app.log", "log v2\n")
    write(worktree, "big.txt", "x" * 5000)  # now over the 1000-byte limit
    write(worktree, "stray.log", "ignored, not in the snapshot\n")
    write(worktree, "node_modules/other.js", "more\n")
    os.mkfifo(worktree / "fifo")
    before = tree(worktree)
    result = plan(svc, s1)
    kept = {a.path: a for a in result.plan if a.action is protocol.RestoreActionKind.KEEP}
    assert set(kept) == {"app.log", "big.txt", "stray.log", "fifo", "node_modules"}
    assert kept["node_modules"].kind == "dir"
    assert kept["big.txt"].rule == "size-limit" and "force" in (kept["big.txt"].reason or "")
    assert kept["stray.log"].rule == "ignore-file"
    assert result.written == result.deleted == 0
    done = apply(svc, s1)
    assert done.safety_snapshot is None  # nothing to write: no safety snapshot
    assert tree(worktree) == before
    # Forcing one path overwrites exactly that path.
    forced = apply(svc, s1, force=["big.txt"])
    big = next(a for a in forced.plan if a.path == "big.txt")
    assert big.action is protocol.RestoreActionKind.WRITE and big.forced
    assert (worktree / "big.txt").read_text() == "small at first\n"
    after = tree(worktree)
    del after["big.txt"], before["big.txt"]
    assert after == before


def test_plan_token_refuses_a_changed_worktree(svc: Worktree, worktree: Path) -> None:
    s1 = snap(svc)
    write(worktree, "src/main.txt", "one\n")
    dry = plan(svc, s1)
    write(worktree, "src/main.txt", "two\n")
    with pytest.raises(errors.PlanStale) as info:
        apply(svc, s1, plan_token=dry.plan_token)
    assert info.value.data == {"field": "planToken"}
    assert (worktree / "src/main.txt").read_text() == "two\n"
    # A path outside the plan that starts to differ changes the plan too.
    dry = plan(svc, s1)
    write(worktree, "src/other.txt", "new\n")
    with pytest.raises(errors.PlanStale):
        apply(svc, s1, plan_token=dry.plan_token)
    # A change to an uncaptured file the plan keeps changes it as well.
    write(worktree, ".gitignore", "*.log\n")
    write(worktree, "src/x.log", "a\n")
    dry = plan(svc, s1)
    os.utime(worktree / "src/x.log", ns=(1, 1))
    with pytest.raises(errors.PlanStale):
        apply(svc, s1, plan_token=dry.plan_token)
    assert len(list(requests.snapshots(svc, protocol.SnapshotsParams()).snapshots)) == 1


def test_paths_and_patterns_select(svc: Worktree, worktree: Path) -> None:
    for rel in ("a.md", "docs/b.md", "docs/c.txt", "src/x.py", "src/sub/y.py", "z.py"):
        write(worktree, rel, "v1\n")
    s1 = snap(svc)
    for rel in ("a.md", "docs/b.md", "docs/c.txt", "src/x.py", "src/sub/y.py", "z.py"):
        write(worktree, rel, "v2\n")
    assert set(actions(plan(svc, s1, paths=["docs"]))) == {"docs/b.md", "docs/c.txt"}
    assert set(actions(plan(svc, s1, patterns=["*.md"]))) == {"a.md", "docs/b.md"}
    assert set(actions(plan(svc, s1, patterns=["src/**/*.py"]))) == {"src/x.py", "src/sub/y.py"}
    assert set(actions(plan(svc, s1, patterns=["/src/*.py"]))) == {"src/x.py"}
    assert set(actions(plan(svc, s1, patterns=["src/*.py"], paths=["z.py"]))) == {
        "src/x.py",
        "z.py",
    }
    assert set(actions(plan(svc, s1, paths=["*.md"]))) == set()  # a literal name
    apply(svc, s1, patterns=["*.md"])
    assert (worktree / "docs/b.md").read_text() == "v1\n"
    assert (worktree / "docs/c.txt").read_text() == "v2\n"
    with pytest.raises(errors.InvalidParams) as info:
        plan(svc, s1, paths=[])
    assert field_of(info.value) == "paths"


def test_hunk_restore(svc: Worktree, worktree: Path) -> None:
    old = "".join(f"line {i}\n" for i in range(40))
    write(worktree, "f.txt", old)
    s1 = snap(svc)
    lines = old.splitlines(keepends=True)
    lines[2] = "changed 2\n"
    lines[30] = "changed 30\n"
    new = "".join(lines)
    write(worktree, "f.txt", new)
    hunks = requests.hunks(svc, protocol.HunksParams(from_=s1, path="f.txt")).hunks
    assert len(hunks) == 2
    sel = protocol.HunkSelection(path="f.txt", digests=[hunks[1].digest])
    dry = plan(svc, s1, hunks=sel)
    assert actions(dry) == {"f.txt": "write"}
    assert (worktree / "f.txt").read_text() == new
    apply(svc, s1, hunks=sel, plan_token=dry.plan_token)
    lines[30] = "line 30\n"
    assert (worktree / "f.txt").read_text() == "".join(lines)
    # The other hunk's digest still names it: nothing above it changed.
    apply(svc, s1, hunks=protocol.HunkSelection(path="f.txt", digests=[hunks[0].digest]))
    assert (worktree / "f.txt").read_text() == old
    # Every hunk at once gives the snapshot's content, also for a deleted file.
    (worktree / "f.txt").unlink()
    gone = requests.hunks(svc, protocol.HunksParams(from_=s1, path="f.txt")).hunks
    apply(svc, s1, hunks=protocol.HunkSelection(path="f.txt", digests=[h.digest for h in gone]))
    assert (worktree / "f.txt").read_text() == old
    # A digest no hunk has now (the file is back to the snapshot's content) is stale.
    with pytest.raises(errors.PlanStale) as stale:
        plan(svc, s1, hunks=protocol.HunkSelection(path="f.txt", digests=[gone[0].digest]))
    assert field_of(stale.value) == "hunks.digests"
    for bad, field in [
        (protocol.HunkSelection(path="f.txt", digests=[]), "hunks.digests"),
        (protocol.HunkSelection(path="f.txt", digests=["0"]), "hunks.digests"),
        (protocol.HunkSelection(path="f.txt", digests=["G" * 16]), "hunks.digests"),
        (protocol.HunkSelection(path="f.txt", digests=["0" * 16], context=-1), "hunks.context"),
    ]:
        with pytest.raises(errors.InvalidParams) as info:
            plan(svc, s1, hunks=bad)
        assert field_of(info.value) == field
    with pytest.raises(errors.InvalidParams) as info:
        plan(
            svc, s1, hunks=protocol.HunkSelection(path="f.txt", digests=["0" * 16]), paths=["f.txt"]
        )
    assert field_of(info.value) == "hunks"


def test_escapes_are_refused(svc: Worktree, worktree: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    write(outside, "secret.txt", "outside\n")
    write(worktree, "lib/a.txt", "inside a\n")
    s1 = snap(svc)
    for bad in ("../outside/secret.txt", "/etc/passwd", "lib/../../x"):
        for kw in (
            {"paths": [bad]},
            {"force": [bad]},
            {"hunks": protocol.HunkSelection(path=bad, digests=["0" * 16])},
        ):
            with pytest.raises(errors.PathOutsideRoot):
                plan(svc, s1, **kw)
    # A directory replaced by a symlink to a directory outside the worktree.
    (worktree / "lib/a.txt").unlink()
    (worktree / "lib").rmdir()
    os.symlink(outside, worktree / "lib")
    write(outside, "a.txt", "outside a\n")
    with pytest.raises(errors.PathOutsideRoot) as info:
        plan(svc, s1, paths=["lib/a.txt"])
    assert field_of(info.value) == "paths"
    with pytest.raises(errors.PathOutsideRoot):
        plan(svc, s1, hunks=protocol.HunkSelection(path="lib/a.txt", digests=["0" * 16]))
    scoped = plan(svc, s1, paths=["lib"])  # the symlink itself is in scope: replaced, not followed
    assert actions(scoped) == {"lib": "delete", "lib/a.txt": "create"}
    apply(svc, s1)
    assert not os.path.islink(worktree / "lib")
    assert (worktree / "lib/a.txt").read_text() == "inside a\n"
    assert (outside / "a.txt").read_text() == "outside a\n"
    assert sorted(p.name for p in outside.iterdir()) == ["a.txt", "secret.txt"]


def test_symlink_swapped_in_between_plan_and_apply(
    svc: Worktree, worktree: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    write(worktree, "d/f.txt", "v1\n")
    s1 = snap(svc)
    write(worktree, "d/f.txt", "v2\n")
    dry = plan(svc, s1)

    def swap() -> None:
        os.rename(worktree / "d", tmp_path / "moved")
        os.symlink(outside, worktree / "d")

    swap()
    with pytest.raises(errors.PlanStale):
        apply(svc, s1, plan_token=dry.plan_token)
    assert list(outside.iterdir()) == []
    # The same race after the token check: the apply itself refuses the path.
    os.unlink(worktree / "d")
    os.rename(tmp_path / "moved", worktree / "d")
    live = svc.capturer(None).capture()
    target = svc.resolve(s1, "from").state
    planner = restore_plan.Planner(
        svc.store, svc.root_b, live, target, restore_plan.Scope(), svc.options
    )
    steps = list(planner.actions())
    assert [(a.path, a.action.value) for a in steps] == [(b"d/f.txt", "write")]
    os.rename(worktree / "d", tmp_path / "moved2")
    os.symlink(outside, worktree / "d")
    write(outside, "f.txt", "v2\n")  # even identical content is not written through the link
    done = restore_apply.apply(svc.store, svc.root_fd, lambda: iter(steps), target_tree=target.tree)
    assert done.written == 0 and done.conflicted == 1
    assert "symlink" in (done.conflicts[0].reason or "")
    assert (outside / "f.txt").read_text() == "v2\n"
    assert sorted(p.name for p in outside.iterdir()) == ["f.txt"]


def test_unsafe_paths_in_a_snapshot_are_kept(svc: Worktree, worktree: Path, tmp_path: Path) -> None:
    s1 = snap(svc)
    store = svc.store
    blob = store.write_blob(b"evil\n")
    inner = store.write_tree([Entry(b"evil.txt", MODE_FILE, blob)])
    base = {e.name: e for e in store.read_tree(svc.resolve(s1, "x").state.tree)}
    top = store.write_tree([*base.values(), Entry(b"..", MODE_TREE, inner)])
    crafted = commit_snapshot(
        store, State(top, EMPTY_BLOB), Counts(), parent=s1, label="crafted", changed=1
    )
    assert store.refs.add_snapshot(crafted)
    result = apply(svc, crafted)
    assert [(a.path, a.action.value) for a in result.plan] == [("../evil.txt", "keep")]
    assert not (tmp_path / "evil.txt").exists()


def test_file_and_directory_swap_places(svc: Worktree, worktree: Path) -> None:
    write(worktree, "a", "a file\n")
    write(worktree, "b/inner.txt", "in b\n")
    s1 = snap(svc)
    expected = tree(worktree)
    (worktree / "a").unlink()
    write(worktree, "a/x.txt", "now a dir\n")
    (worktree / "b/inner.txt").unlink()
    (worktree / "b").rmdir()
    write(worktree, "b", "now a file\n")
    done = apply(svc, s1)
    assert done.conflicted == 0
    assert tree(worktree) == expected


def test_hooks_see_every_write_and_concurrent_edits_are_not_lost(
    svc: Worktree, worktree: Path
) -> None:
    for i in range(5):
        write(worktree, f"f{i}.txt", f"v1 {i}\n")
    s1 = snap(svc)
    for i in range(5):
        write(worktree, f"f{i}.txt", f"v2 {i}\n")
    events: list[restore_apply.RestoreEvent] = []

    def hook(event: restore_apply.RestoreEvent) -> None:
        events.append(event)
        if event.phase == "write" and event.path == b"f0.txt":
            write(worktree, "f3.txt", "edited during the restore\n")

    svc.on_restore.append(hook)
    done = apply(svc, s1)
    phases = [e.phase for e in events]
    # f3 was edited during the restore: it is a conflict, never touched, so never pending.
    assert phases == ["begin", *["pending", "write"] * 4, "end"]
    assert events[0].safety_snapshot == done.safety_snapshot
    assert [e.path for e in events[1:-1:2]] == [e.path for e in events[2:-1:2]]
    for e in events[2:-1:2]:
        assert e.path is not None and e.st is not None
        st = os.lstat(os.path.join(svc.root_b, e.path))
        assert (st.st_ino, st.st_mtime_ns) == (e.st.st_ino, e.st.st_mtime_ns)
    assert done.conflicted == 1 and done.conflicts is not None
    assert done.conflicts[0].path == "f3.txt" and "changed" in (done.conflicts[0].reason or "")
    assert (worktree / "f3.txt").read_text() == "edited during the restore\n"
    assert (worktree / "f4.txt").read_text() == "v1 4\n"


def test_the_plan_is_paged(svc: Worktree, worktree: Path) -> None:
    for i in range(30):
        write(worktree, f"p/{i:02}.txt", f"{i}\n")
    s1 = snap(svc)
    for i in range(30):
        write(worktree, f"p/{i:02}.txt", f"changed {i}\n")
    whole = plan(svc, s1, limit=1000)
    assert whole.next_cursor is None and len(whole.plan) == 30
    first = plan(svc, s1, limit=1)
    assert first.next_cursor is not None
    with pytest.raises(errors.BadCursor):  # a cursor from another scope
        plan(svc, s1, paths=["p"], cursor=first.next_cursor)
    for result in (plan(svc, s1, limit=7), apply(svc, s1, limit=7)):
        got = list(result.plan)
        cursor = result.next_cursor
        while cursor is not None:
            page = plan(svc, s1, cursor=cursor, limit=7)
            assert page.plan_token == result.plan_token and page.written == 30
            assert page.applied == result.applied
            got += page.plan
            cursor = page.next_cursor
        assert got == whole.plan
    assert result.applied  # the last one applied, and its pages still list its plan
    with pytest.raises(errors.InvalidParams) as info:
        apply(svc, s1, cursor=result.next_cursor or "x")
    assert field_of(info.value) == "dryRun"


def test_cancel_before_the_first_write_writes_nothing(svc: Worktree, worktree: Path) -> None:
    import threading

    from snapd.capture.walk import Cancelled

    write(worktree, "a.txt", "v1\n")
    write(worktree, "b.txt", "v1\n")
    s1 = snap(svc)
    write(worktree, "a.txt", "v2\n")
    write(worktree, "b.txt", "v2\n")
    cancel = threading.Event()
    events: list[str] = []

    def hook(event: restore_apply.RestoreEvent) -> None:
        events.append(event.phase)
        if event.phase == "begin":
            cancel.set()  # after the safety snapshot, before any file

    svc.on_restore.append(hook)
    with pytest.raises(Cancelled):
        requests.restore(svc, protocol.RestoreParams(from_=s1, dry_run=False), cancel=cancel)
    assert events == ["begin", "end"]
    assert (worktree / "a.txt").read_text() == (worktree / "b.txt").read_text() == "v2\n"

    # Cancelled after the first file: the result says so and what is left.
    cancel.clear()
    events.clear()

    def after_first(event: restore_apply.RestoreEvent) -> None:
        if event.phase == "write":
            cancel.set()

    svc.on_restore[:] = [after_first]
    res = requests.restore(svc, protocol.RestoreParams(from_=s1, dry_run=False), cancel=cancel)
    assert res.cancelled and res.remaining == 1 and res.written == 2 and res.applied
    assert sorted((worktree / n).read_text() for n in ("a.txt", "b.txt")) == ["v1\n", "v2\n"]


@pytest.mark.parametrize("swap", ["renameat2", "fallback"])
def test_an_edit_right_after_the_check_is_never_lost(
    svc: Worktree, worktree: Path, monkeypatch: pytest.MonkeyPatch, swap: str
) -> None:
    from snapd import fileswap

    if swap == "fallback":
        monkeypatch.setattr(fileswap, "_renameat2", None)
    elif not fileswap.supported(fileswap.RENAME_EXCHANGE):
        pytest.skip("no renameat2 here")
    write(worktree, "keep.txt", "v1\n")
    write(worktree, "w.txt", "v1\n")
    s1 = snap(svc)
    write(worktree, "w.txt", "agent\n")
    write(worktree, "gone.txt", "agent's new file\n")
    checked = restore_apply._unchanged

    def check_then_edit(store, dir_fd, name, action):
        why = checked(store, dir_fd, name, action)
        # The user saves in place right after the restore's check of this path.
        with open(name, "ab", opener=lambda p, f: os.open(p, f, dir_fd=dir_fd)) as fh:
            fh.write(b"user\n")
        return why

    monkeypatch.setattr(restore_apply, "_unchanged", check_then_edit)
    res = apply(svc, s1)
    assert res.conflicted == 2, res
    assert (worktree / "w.txt").read_text() == "agent\nuser\n"
    assert (worktree / "gone.txt").read_text() == "agent's new file\nuser\n"
    assert not [p for p in worktree.iterdir() if p.name.startswith(".snapd-restore-")]


def test_a_1500_deep_tree_restores_without_recursion_or_an_fd_per_level(
    svc: Worktree, worktree: Path
) -> None:
    """restore.apply on a tree deeper than Python's recursion limit and RLIMIT_NOFILE.

    (Snapshots of such a tree are issue 13 item 7's; here the target tree is built directly.)
    """
    import resource

    from snapd.restore import graft

    depth = 1500
    store = svc.store
    blob = store.write_blob(b"deep\n")
    tree = store.write_tree([Entry(b"f.txt", MODE_FILE, blob)])
    for _ in range(depth):
        tree = store.write_tree([Entry(b"d", MODE_TREE, tree)])
    deep = b"/".join([b"d"] * depth)
    create = restore_actions.Action(
        path=deep + b"/f.txt",
        action=protocol.RestoreActionKind.CREATE,
        kind="file",
        new_mode=MODE_FILE,
        new_oid=blob,
        new_size=5,
    )
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 1024), hard))
    try:
        done = restore_apply.apply(store, svc.root_fd, lambda: iter([create]), target_tree=tree)
        assert (done.written, done.conflicted) == (1, 0), done.conflicts
        fd = os.open(worktree, os.O_RDONLY)
        for _ in range(depth):
            nfd = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        os.close(fd)
        # Deleting it prunes all 1,500 directories the empty target does not have.
        delete = restore_actions.Action(
            path=deep + b"/f.txt",
            action=protocol.RestoreActionKind.DELETE,
            kind="file",
            old_oid=blob,
        )
        empty = store.write_tree([])
        done = restore_apply.apply(store, svc.root_fd, lambda: iter([delete]), target_tree=empty)
        assert (done.deleted, done.conflicted) == (1, 0), done.conflicts
        assert not (worktree / "d").exists()
        grafted = graft._graft_tree(store, empty, {deep + b"/g.txt": (MODE_FILE, blob)})
        assert restore_tree.TreeDirs(store, grafted).has(deep)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        _peel(worktree / "d")


def _peel(top: Path) -> None:
    """Remove a deep chain of ``d`` directories one level at a time (rmtree recurses)."""
    import shutil

    while top.exists():
        peeled = top.with_name("peeled")
        top.rename(peeled)
        if (peeled / "d").exists():
            (peeled / "d").rename(top)
        shutil.rmtree(peeled)
