"""``snapd/daemonStatus`` (who the daemon is, what its clients do) and a graceful SIGTERM stop."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest

import snapd
from snapd_client import AsyncClient, RequestCancelled, SocketTransport, TransportClosed
from tests.e2e.test_shared_daemon import Daemon, start
from tests.helpers import git, write

pytestmark = pytest.mark.e2e


def restore_began(client: AsyncClient) -> asyncio.Future[str]:
    """Resolves with the safety snapshot's id once some client's restore has taken it.

    A restore announces its safety snapshot (``snapd/didSnapshot`` to every client) after it
    has begun and before its first write: from then on it is in progress.
    """
    began: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def heard(params: dict[str, Any]) -> None:
        if (params.get("label") or "").startswith("before restore") and not began.done():
            began.set_result(params["id"])

    client.on_notification("snapd/didSnapshot", heard)
    return began


async def stop(daemon: Daemon) -> None:
    if daemon.proc.returncode is None:
        daemon.proc.terminate()
        await daemon.proc.wait()


@pytest.mark.asyncio
async def test_daemon_status_lists_the_clients_and_what_they_do(
    tmp_path: Path, worktree: Path
) -> None:
    # The hidden test-only --test-restore-delay makes a restore sleep after each file: this
    # one would take 10 s, and is cancelled once seen.
    daemon = await start(tmp_path, worktree, extra=("--test-restore-delay", "0.5"))
    try:
        editor = await daemon.client(worktree, "editor")
        agent = await daemon.client(worktree, "agent")
        # Connected but never initialized: not a client yet, so not listed.
        lurker = AsyncClient(await SocketTransport.connect(str(daemon.socket)))
        unnamed = AsyncClient(await SocketTransport.connect(str(daemon.socket)))
        await unnamed.initialize(worktree)
        for i in range(20):
            write(worktree, f"many/{i:02}.txt", f"original {i}\n")
        first = await editor.snapshot()
        for i in range(20):
            write(worktree, f"many/{i:02}.txt", f"edited {i}\n")
        began = restore_began(agent)
        rid = editor.next_id()
        params = {"from": first.id, "dryRun": False}
        restoring = asyncio.ensure_future(editor.request("snapd/restore", params, msg_id=rid))
        await began

        st = await agent.daemon_status()
        assert (st.pid, st.version, st.shared) == (daemon.proc.pid, snapd.__version__, True)
        assert st.socket == str(daemon.socket) and st.idle_timeout == 60
        assert st.root == str(worktree.resolve())
        assert Path(st.store) == (tmp_path / "store").resolve()
        clients = [(c.name, c.you, c.requests) for c in st.clients]
        assert clients == [
            ("editor", False, ["snapd/restore"]),
            ("agent", True, []),
            ("", False, []),
        ]
        # This test's process is at the other end of every connection.
        assert [c.pid for c in st.clients] == [os.getpid()] * 3
        assert all(st.started_at <= c.connected_at for c in st.clients)
        assert st.clients[0].connected_at <= st.clients[1].connected_at

        await editor.cancel(rid)
        try:
            outcome = await restoring
        except RequestCancelled:
            pass  # cancelled before its first write
        else:
            assert outcome["cancelled"] and outcome["remaining"] > 0
        after = await editor.daemon_status()
        assert [(c.name, c.you, c.requests) for c in after.clients] == [
            ("editor", True, []),
            ("agent", False, []),
            ("", False, []),
        ]
        # A client that leaves is no longer listed; the others keep their order.
        await editor.close()
        left = await unnamed.daemon_status()
        assert [(c.name, c.you) for c in left.clients] == [("agent", False), ("", True)]
        await lurker.transport.close()
        await unnamed.close()
        await agent.close()
    finally:
        await stop(daemon)


@pytest.mark.asyncio
async def test_a_standalone_daemon_says_it_is_not_shared(tmp_path: Path, worktree: Path) -> None:
    async with await AsyncClient.spawn(
        worktree, store=tmp_path / "store", log_file=tmp_path / "d.log", client_name="solo"
    ) as client:
        st = await client.daemon_status()
        assert st.shared is False and st.socket is None and st.idle_timeout is None
        assert st.pid == client.transport.proc.pid  # type: ignore[attr-defined]
        assert st.root == str(worktree.resolve())
        assert [(c.name, c.you, c.requests, c.pid) for c in st.clients] == [
            ("solo", True, [], None)
        ]


@pytest.mark.asyncio
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_stops_the_daemon_cleanly(
    tmp_path: Path, worktree: Path, signum: signal.Signals
) -> None:
    daemon = await start(tmp_path, worktree, extra=("--test-restore-delay", "0.5"))
    store = tmp_path / "store"
    idle = await daemon.client(worktree, "idle editor")
    agent = await daemon.client(worktree, "agent")
    for i in range(20):
        write(worktree, f"many/{i:02}.txt", f"original {i}\n")
    first = await agent.snapshot()
    for i in range(20):
        write(worktree, f"many/{i:02}.txt", f"edited {i}\n")
    began = restore_began(idle)
    restoring = asyncio.ensure_future(agent.restore(first.id, dry_run=False))
    await began
    # Stopped with two clients connected and a restore in progress (it would take 10 s).
    daemon.proc.send_signal(signum)
    assert await asyncio.wait_for(daemon.proc.wait(), timeout=60) == 0
    assert not daemon.socket.exists()
    assert f"{signum.name} received: stopping" in daemon.log.read_text()
    # The restore was cancelled: -32800 before its first write, else answered with what it
    # did (or cut off with the connection).
    try:
        outcome = await restoring
    except (RequestCancelled, TransportClosed):
        pass
    else:
        assert outcome.cancelled and outcome.remaining > 0
    for client in (idle, agent):
        await client.transport.close()
    fsck = git(store, "fsck", "--strict", "--no-dangling")
    assert fsck.returncode == 0, fsck.stderr
    # The store lock and the socket were released: a new daemon serves the same history.
    again = await start(tmp_path, worktree, sock=daemon.socket)
    client = await again.client(worktree, "cli")
    try:
        ids = [s.id for s in (await client.snapshots()).snapshots]
        assert first.id in ids
        write(worktree, "after.txt", "after the restart\n")
        assert (await client.snapshot()).created
    finally:
        await client.transport.close()
        await stop(again)
