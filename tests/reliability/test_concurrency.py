"""Concurrency: two daemons on one worktree or store, stale locks, concurrent requests."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest

from snapd_client import AsyncClient, StdioTransport, StoreLocked
from tests.helpers import write
from tests.reliability.harness import assert_fsck_clean, snapshot_ids

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]


def pid_of(client: AsyncClient) -> int:
    assert isinstance(client.transport, StdioTransport)
    return client.transport.proc.pid


async def spawn(root: Path, log: Path, store: Path | None = None, **kw) -> AsyncClient:
    return await AsyncClient.spawn(root, store=store, log_file=log, **kw)


@pytest.mark.fault("second daemon on the same store or worktree: refused, holder named", trials=2)
async def test_second_daemon_is_refused_naming_the_holder(tmp_path: Path) -> None:
    root = tmp_path / "work"
    write(root, "a.txt", "a\n")
    other = tmp_path / "other"
    write(other, "b.txt", "b\n")
    # Same worktree, default store (derived from the worktree's real path): one store, one lock.
    async with await spawn(root, tmp_path / "1.log") as first:
        await first.snapshot()
        with pytest.raises(StoreLocked) as info:
            await spawn(root, tmp_path / "2.log")
        assert info.value.code == -31004
        holder = info.value.data["holder"]
        assert holder["pid"] == pid_of(first) and holder["host"] and holder["since"] > 0
        assert str(pid_of(first)) in str(info.value)
    # Same explicit store, another worktree.
    store = tmp_path / "store"
    async with await spawn(root, tmp_path / "3.log", store) as first:
        with pytest.raises(StoreLocked) as info:
            await spawn(other, tmp_path / "4.log", store)
        assert info.value.data["holder"]["pid"] == pid_of(first)
        assert (await first.status()).store == str(store)  # the first one is unaffected


@pytest.mark.fault("stale lock: holder killed with SIGKILL, a new daemon takes over", trials=3)
async def test_stale_lock_from_a_killed_daemon_is_recovered(tmp_path: Path) -> None:
    root, store = tmp_path / "work", tmp_path / "store"
    write(root, "a.txt", "a\n")
    for trial in range(3):
        first = await spawn(root, tmp_path / f"k{trial}.log", store)
        await first.snapshot(label=f"before kill {trial}")
        dead = pid_of(first)
        os.kill(dead, signal.SIGKILL)
        await first.transport.close()
        lock = json.loads((store / "snapd.lock").read_text())
        assert lock["pid"] == dead  # the file still names the dead holder ...
        async with await spawn(root, tmp_path / f"n{trial}.log", store) as second:
            # ... but the kernel released the flock with the process: no manual step.
            write(root, "a.txt", f"after kill {trial}\n")
            snap = await second.snapshot()
            assert snap.created
            assert json.loads((store / "snapd.lock").read_text())["pid"] == pid_of(second)
    assert_fsck_clean(store)
    assert len(snapshot_ids(store)) == 6


@pytest.mark.fault("stale ref and object locks and temp files left in the store", trials=1)
async def test_stale_git_lock_files_are_cleaned(tmp_path: Path) -> None:
    root, store = tmp_path / "work", tmp_path / "store"
    write(root, "a.txt", "a\n")
    async with await spawn(root, tmp_path / "1.log", store) as client:
        first = await client.snapshot()
    # What a writer killed at the worst moment leaves behind.
    tree = await asyncio.create_subprocess_exec(
        "git",
        "--git-dir",
        str(store),
        "rev-parse",
        f"{first.id}^{{tree}}",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await tree.communicate()
    oid = out.decode().strip()
    leftovers = [
        store / "refs" / "heads" / "snapshots.lock",
        store / "HEAD.lock",
        store / "objects" / oid[:2] / f"{oid[2:]}.lock",
        store / "objects" / "tmp_obj_1_abcdef",
    ]
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"partial")
    write(root, "b.txt", "b\n")
    async with await spawn(root, tmp_path / "2.log", store) as client:
        snap = await client.snapshot()
        assert snap.created and snap.files == 2
    assert not [p for p in leftovers if p.exists()]
    assert_fsck_clean(store)


@pytest.mark.slow
@pytest.mark.fault(
    "concurrent requests: snapshots while paging a diff, parallel snapshots", trials=25
)
async def test_concurrent_requests_give_consistent_answers(tmp_path: Path) -> None:
    root, store = tmp_path / "work", tmp_path / "store"
    for i in range(120):
        write(root, f"src/f{i:03d}.txt", f"v1 {i}\n")
    async with await spawn(root, tmp_path / "c.log", store) as client:
        base = await client.snapshot(label="base")
        for i in range(0, 120, 2):
            write(root, f"src/f{i:03d}.txt", f"v2 {i}\n")
        expected = {f"src/f{i:03d}.txt" for i in range(0, 120, 2)}

        async def churn(n: int) -> None:
            # Snapshots of a tree that keeps changing, concurrently with the paging below.
            for k in range(n):
                write(root, f"churn/c{k}.txt", f"{k}\n")
                write(root, f"src/f{(2 * k + 1) % 120:03d}.txt", f"churned {k}\n")
                await client.snapshot()

        async def page_live_diff() -> list[str]:
            # A diff against the live worktree pins the worktree state of its first page.
            paths: list[str] = []
            cursor = None
            while True:
                page = await client.diff(base.id, cursor=cursor, limit=7)
                paths += [f.path for f in page.files]
                if page.next_cursor is None:
                    return paths
                cursor = page.next_cursor
                await asyncio.sleep(0.01)

        paths, _ = await asyncio.gather(page_live_diff(), churn(10))
        assert len(paths) == len(set(paths)), "a file was listed twice across pages"
        assert expected <= set(paths)
        # Between two fixed snapshots, pages are identical whatever runs concurrently.
        mid = await client.snapshot(label="mid")
        pages = await asyncio.gather(*(collect(client, base.id, mid.id) for _ in range(5)))
        assert all(p == pages[0] for p in pages) and len(pages[0]) == len(set(pages[0]))
        # Parallel snapshot requests serialise into one linear history.
        for i in range(10):
            write(root, f"par/p{i}.txt", f"{i}\n")
        snaps = await asyncio.gather(*(client.snapshot(label=f"p{i}") for i in range(10)))
        assert len({s.id for s in snaps}) == 10
        status = await client.status()
        assert status.head in {s.id for s in snaps}
    ids = snapshot_ids(store)
    assert {s.id for s in snaps} <= set(ids)
    assert_fsck_clean(store)


async def collect(client: AsyncClient, a: str, b: str) -> list[str]:
    return [f.path async for f in client.iter_diff(a, b, limit=5)]
