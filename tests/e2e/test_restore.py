"""End to end: snapd/restore over real stdio, a kill -9 in the middle of one, and the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path

import pytest

from snapd import protocol
from snapd_client import AsyncClient, PathOutsideRoot, PlanStale, TransportClosed, cli
from tests.helpers import eventually, git, write

pytestmark = [pytest.mark.e2e]

N = 80


def contents(root: Path) -> dict[str, str]:
    """The files of many/, without a restore's temp files (those are checked apart)."""
    found = {}
    for p in sorted((root / "many").iterdir()):
        if p.name.startswith(".snapd-restore-"):
            continue
        with contextlib.suppress(FileNotFoundError):
            found[p.name] = p.read_text()
    return found


@pytest.mark.asyncio
async def test_restore_over_stdio(worktree: Path, tmp_path: Path) -> None:
    async with await AsyncClient.spawn(
        worktree, store=tmp_path / "store", log_file=tmp_path / "d.log"
    ) as client:
        s1 = await client.snapshot("s1")
        write(worktree, "src/main.txt", "edited\n")
        write(worktree, "src/new.txt", "new\n")
        dry = await client.restore(s1.id, limit=1)
        assert [a.path for a in dry.plan] == ["src/main.txt"] and dry.next_cursor is not None
        plan = [a async for a in client.iter_restore_plan(dry, s1.id, limit=1)]
        assert [(a.path, a.action.value) for a in plan] == [
            ("src/main.txt", "write"),
            ("src/new.txt", "delete"),
        ]
        write(worktree, "src/main.txt", "edited again\n")
        with pytest.raises(PlanStale) as info:
            await client.restore(s1.id, dry_run=False, plan_token=dry.plan_token)
        assert info.value.field == "planToken"
        with pytest.raises(PathOutsideRoot):
            await client.restore(s1.id, paths=["../x"])
        dry = await client.restore(s1.id)
        done = await client.restore(s1.id, dry_run=False, plan_token=dry.plan_token)
        assert done.applied and done.safety_snapshot is not None
        assert (worktree / "src/main.txt").read_text() == "hello\n"
        assert not (worktree / "src/new.txt").exists()
        undo = await client.restore(done.safety_snapshot, dry_run=False)
        assert undo.applied
        assert (worktree / "src/main.txt").read_text() == "edited again\n"
    assert git(tmp_path / "store", "fsck", "--strict").returncode == 0


@pytest.mark.asyncio
async def test_kill_9_mid_restore_is_undone_by_the_safety_snapshot(
    worktree: Path, tmp_path: Path
) -> None:
    for i in range(N):
        write(worktree, f"many/{i:03}.txt", f"original {i}\n")
    store = tmp_path / "store"
    # --test-restore-delay is a hidden test-only flag: the restore sleeps after each file.
    client = await AsyncClient.spawn(
        worktree,
        store=store,
        log_file=tmp_path / "1.log",
        extra_args=["--test-restore-delay", "0.05"],
    )
    try:
        s1 = await client.snapshot("s1")
        for i in range(N):
            write(worktree, f"many/{i:03}.txt", f"edited {i}\n")
        edited = contents(worktree)
        pending = asyncio.ensure_future(client.restore(s1.id, dry_run=False))
        # Kill once 5 files are restored (the other 75 take >= 3.75 s more). Nothing announces
        # a restored file, so this one waits on the worktree itself.
        await eventually(
            lambda: sum(v.startswith("original") for v in contents(worktree).values()) >= 5,
            "5 files restored",
        )
        client.transport.proc.kill()  # type: ignore[attr-defined]  # SIGKILL
        with pytest.raises(TransportClosed):
            await pending
    finally:
        await client.transport.close()
    half = contents(worktree)
    assert 5 <= sum(v.startswith("original") for v in half.values()) < N  # really mid-restore
    async with await AsyncClient.spawn(worktree, store=store, log_file=tmp_path / "2.log") as again:
        history = [s async for s in again.iter_snapshots()]
        safety = history[0]
        assert safety.label == f"before restore from {s1.id[:12]}"
        assert [s.id for s in history[1:]] == [s1.id]
        undo = await again.restore(safety.id, dry_run=False)
        assert undo.applied and undo.conflicted == 0
    assert contents(worktree) == edited
    leftovers = [p for p in worktree.rglob("*") if p.name.startswith(".snapd-restore-")]
    assert leftovers == []
    assert git(store, "fsck", "--strict").returncode == 0


