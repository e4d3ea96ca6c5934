"""End to end: snapd/revert over real daemons, with two sessions sharing one worktree."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import pytest

from snapd import protocol
from snapd_client import AsyncClient, PlanStale, TransportClosed
from tests.helpers import eventually, git, write

pytestmark = [pytest.mark.e2e]

REVERT, MERGE = protocol.RevertActionKind.REVERT, protocol.RevertActionKind.MERGE
CONFLICT, KEEP = protocol.RevertActionKind.CONFLICT, protocol.RevertActionKind.KEEP


def function(name: str, body: str) -> str:
    return f"def {name}():\n    x = 1\n    y = 2\n    {body}\n    return x + y\n\n\n"


X = function("f", "x += 1") + function("g", "y += 1") + function("h", "pass")


def stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_mtime_ns, st.st_ino


@pytest.mark.asyncio
async def test_undo_one_sessions_step_keeps_the_other_sessions_edits(
    worktree: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    write(worktree, "x.py", X)
    write(worktree, "y.py", "y = 1\n")
    write(worktree, "doomed.txt", "the agent deletes this\n")
    write(worktree, "z.txt", "nobody touches this\n")
    agent = await AsyncClient.connect(worktree, store=store, client_name="agent")
    user = await AsyncClient.connect(worktree, store=store, client_name="editor")
    try:
        start = await agent.snapshot("turn 3 start", session="agent-a")
        # Agent A's turn: it edits f in x.py, adds a file and deletes one.
        write(worktree, "x.py", X.replace("x += 1", "x += 100  # agent"))
        write(worktree, "added/by_agent.py", "print('agent')\n")
        (worktree / "doomed.txt").unlink()
        end = await agent.snapshot("turn 3 end", session="agent-a")
        # The user, meanwhile, edits g in the same file and edits y.py.
        write(worktree, "x.py", X.replace("x += 1", "x += 100  # agent").replace("y += 1", "y = 0"))
        write(worktree, "y.py", "y = 2  # user\n")
        await user.snapshot("user save", session="editor")
        untouched = {name: stamp(worktree / name) for name in ("y.py", "z.txt")}

        steps = (await user.snapshots(session="agent-a")).snapshots
        assert [s.id for s in steps] == [end.id, start.id]
        assert {s.client for s in steps} == {"agent"}
        dry = await user.revert(steps[1].id, steps[0].id)
        plan = {a.path: (a.action, a.change) for a in dry.plan}
        assert plan == {
            "added/by_agent.py": (REVERT, protocol.RestoreActionKind.DELETE),
            "doomed.txt": (REVERT, protocol.RestoreActionKind.CREATE),
            "x.py": (MERGE, protocol.RestoreActionKind.WRITE),
        }
        assert (dry.reverted, dry.merged, dry.conflicted, dry.kept) == (2, 1, 0, 0)
        assert (worktree / "added/by_agent.py").exists()  # a dry run writes nothing

        done = await user.revert(start.id, end.id, dry_run=False, plan_token=dry.plan_token)
        assert done.applied and done.failed == 0 and done.safety_snapshot is not None
        # A's change is out of x.py, the user's stays; y.py is the user's and untouched.
        assert (worktree / "x.py").read_text() == X.replace("y += 1", "y = 0")
        assert not (worktree / "added").exists()
        assert (worktree / "doomed.txt").read_text() == "the agent deletes this\n"
        assert (worktree / "y.py").read_text() == "y = 2  # user\n"
        assert {name: stamp(worktree / name) for name in untouched} == untouched

        # The safety snapshot undoes the revert.
        back = await agent.restore(done.safety_snapshot, dry_run=False)
        assert back.applied
        assert "x += 100  # agent" in (worktree / "x.py").read_text()
        assert (worktree / "added/by_agent.py").exists()
    finally:
        await agent.close()
        await user.close()
    assert git(store, "fsck", "--strict").returncode == 0


@pytest.mark.asyncio
async def test_conflicts_and_files_over_diff_max_bytes(worktree: Path, tmp_path: Path) -> None:
    big = "".join(f"row {i:05}\n" for i in range(2000))  # ~20 KB, over diffMaxBytes below
    write(worktree, "conflict.py", X)
    write(worktree, "big_same.txt", big)
    write(worktree, "big_changed.txt", big)
    write(worktree, "mode.sh", "echo hi\n")
    async with await AsyncClient.spawn(
        worktree,
        store=tmp_path / "store",
        log_file=tmp_path / "d.log",
        options={"diffMaxBytes": 4096},
    ) as client:
        start = await client.snapshot("start")
        write(worktree, "conflict.py", X.replace("y += 1", "y += 7  # step"))
        write(worktree, "big_same.txt", big.replace("row 00010\n", "step\n"))
        write(worktree, "big_changed.txt", big.replace("row 00010\n", "step\n"))
        os.chmod(worktree / "mode.sh", 0o755)
        end = await client.snapshot("end")
        later = X.replace("y += 1", "y += 8  # later")
        write(worktree, "conflict.py", later)
        big_later = big.replace("row 00010\n", "step\n") + "later\n"
        write(worktree, "big_changed.txt", big_later)
        plan = await client.revert(start.id, end.id)
        by_path = {a.path: a for a in plan.plan}
        assert by_path["big_same.txt"].action is REVERT  # equal to `to`: reverted by hash
        assert by_path["mode.sh"].action is REVERT
        assert (by_path["big_changed.txt"].action, by_path["big_changed.txt"].conflict) == (
            CONFLICT,
            "too-large-to-merge",
        )
        c = by_path["conflict.py"]
        assert (c.action, c.conflict) == (CONFLICT, "overlapping-edits")
        assert c.hunks is not None and c.hunks[0].lines == ["-    y += 1", "+    y += 7  # step"]
        done = await client.revert(start.id, end.id, dry_run=False, plan_token=plan.plan_token)
        assert done.applied and done.failed == 0
        assert (worktree / "big_same.txt").read_text() == big
        assert (worktree / "big_changed.txt").read_text() == big_later  # left alone
        assert (worktree / "conflict.py").read_text() == later  # no conflict markers
        assert not os.access(worktree / "mode.sh", os.X_OK)


@pytest.mark.asyncio
async def test_a_symlink_swapped_in_between_plan_and_apply(worktree: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write(worktree, "d/x.txt", "before\n")
    async with await AsyncClient.spawn(
        worktree, store=tmp_path / "store", log_file=tmp_path / "d.log"
    ) as client:
        start = await client.snapshot("start")
        write(worktree, "d/x.txt", "after\n")
        end = await client.snapshot("end")
        plan = await client.revert(start.id, end.id)
        assert [(a.path, a.action) for a in plan.plan] == [("d/x.txt", REVERT)]
        # d/ becomes a symlink to a directory outside the worktree holding the same file.
        write(outside, "x.txt", "after\n")
        os.rename(worktree / "d", tmp_path / "d.moved")
        os.symlink(outside, worktree / "d")
        with pytest.raises(PlanStale):
            await client.revert(start.id, end.id, dry_run=False, plan_token=plan.plan_token)
        done = await client.revert(start.id, end.id, dry_run=False)
        assert [(a.path, a.action) for a in done.plan] == [("d/x.txt", CONFLICT)]
        assert (outside / "x.txt").read_text() == "after\n"  # never written through the link
        assert os.path.islink(worktree / "d")


def many(root: Path) -> dict[str, str]:
    """The files of many/ (a revert's temporary files aside)."""
    found = {}
    for p in sorted((root / "many").iterdir()):
        if not p.name.startswith(".snapd-restore-"):
            with contextlib.suppress(FileNotFoundError):
                found[p.name] = p.read_text()
    return found


@pytest.mark.asyncio
async def test_kill_9_mid_revert_is_undone_by_the_safety_snapshot(
    worktree: Path, tmp_path: Path
) -> None:
    n = 60
    body = "".join(f"line {k}\n" for k in range(10))
    for i in range(n):
        write(worktree, f"many/{i:03}.txt", body)
    store = tmp_path / "store"
    # --test-restore-delay (test only): the revert sleeps after each file it writes.
    client = await AsyncClient.spawn(
        worktree,
        store=store,
        log_file=tmp_path / "1.log",
        extra_args=["--test-restore-delay", "0.05"],
    )
    try:
        start = await client.snapshot("start", session="agent")
        for i in range(n):
            write(worktree, f"many/{i:03}.txt", body.replace("line 1\n", f"agent {i}\n"))
        end = await client.snapshot("end", session="agent")
        for i in range(n):  # a later edit elsewhere in every file: each revert is a merge
            write(worktree, f"many/{i:03}.txt", body.replace("line 1\n", f"agent {i}\n") + "user\n")
        live = many(worktree)
        pending = asyncio.ensure_future(client.revert(start.id, end.id, dry_run=False))
        await eventually(
            lambda: sum("agent" not in v for v in many(worktree).values()) >= 5, "5 files merged"
        )
        client.transport.proc.kill()  # type: ignore[attr-defined]  # SIGKILL
        with pytest.raises(TransportClosed):
            await pending
    finally:
        await client.transport.close()
    assert 5 <= sum("agent" not in v for v in many(worktree).values()) < n  # really mid-revert
    async with await AsyncClient.spawn(worktree, store=store, log_file=tmp_path / "2.log") as again:
        safety = (await again.snapshots(limit=1)).snapshots[0]
        assert safety.label == f"before revert of {start.id[:12]}..{end.id[:12]}"
        undo = await again.restore(safety.id, dry_run=False)
        assert undo.applied and undo.conflicted == 0
    assert many(worktree) == live
    assert [p for p in worktree.rglob("*") if p.name.startswith(".snapd-restore-")] == []
    assert git(store, "fsck", "--strict").returncode == 0
