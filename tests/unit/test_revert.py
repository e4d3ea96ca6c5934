"""snapd/revert through the request layer: each kind of path a step can change, and paging."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from snapd import errors, protocol, requests
from snapd.paging import PIECE_BYTES
from snapd.worktree import Worktree
from tests.helpers import make_service, write

REVERT, MERGE = protocol.RevertActionKind.REVERT, protocol.RevertActionKind.MERGE
CONFLICT, KEEP = protocol.RevertActionKind.CONFLICT, protocol.RevertActionKind.KEEP
BODY = "".join(f"line {i}\n" for i in range(20))


def snap(svc: Worktree, label: str) -> str:
    return requests.snapshot(svc, protocol.SnapshotParams(label=label)).id


def plan_of(svc: Worktree, a: str, b: str, **kw: Any) -> dict[str, protocol.RevertAction]:
    result = requests.revert(svc, protocol.RevertParams(from_=a, to=b, **kw))
    return {x.path: x for x in result.plan}


def test_added_deleted_and_symlinks_follow_the_step(worktree: Path, store_dir: Path) -> None:
    svc = make_service(worktree, store_dir)
    write(worktree, "del_absent.txt", "1\n")
    write(worktree, "del_back.txt", "2\n")
    os.symlink("src", worktree / "link")
    a = snap(svc, "a")
    write(worktree, "add_same.txt", "added\n")
    write(worktree, "add_changed.txt", "added\n")
    (worktree / "del_absent.txt").unlink()
    (worktree / "del_back.txt").unlink()
    (worktree / "link").unlink()
    os.symlink("src/main.txt", worktree / "link")
    b = snap(svc, "b")
    write(worktree, "add_changed.txt", "added, then edited\n")
    write(worktree, "del_back.txt", "something else now\n")
    plan = plan_of(svc, a, b)
    got = {p: (x.action, x.conflict) for p, x in plan.items()}
    assert got == {
        "add_changed.txt": (CONFLICT, "changed-since"),
        "add_same.txt": (REVERT, None),
        "del_absent.txt": (REVERT, None),
        "del_back.txt": (CONFLICT, "changed-since"),
        "link": (REVERT, None),
    }
    done = requests.revert(svc, protocol.RevertParams(from_=a, to=b, dry_run=False))
    assert done.applied and done.failed == 0
    assert not (worktree / "add_same.txt").exists()
    assert (worktree / "add_changed.txt").read_text() == "added, then edited\n"
    assert (worktree / "del_absent.txt").read_text() == "1\n"
    assert (worktree / "del_back.txt").read_text() == "something else now\n"
    assert os.readlink(worktree / "link") == "src"
    # Reverting again: everything is already as before the step, or still a conflict.
    again = plan_of(svc, a, b)
    assert {p: x.action for p, x in again.items()} == {
        "add_changed.txt": CONFLICT,
        "add_same.txt": KEEP,
        "del_absent.txt": KEEP,
        "del_back.txt": CONFLICT,
        "link": KEEP,
    }


def test_modes_merge_with_content(worktree: Path, store_dir: Path) -> None:
    svc = make_service(worktree, store_dir)
    for name in ("m1.sh", "m2.sh", "m3.sh"):
        write(worktree, name, BODY)
    a = snap(svc, "a")
    os.chmod(worktree / "m1.sh", 0o755)  # the step: mode only
    os.chmod(worktree / "m3.sh", 0o755)
    write(worktree, "m2.sh", BODY.replace("line 1\n", "step 1\n"))  # the step: content only
    b = snap(svc, "b")
    write(worktree, "m1.sh", BODY.replace("line 15\n", "later 15\n"))  # later: content
    os.chmod(worktree / "m2.sh", 0o755)  # later: mode
    os.chmod(worktree / "m3.sh", 0o700)  # later: still executable (git mode 100755)
    plan = plan_of(svc, a, b)
    assert plan["m1.sh"].action is MERGE and plan["m2.sh"].action is MERGE
    assert plan["m3.sh"].action is REVERT  # as the step left it, in git's terms
    requests.revert(svc, protocol.RevertParams(from_=a, to=b, dry_run=False))
    assert not os.access(worktree / "m1.sh", os.X_OK)
    assert (worktree / "m1.sh").read_text() == BODY.replace("line 15\n", "later 15\n")
    assert os.access(worktree / "m2.sh", os.X_OK)  # the later mode change stays
    assert (worktree / "m2.sh").read_text() == BODY
    assert (worktree / "m3.sh").stat().st_mode & 0o777 == 0o600  # its own bits, exec cleared


def test_uncaptured_content_is_kept_unless_forced(worktree: Path, store_dir: Path) -> None:
    svc = make_service(worktree, store_dir, content_limit=64)
    write(worktree, "f.txt", "small\n")
    a = snap(svc, "a")
    write(worktree, "f.txt", "step\n")
    b = snap(svc, "b")
    write(worktree, "f.txt", "x" * 100)  # over contentLimit now: not captured
    plan = plan_of(svc, a, b)
    assert (plan["f.txt"].action, plan["f.txt"].rule) == (KEEP, "size-limit")
    forced = plan_of(svc, a, b, force=["f.txt"])
    assert forced["f.txt"].action is REVERT and forced["f.txt"].forced
    requests.revert(svc, protocol.RevertParams(from_=a, to=b, force=["f.txt"], dry_run=False))
    assert (worktree / "f.txt").read_text() == "small\n"


def test_binary_and_too_many_lines_are_conflicts(worktree: Path, store_dir: Path) -> None:
    svc = make_service(worktree, store_dir, diff_max_lines=10)
    write(worktree, "bin.dat", b"\0" + BODY.encode())
    write(worktree, "long.txt", BODY)
    a = snap(svc, "a")
    write(worktree, "bin.dat", b"\0" + BODY.replace("line 1\n", "step\n").encode())
    write(worktree, "long.txt", BODY.replace("line 1\n", "step\n"))
    b = snap(svc, "b")
    write(worktree, "bin.dat", b"\0" + BODY.replace("line 1\n", "step\n").encode() + b"later")
    write(worktree, "long.txt", BODY.replace("line 1\n", "step\n") + "later\n")
    plan = plan_of(svc, a, b)
    assert {p: x.conflict for p, x in plan.items()} == {
        "bin.dat": "binary",
        "long.txt": "too-large-to-merge",
    }


def test_paths_scope_and_paging(worktree: Path, store_dir: Path) -> None:
    svc = make_service(worktree, store_dir)
    for i in range(12):
        write(worktree, f"d{i % 2}/f{i:02}.txt", f"{i}\n")
    a = snap(svc, "a")
    for i in range(12):
        write(worktree, f"d{i % 2}/f{i:02}.txt", f"{i} step\n")
    b = snap(svc, "b")
    assert set(plan_of(svc, a, b, paths=["d1"])) == {f"d1/f{i:02}.txt" for i in range(1, 12, 2)}
    first = requests.revert(svc, protocol.RevertParams(from_=a, to=b, limit=5))
    seen = [x.path for x in first.plan]
    cursor = first.next_cursor
    while cursor is not None:
        page = requests.revert(svc, protocol.RevertParams(from_=a, to=b, limit=5, cursor=cursor))
        assert (page.plan_token, page.reverted) == (first.plan_token, 12)
        seen += [x.path for x in page.plan]
        cursor = page.next_cursor
    assert seen == sorted(f"d{i % 2}/f{i:02}.txt" for i in range(12))
    assert first.next_cursor is not None
    with pytest.raises(errors.BadCursor):
        requests.revert(
            svc, protocol.RevertParams(from_=a, to=b, paths=["d0"], cursor=first.next_cursor)
        )
    with pytest.raises(errors.InvalidParams):
        requests.revert(svc, protocol.RevertParams(from_=a, to=b, paths=[]))
    with pytest.raises(errors.InvalidParams):
        requests.revert(
            svc, protocol.RevertParams(from_=a, to=b, cursor=first.next_cursor, dry_run=False)
        )


def test_a_file_changed_during_the_apply_is_a_failure(
    worktree: Path, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = make_service(worktree, store_dir)
    write(worktree, "a.txt", "a\n")
    write(worktree, "b.txt", "b\n")
    a = snap(svc, "a")
    write(worktree, "a.txt", "a step\n")
    write(worktree, "b.txt", "b step\n")
    b = snap(svc, "b")
    from snapd.restore import apply as restore_apply

    checked = restore_apply._unchanged

    def edit_then_check(store: Any, dir_fd: int, name: bytes, action: Any) -> Any:
        if name == b"b.txt":
            write(worktree, "b.txt", "edited while the revert ran\n")
        return checked(store, dir_fd, name, action)

    monkeypatch.setattr(restore_apply, "_unchanged", edit_then_check)
    done = requests.revert(svc, protocol.RevertParams(from_=a, to=b, dry_run=False))
    assert (worktree / "a.txt").read_text() == "a\n"
    assert (worktree / "b.txt").read_text() == "edited while the revert ran\n"
    assert done.failed == 1 and done.failures is not None
    assert [(x.path, x.action, x.conflict) for x in done.failures] == [
        ("b.txt", CONFLICT, "changed")
    ]


def test_a_huge_conflict_lists_its_hunks_within_one_page(worktree: Path, store_dir: Path) -> None:
    svc = make_service(worktree, store_dir)
    body = "".join(f"line {i} {'x' * 200}\n" for i in range(2000))
    write(worktree, "big.txt", body)
    a = snap(svc, "a")
    step = "".join(f"step {i} {'y' * 200}\n" for i in range(2000))
    write(worktree, "big.txt", step)
    b = snap(svc, "b")
    write(worktree, "big.txt", step.replace("step 5 ", "later 5 "))
    result = requests.revert(svc, protocol.RevertParams(from_=a, to=b, max_bytes=1))
    (item,) = result.plan
    assert (item.action, item.conflict, item.hunks_truncated) == (
        CONFLICT,
        "overlapping-edits",
        True,
    )
    size = len(json.dumps(protocol.wire_converter().unstructure(item)))
    assert size <= PIECE_BYTES  # the smallest page holds it


def test_conflict_markers_only_when_asked(worktree: Path, store_dir: Path) -> None:
    svc = make_service(worktree, store_dir)
    write(worktree, "c.txt", BODY)
    a = snap(svc, "a")
    write(worktree, "c.txt", BODY.replace("line 2\n", "step 2\n").replace("line 12\n", "step 12\n"))
    b = snap(svc, "b")
    live = BODY.replace("line 2\n", "later 2\n").replace("line 12\n", "step 12\n")
    write(worktree, "c.txt", live)
    plain = plan_of(svc, a, b)["c.txt"]
    assert (plain.action, plain.change, plain.conflict) == (CONFLICT, None, "overlapping-edits")
    marked = plan_of(svc, a, b, conflict_markers=True)["c.txt"]
    assert (marked.action, marked.change) == (CONFLICT, protocol.RestoreActionKind.WRITE)
    assert marked.hunks is not None and marked.hunks[0].lines == ["-line 2", "+step 2"]
    done = requests.revert(
        svc, protocol.RevertParams(from_=a, to=b, conflict_markers=True, dry_run=False)
    )
    assert done.applied and done.safety_snapshot is not None
    # The non-overlapping part of the step (line 12) is out; the overlap is marked.
    assert (worktree / "c.txt").read_text() == BODY.replace(
        "line 2\n",
        "<<<<<<< worktree\nlater 2\n||||||| after the step\nstep 2\n=======\nline 2\n"
        ">>>>>>> before the step\n",
    )
