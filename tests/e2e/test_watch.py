"""The watcher: incremental snapshots that are exact, read-your-writes, and hints-only events."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from snapd_client import AsyncClient
from tests.helpers import eventually, git, write

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]


async def spawn(root: Path, tmp_path: Path, name: str = "w", **options: Any) -> AsyncClient:
    return await AsyncClient.spawn(
        root,
        store=tmp_path / "store",
        log_file=tmp_path / f"{name}.log",
        options={"autoSnapshot": False, **options},
    )


async def watching(client: AsyncClient) -> bool:
    return (await client.status()).watcher == "watching"


def show(store: Path, snap: str, path: str) -> str:
    res = git(store, "show", f"{snap}:{path}")
    return res.stdout if res.returncode == 0 else "<missing>"


async def test_read_your_writes_in_a_loop(worktree: Path, tmp_path: Path) -> None:
    async with await spawn(worktree, tmp_path) as client:
        first = await client.snapshot()
        assert first.consistency == "reconciled"
        status = await client.status()
        assert status.watcher == "watching"
        for i in range(40):
            # No sleep: the snapshot must sync with the watcher before it trusts its dirty set.
            write(worktree, f"src/d{i % 4}/f.txt", f"iteration {i}\n")
            snap = await client.snapshot()
            assert snap.consistency == "exact", i
            assert show(tmp_path / "store", snap.id, f"src/d{i % 4}/f.txt") == f"iteration {i}\n"
        write(worktree, "src/last.txt", "last\n")
        forced = await client.snapshot(reconcile=True)  # a reconcile scan on request
        assert forced.consistency == "reconciled" and forced.changed == 1


async def test_incremental_snapshot_lists_only_dirty_dirs(worktree: Path, tmp_path: Path) -> None:
    old = 1_600_000_000
    for d in range(30):
        for f in range(20):
            path = write(worktree, f"pkg{d}/mod{f}.py", f"# {d} {f}\n")
            os.utime(path, (old, old))  # not "racily clean": the cache may trust them
    async with await spawn(worktree, tmp_path) as client:
        await client.snapshot()
        write(worktree, "pkg7/mod3.py", "# edited\n")
        snap = await client.snapshot()
        assert snap.consistency == "exact"
        assert snap.changed == 1 and snap.files == 601
        assert snap.hashed == 1  # the other 599 files were neither re-read nor re-hashed


async def test_racy_same_size_rewrite_is_detected(worktree: Path, tmp_path: Path) -> None:
    path = write(worktree, "src/racy.txt", "aaaa\n")
    async with await spawn(worktree, tmp_path) as client:
        await client.snapshot()
        before = os.stat(path)
        path.write_text("bbbb\n")  # same size
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # same mtime
        snap = await client.snapshot()
        assert show(tmp_path / "store", snap.id, "src/racy.txt") == "bbbb\n"


async def test_overflow_falls_back_to_an_exact_full_walk(worktree: Path, tmp_path: Path) -> None:
    async with await spawn(worktree, tmp_path, dirNewFileBudget=100_000) as client:
        await client.snapshot()
        many = worktree / "many"
        many.mkdir()
        for i in range(25_000):
            (many / f"f{i}").write_bytes(b"x")
        snap = await client.snapshot()
        assert snap.files == 25_001
        listed = git(tmp_path / "store", "ls-tree", "-r", "--name-only", snap.id).stdout.split()
        assert len(listed) == 25_001


async def test_watcher_off_still_gives_exact_snapshots(worktree: Path, tmp_path: Path) -> None:
    async with await spawn(worktree, tmp_path, watch=False) as client:
        await client.snapshot()
        write(worktree, "src/main.txt", "changed\n")
        snap = await client.snapshot()
        assert snap.consistency == "reconciled" and snap.changed == 1
        assert (await client.status()).watcher == "off"


async def test_auto_snapshot_and_notifications(worktree: Path, tmp_path: Path) -> None:
    async with await spawn(
        worktree, tmp_path, autoSnapshot=True, quietMs=100, notifyIntervalMs=50
    ) as client:
        first = await client.snapshot()
        changed: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        snapped: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        client.on_notification("snapd/didChange", changed.put_nowait)
        client.on_notification("snapd/didSnapshot", snapped.put_nowait)
        write(worktree, "src/auto.txt", "written by an agent\n")
        change = await changed.get()  # the event; a missing one fails by the test timeout
        assert "src/auto.txt" in change["paths"]
        note = await snapped.get()
        assert note["auto"] is True and note["parent"] == first.id
        files = [f.path async for f in client.iter_diff(first.id, note["id"])]
        assert files == ["src/auto.txt"]


async def test_stat_cache_survives_a_restart(worktree: Path, tmp_path: Path) -> None:
    for i in range(200):
        path = write(worktree, f"src/f{i}.txt", f"{i}\n" * 50)
        os.utime(path, (1_600_000_000, 1_600_000_000))
    os.utime(worktree / "src" / "main.txt", (1_600_000_000, 1_600_000_000))
    async with await spawn(worktree, tmp_path, "one") as client:
        first = await client.snapshot()
        assert first.hashed == 201
    async with await spawn(worktree, tmp_path, "two") as client:
        status = await client.status()
        assert status.cached_files >= 200
        again = await client.snapshot()
        assert not again.created and again.hashed == 0  # nothing re-read after the restart


async def test_a_restore_does_not_trigger_automatic_snapshots(
    worktree: Path, tmp_path: Path
) -> None:
    async with await spawn(
        worktree, tmp_path, autoSnapshot=True, quietMs=150, notifyIntervalMs=20
    ) as client:
        for i in range(5):
            write(worktree, f"src/r{i}.txt", "original\n")
        base = await client.snapshot(label="base")
        for i in range(5):
            write(worktree, f"src/r{i}.txt", "edited by the agent\n")
        await client.snapshot(label="edited")
        changed: list[dict[str, Any]] = []
        snapped: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        client.on_notification("snapd/didChange", changed.append)
        client.on_notification("snapd/didSnapshot", snapped.put_nowait)
        done = await client.restore(base.id, dry_run=False)
        assert done.applied and done.safety_snapshot
        await snapped.get()  # the safety snapshot's own notification
        write(worktree, "src/unrelated.txt", "a real change\n")
        note = await snapped.get()
        assert note["auto"] is True and note["parent"] == done.safety_snapshot
        reported = {p for c in changed for p in c["paths"]}
        assert reported == {"src/unrelated.txt"}  # the restore's writes were not news
        files = {f.path async for f in client.iter_diff(base.id, note["id"])}
        assert files == {"src/unrelated.txt"}  # ...but the snapshot holds the restored state


async def test_an_undecodable_name_restarts_the_watcher(worktree: Path, tmp_path: Path) -> None:
    async with await spawn(worktree, tmp_path) as client:
        await client.snapshot()
        name = os.fsencode(worktree) + b"/caf\xe9.txt"
        with open(name, "wb") as fh:
            fh.write(b"latin-1 name\n")
        os.utime(name, (0, 1_000_000_000))  # old: the stat cache trusts it without a re-read
        # Its event cannot name the path: the next snapshot walks everything, so it is in.
        snap = await client.snapshot()
        paths = [f.path async for f in client.iter_diff(snap.parent or "", snap.id)]
        assert "caf\udce9.txt" in paths

        # ...and the watcher comes back. Any event on that name, even the snapshot's own read
        # of the file, poisons watchfiles again, so a restart may still be in flight; each
        # restart makes one more snapshot walk the tree. Once nothing touches the file, every
        # snapshot is exact again, and no snapshot ever misses a write.
        exact = 0
        for turn in range(6):
            # No notification says the watcher is back: ask until it says so.
            await eventually(
                lambda: watching(client), "the watcher is back after the undecodable name"
            )
            write(worktree, f"src/after{turn}.txt", f"turn {turn}\n")
            again = await client.snapshot()
            assert show(tmp_path / "store", again.id, f"src/after{turn}.txt") == f"turn {turn}\n"
            exact = exact + 1 if again.consistency == "exact" else 0
            if exact == 2:
                break
        assert exact == 2, "snapshots never became exact again after the restarts"


async def test_a_live_diff_reads_only_what_the_watcher_saw(worktree: Path, tmp_path: Path) -> None:
    """Each live diff is exact (dirty paths only) and equals a full walk's answer."""
    import random

    old = 1_600_000_000
    for d in range(8):
        for f in range(8):
            os.utime(write(worktree, f"pkg{d}/m{f}.txt", f"{d} {f}\n"), (old, old))
    rng = random.Random(15)
    async with await spawn(worktree, tmp_path) as client:
        latest = (await client.snapshot()).id
        for round_ in range(10):
            files = sorted(p for p in worktree.rglob("*") if p.is_file())
            for path in rng.sample(files, 3):
                path.write_text(f"round {round_}\n")  # modified
            rng.choice(files).unlink()  # deleted
            write(worktree, f"pkg{rng.randrange(10)}/new{round_}.txt", "new\n")  # added
            if round_ % 3 == 1:  # an ignore rule that hides what it names, from now on
                write(worktree, f"pkg{rng.randrange(8)}/.gitignore", f"m{rng.randrange(8)}.txt\n")
            live = await client.diff(latest)
            assert live.consistency == "exact", round_
            walked = await client.snapshot(reconcile=True)
            oracle = await client.diff(latest, walked.id)
            assert oracle.consistency is None
            got = [(f.path, f.status, f.new_size, f.skipped) for f in live.files]
            assert got == [(f.path, f.status, f.new_size, f.skipped) for f in oracle.files], round_
            latest = walked.id
    async with await spawn(worktree, tmp_path, name="off", watch=False) as client:
        write(worktree, "pkg0/late.txt", "late\n")
        live = await client.diff("latest")
        assert live.consistency == "reconciled"
        assert [f.path for f in live.files] == ["pkg0/late.txt"]
