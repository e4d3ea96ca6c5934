"""Sixteen clients hammer one shared daemon with snapshots, diffs and hunks at once (issue 15).

Each client owns one file: it rewrites it, snapshots, and checks every answer it gets against
what it wrote (its file's hunks between its two snapshots rebuild the new content from the
old; its diff lists its file; the live worktree equals its snapshot for its file) while the
fifteen others do the same. The history must come out linear and whole, the store clean for
`git fsck`, and the daemon's memory bounded.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from snapd import protocol
from snapd.autostart import locate_from_env
from snapd.rendezvous import holder
from snapd_client import AsyncClient
from snapd_client._errors import SnapdClientError
from tests.conformance.apply import apply_hunks
from tests.helpers import git, peak_rss_kib

pytestmark = pytest.mark.e2e

CONVERTER = protocol.converter()

CLIENTS = 16
ROUNDS = 3
RSS_BOUND_MIB = 200
"""The daemon's peak RSS with sixteen busy clients (measured ~58 MiB; the bound catches a
per-client copy of something big, not noise)."""


def content(client: int, round_: int) -> bytes:
    lines = [f"client {client} line {k}: round {round_ if k % 4 == 0 else 0}\n" for k in range(40)]
    return "".join(lines).encode()


async def hammer(client: AsyncClient, i: int, root: Path) -> list[str]:
    """One client's rounds; the ids of its snapshots."""
    name = f"c{i:02}.txt"
    previous: str | None = None
    ids = []
    for r in range(ROUNDS):
        (root / name).write_bytes(content(i, r))
        snap = await client.snapshot(label=f"{name} round {r}")
        ids.append(snap.id)
        # The live worktree equals the snapshot for this client's file: nobody else writes it.
        live = await client.diff(snap.id, paths=[name])
        assert [f.path for f in live.files] == [], (name, r, live.files)
        if previous is not None:
            changed = await client.diff(previous, snap.id)
            assert name in {f.path for f in changed.files}, (name, r)
            page = await client.hunks(previous, name, snap.id, context=3)
            hunks = [CONVERTER.unstructure(h) for h in page.hunks]
            assert hunks and page.next_cursor is None
            assert apply_hunks(content(i, r - 1), hunks) == content(i, r), (name, r)
        previous = snap.id
    return ids


@pytest.mark.asyncio
async def test_sixteen_clients_hammering_one_daemon_all_get_correct_answers(
    tmp_path: Path, worktree: Path
) -> None:
    store = tmp_path / "store"
    clients = await asyncio.gather(
        *(
            AsyncClient.connect(worktree, store=store, client_name=f"agent-{i:02}")
            for i in range(CLIENTS)
        )
    )
    try:
        pid = holder(locate_from_env(worktree, store, os.environ).socket)
        assert pid is not None
        taken = await asyncio.gather(*(hammer(c, i, worktree) for i, c in enumerate(clients)))
        history = []
        cursor = None
        while True:
            page = await clients[0].snapshots(cursor=cursor)
            history += page.snapshots
            if (cursor := page.next_cursor) is None:
                break
        by_id = {s.id: s for s in history}
        for i, ids in enumerate(taken):
            assert all(by_id[id_].client == f"agent-{i:02}" for id_ in ids)
        # One linear history: each snapshot's parent is the one listed after it.
        assert [s.parent for s in history[:-1]] == [s.id for s in history[1:]]
        mib = peak_rss_kib(pid) / 1024
        print(f"daemon peak RSS with {CLIENTS} clients: {mib:.1f} MiB")
        assert mib < RSS_BOUND_MIB
    finally:
        for client in clients:
            try:
                await client.close()
            except SnapdClientError:
                pass
    fsck = git(store, "fsck", "--strict", "--no-dangling")
    assert fsck.returncode == 0, fsck.stderr
