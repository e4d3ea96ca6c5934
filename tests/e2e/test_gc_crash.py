"""Kill -9 during garbage collection: the store stays valid and nothing is leaked."""

from __future__ import annotations

import asyncio
import itertools
import random
from pathlib import Path

import pytest

from snapd_client import AsyncClient, StdioTransport
from tests.helpers import git, write

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio, pytest.mark.slow]

OPTIONS = {
    "watch": False,
    "autoGc": False,
    "retainLatest": 2,
    "retainCount": 3,
    "gcGraceSeconds": 0,
}


async def spawn(root: Path, tmp_path: Path, name: str) -> AsyncClient:
    return await AsyncClient.spawn(
        root, store=tmp_path / "store", log_file=tmp_path / f"{name}.log", options=OPTIONS
    )


async def test_kill_9_during_gc(worktree: Path, tmp_path: Path) -> None:
    rng = random.Random(5)
    store = tmp_path / "store"
    for trial in range(6):
        client = await spawn(worktree, tmp_path, f"t{trial}")
        for i in range(12):
            write(worktree, "data/rows.jsonl", "".join(f"{trial}:{i}:{k}\n" for k in range(3000)))
            write(worktree, f"src/f{i % 4}.txt", f"{trial} {i}\n")
            await client.snapshot()
        before = [s.id async for s in client.iter_snapshots()]
        task = asyncio.ensure_future(client.gc())
        await asyncio.sleep(rng.uniform(0.0, 0.25))
        assert isinstance(client.transport, StdioTransport)
        client.transport.proc.kill()
        await client.transport.proc.wait()
        # Killed mid-collection or just after it: either way the store must be fine.
        await asyncio.gather(task, return_exceptions=True)
        fsck = git(store, "fsck", "--strict", "--no-dangling")
        assert fsck.returncode == 0, (trial, fsck.stderr)
        async with await spawn(worktree, tmp_path, f"r{trial}") as again:
            # A restart removes what the killed collection left, and every retained snapshot
            # (a subset of the ones before) is complete.
            assert not list((store / "objects" / "pack").glob("tmp_*"))
            kept = [s.id async for s in again.iter_snapshots()]
            assert set(kept) <= set(before) and kept[0] == before[0]
            for newer, older in itertools.pairwise(kept):
                await again.diff(older, newer)
            for snap in kept:
                assert git(store, "ls-tree", "-r", snap).returncode == 0
            report = await again.gc()
            assert report.kept == len([s async for s in again.iter_snapshots()])
        assert git(store, "fsck", "--strict", "--no-dangling").returncode == 0