def test_cli_restore(worktree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--root", str(worktree), "--store", str(tmp_path / "store"), "--color", "never"]
    write(worktree, ".gitignore", "*.log\n")
    assert cli.main([*base, "snapshot", "-m", "s1"]) == 0
    capsys.readouterr()
    write(worktree, "src/main.txt", "edited\n")
    write(worktree, "src/new.txt", "new\n")
    write(worktree, "src/x.log", "ignored\n")
    assert cli.main([*base, "restore"]) == 0
    out = capsys.readouterr().out
    assert "restore plan (dry run) from latest" in out
    assert "  write   src/main.txt  7 B -> 6 B" in out
    assert "  delete  src/new.txt  4 B" in out
    assert "  keep    src/x.log  (its content in the worktree was not captured" in out
    assert "run again with --apply" in out
    assert (worktree / "src/main.txt").read_text() == "edited\n"
    assert cli.main([*base, "--json", "restore", "--", "src/main.txt"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [a["path"] for a in doc["plan"]] == ["src/main.txt"] and doc["applied"] is False
    assert cli.main([*base, "restore", "--apply", "--", "src/main.txt"]) == 0
    out = capsys.readouterr().out
    assert "restored: safety snapshot" in out and "(undo: snapd restore" in out
    assert (worktree / "src/main.txt").read_text() == "hello\n"
    assert (worktree / "src/new.txt").exists()
    safety = out.split("safety snapshot ")[1].split()[0]
    assert cli.main([*base, "restore", safety, "--apply"]) == 0
    capsys.readouterr()
    assert (worktree / "src/main.txt").read_text() == "edited\n"
    write(worktree, "f.txt", "".join(f"{i}\n" for i in range(30)))
    assert cli.main([*base, "snapshot"]) == 0
    write(worktree, "f.txt", "".join(f"{i}{'!' if i in (2, 25) else ''}\n" for i in range(30)))
    assert cli.main([*base, "hunks", "f.txt"]) == 0
    headers = [line for line in capsys.readouterr().out.splitlines() if line.startswith("@@")]
    assert [h.rsplit(" ", 1)[0] for h in headers] == ["@@ -1,6 +1,6 @@", "@@ -23,7 +23,7 @@"]
    second = headers[1].rsplit(" ", 1)[1]  # each header ends with the hunk's digest
    assert cli.main([*base, "restore", "--apply", "--hunks", f"f.txt:{second}"]) == 0
    capsys.readouterr()
    text = (worktree / "f.txt").read_text()
    assert "2!\n" in text and "25!\n" not in text
    # Restored already: that digest names no hunk now.
    assert cli.main([*base, "restore", "--apply", "--hunks", f"f.txt:{second}"]) == 1
    assert f"has no hunk {second} now" in capsys.readouterr().err
    for bad in ("f.txt", "f.txt:1"):
        with pytest.raises(SystemExit) as exit_info:
            cli.main([*base, "restore", "--hunks", bad])
        assert exit_info.value.code == 2
        assert "expected PATH:DIGEST" in capsys.readouterr().err
    assert os.path.exists(worktree / "src/x.log")


def test_restore_types_round_trip() -> None:
    conv = protocol.converter()
    params = protocol.RestoreParams(
        from_="latest",
        hunks=protocol.HunkSelection(path="a", digests=["0" * 16, "f" * 16]),
        dry_run=False,
    )
    raw = conv.unstructure(params)
    assert raw == {
        "from": "latest",
        "hunks": {"path": "a", "digests": ["0" * 16, "f" * 16]},
        "dryRun": False,
    }
    assert conv.structure(raw, protocol.RestoreParams) == params
