"""A shared daemon (``snapd --listen SOCKET``): several clients on one worktree's history."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from snapd_client import AsyncClient, SocketTransport, TransportClosed
from tests.helpers import eventually, git, write

pytestmark = pytest.mark.e2e


class Daemon:
    def __init__(self, proc: asyncio.subprocess.Process, socket: Path, log: Path) -> None:
        self.proc = proc
        self.socket = socket
        self.log = log

    async def client(self, root: Path, name: str) -> AsyncClient:
        client = AsyncClient(await SocketTransport.connect(str(self.socket)))
        await client.initialize(root, client_name=name)
        return client


async def listening(sock: Path) -> bool:
    try:
        probe = await SocketTransport.connect(str(sock))
    except TransportClosed:
        return False
    await probe.close()
    return True


async def start(
    tmp_path: Path,
    root: Path,
    *,
    idle_timeout: float = 60,
    sock: Path | None = None,
    extra: tuple[str, ...] = (),
) -> Daemon:
    if sock is None:
        sock = tmp_path / "run" / "s.sock"
        sock.parent.mkdir(exist_ok=True)
    log = tmp_path / "daemon.log"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-P",
        "-m",
        "snapd",
        "--listen",
        str(sock),
        "--root",
        str(root),
        "--store",
        str(tmp_path / "store"),
        "--log-file",
        str(log),
        "--idle-timeout",
        str(idle_timeout),
        "-v",
        *extra,
    )
    # Nothing announces the bind: wait until the socket answers (or the process died).
    await eventually(lambda: proc.returncode is not None or listening(sock), "the daemon to listen")
    assert proc.returncode is None, log.read_text() if log.exists() else "no log"
    return Daemon(proc, sock, log)


@pytest_asyncio.fixture
async def daemon(tmp_path: Path, worktree: Path) -> AsyncIterator[Daemon]:
    d = await start(tmp_path, worktree)
    yield d
    if d.proc.returncode is None:
        d.proc.terminate()
        await d.proc.wait()


def snapshots_seen(client: AsyncClient) -> asyncio.Queue[dict[str, Any]]:
    seen: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    client.on_notification("snapd/didSnapshot", seen.put_nowait)
    return seen


@pytest.mark.asyncio
async def test_two_clients_share_one_history(daemon: Daemon, worktree: Path) -> None:
    editor = await daemon.client(worktree, "editor")
    agent = await daemon.client(worktree, "agent")
    editor_saw, agent_saw = snapshots_seen(editor), snapshots_seen(agent)
    write(worktree, "a.txt", "one\n")
    first = await agent.snapshot(label="agent step 1")
    assert first.client == "agent"
    # Both clients hear of it (and who took it), and both histories hold it at once.
    heard = await editor_saw.get()
    assert (heard["id"], heard["client"]) == (first.id, "agent") and "session" not in heard
    assert (await agent_saw.get())["id"] == first.id
    listed = (await editor.snapshots()).snapshots
    assert [(s.id, s.client) for s in listed] == [(first.id, "agent")]
    write(worktree, "a.txt", "two\n")
    second = await editor.snapshot(label="editor save", session="window-1")
    heard = await agent_saw.get()
    assert (heard["client"], heard["session"]) == ("editor", "window-1")
    assert (second.client, second.session) == ("editor", "window-1")
    diff = await agent.diff(first.id, second.id)
    assert [f.path for f in diff.files] == ["a.txt"]
    # One client's shutdown and exit leave the other served.
    await editor.close()
    write(worktree, "b.txt", "b\n")
    third = await agent.snapshot()
    assert third.created and third.parent == second.id
    await agent.close()
    fsck = git(Path(daemon.log.parent / "store"), "fsck", "--strict", "--no-dangling")
    assert fsck.returncode == 0, fsck.stderr


@pytest.mark.asyncio
async def test_a_client_that_vanishes_leaves_the_others_served(
    daemon: Daemon, worktree: Path
) -> None:
    gone = await daemon.client(worktree, "killed editor")
    agent = await daemon.client(worktree, "agent")
    await gone.transport.close()  # EOF without shutdown or exit, as when an editor is killed
    write(worktree, "c.txt", "c\n")
    snap = await agent.snapshot()
    assert snap.created
    await agent.close()


@pytest.mark.asyncio
async def test_another_worktree_or_capture_policy_is_refused(
    daemon: Daemon, worktree: Path, tmp_path: Path
) -> None:
    first = await daemon.client(worktree, "editor")
    other = tmp_path / "other"
    other.mkdir()
    stranger = AsyncClient(await SocketTransport.connect(str(daemon.socket)))
    with pytest.raises(Exception, match="each worktree has its own daemon"):
        await stranger.initialize(other, client_name="lost")
    await stranger.transport.close()
    policy = AsyncClient(await SocketTransport.connect(str(daemon.socket)))
    with pytest.raises(Exception, match=r"initializationOptions\.contentLimit"):
        await policy.initialize(worktree, {"contentLimit": 1234}, client_name="agent")
    await policy.transport.close()
    # The first client's history was not touched by either.
    assert (await first.snapshot()).created
    await first.close()


@pytest.mark.asyncio
async def test_the_daemon_stops_when_idle_and_removes_its_socket(
    tmp_path: Path, worktree: Path
) -> None:
    d = await start(tmp_path, worktree, idle_timeout=0.5)
    client = await d.client(worktree, "cli")
    await client.snapshot()
    await client.close()
    assert await asyncio.wait_for(d.proc.wait(), timeout=60) == 0
    assert not d.socket.exists()
    assert "stopping" in d.log.read_text()


@pytest.mark.asyncio
async def test_a_stale_socket_is_replaced(tmp_path: Path, worktree: Path) -> None:
    first = await start(tmp_path, worktree)
    first.proc.kill()  # kill -9: the socket file stays behind
    await first.proc.wait()
    assert first.socket.exists()
    again = await start(tmp_path, worktree)
    client = await again.client(worktree, "cli")
    assert (await client.snapshot()).created
    await client.close()
    again.proc.terminate()
    await again.proc.wait()


@pytest.mark.asyncio
async def test_a_peer_of_another_user_is_refused(tmp_path: Path, worktree: Path) -> None:
    setpriv = shutil.which("setpriv")
    if os.getuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv to connect as another user")
    # A socket everyone may reach (pytest's tmp_path is private), so only the daemon's peer
    # check stands in the way.
    public = Path(tempfile.mkdtemp(prefix="snapd-peer-"))
    try:
        public.chmod(0o755)
        daemon = await start(tmp_path, worktree, sock=public / "s.sock")
        os.chmod(daemon.socket, 0o666)
        probe = "\n".join(
            [
                "import socket",
                "s = socket.socket(socket.AF_UNIX)",
                f"s.connect({str(daemon.socket)!r})",
                'body = b\'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}\'',
                "try:",
                "    s.sendall(b'Content-Length: %d\\r\\n\\r\\n' % len(body) + body)",
                "    print(repr(s.recv(100)))",
                "except (BrokenPipeError, ConnectionResetError):",
                "    print(repr(b''))",
            ]
        )
        as_nobody = [setpriv, "--reuid", "65534", "--regid", "65534", "--clear-groups"]
        out = await asyncio.create_subprocess_exec(
            *as_nobody,
            sys.executable,
            "-c",
            probe,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await out.communicate()
        assert out.returncode == 0, stderr.decode()
        assert stdout.decode().strip() == "b''"  # closed without a word
        assert "refused a connection from uid 65534" in daemon.log.read_text()
        # The daemon's own user is still served.
        client = await daemon.client(worktree, "cli")
        assert (await client.snapshot()).created
        await client.close()
        daemon.proc.terminate()
        await daemon.proc.wait()
    finally:
        shutil.rmtree(public, ignore_errors=True)


@pytest.mark.asyncio
async def test_a_second_listener_on_a_live_socket_is_refused(
    daemon: Daemon, tmp_path: Path, worktree: Path
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-P",
        "-m",
        "snapd",
        "--listen",
        str(daemon.socket),
        "--root",
        str(worktree),
        "--store",
        str(tmp_path / "store2"),
        stderr=asyncio.subprocess.PIPE,
    )
    _out, err = await proc.communicate()
    assert proc.returncode == 1
    assert b"another snapd daemon (pid " in err and b"already listens at" in err
    client = await daemon.client(worktree, "cli")  # the first daemon is untouched
    await client.close()


@pytest.mark.asyncio
async def test_connecting_to_nothing_is_a_sentence(tmp_path: Path) -> None:
    with pytest.raises(TransportClosed, match="no snapd listens on"):
        await SocketTransport.connect(str(tmp_path / "absent.sock"))


@pytest.mark.asyncio
async def test_page_sizes_are_each_clients_own(daemon: Daemon, worktree: Path) -> None:
    editor = await daemon.client(worktree, "editor")
    first = await editor.snapshot()
    for i in range(5):
        write(worktree, f"f{i}.txt", f"{i}\n")
    second = await editor.snapshot()
    agent = AsyncClient(await SocketTransport.connect(str(daemon.socket)))
    await agent.initialize(worktree, {"pageLimit": 2}, client_name="agent")
    small = await agent.diff(first.id, second.id)
    assert len(small.files) == 2 and small.next_cursor
    whole = await editor.diff(first.id, second.id)
    assert len(whole.files) == 5 and whole.next_cursor is None
    await agent.close()
    await editor.close()


@pytest.mark.asyncio
async def test_a_client_that_vanishes_mid_snapshot_only_cancels_its_own(
    daemon: Daemon, worktree: Path
) -> None:
    # No automatic snapshot may come between the agent's two.
    write(worktree, ".snapd.toml", "autoSnapshot = false\n")
    agent = await daemon.client(worktree, "agent")
    base = await agent.snapshot()
    for i in range(3000):  # in three directories: each stays under dirNewFileBudget
        write(worktree, f"many{i % 3}/f{i:04}.txt", f"{i}\n")
    editor = await daemon.client(worktree, "editor")
    began: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def progress(params: dict[str, Any]) -> None:
        if params.get("value", {}).get("kind") == "begin" and not began.done():
            began.set_result(None)

    editor.on_notification("$/progress", progress)
    token = "vanishing"
    request = asyncio.ensure_future(
        editor.request("snapd/snapshot", {"label": "never", "workDoneToken": token})
    )
    await began
    await editor.transport.close()  # the editor is killed while its snapshot walks
    with pytest.raises(TransportClosed):
        await request
    # The agent is still served, and the editor's snapshot was never recorded.
    after = await agent.snapshot(label="agent")
    assert after.parent == base.id and after.changed == 3000
    assert [s.label for s in (await agent.snapshots()).snapshots] == ["agent", None]
    await agent.close()
