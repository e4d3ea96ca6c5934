"""``snapd --stdio`` forwards to the worktree's shared daemon; the CLI and clients meet there.

Every test runs with the session's private ``XDG_RUNTIME_DIR`` (tests/conftest.py), so the
daemons these tests start are found, and stopped, there.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from snapd.autostart import Place, locate_from_env
from snapd.rendezvous import holder, wait_released
from snapd_client import AsyncClient, InvalidParams, TransportClosed
from tests.helpers import git, peak_rss_kib, write

pytestmark = pytest.mark.e2e

SNAPD = [sys.executable, "-P", "-m", "snapd_client"]
"""The ``snapd`` console script (its dispatcher), as the user runs it."""


def forwarder(store: Path, log: Path, *extra: str) -> list[str]:
    """``snapd --stdio`` (forwarding, the default) for a worktree given by ``initialize``."""
    return [sys.executable, "-P", "-m", "snapd", "--stdio", "--store", str(store),
            "--log-file", str(log), *extra]  # fmt: skip


def place(root: Path, store: Path) -> Place:
    return locate_from_env(root, store, os.environ)


def daemon_pid(where: Place) -> int | None:
    """The pid of the daemon holding the socket's lock, or None when none holds it."""
    return holder(where.socket)


async def gone(where: Place) -> None:
    """Wait until no daemon holds the socket's lock."""
    assert await asyncio.to_thread(wait_released, where.socket, 60), "the daemon is still up"


async def cli(root: Path, store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``snapd ARGS`` in a thread (the test's event loop keeps reading notifications)."""
    return await asyncio.to_thread(run_cli, root, store, *args)


def run_cli(root: Path, store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SNAPD, "--root", str(root), "--store", str(store), "--color", "never", *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def heard(client: AsyncClient) -> asyncio.Queue[dict[str, Any]]:
    seen: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    client.on_notification("snapd/didSnapshot", seen.put_nowait)
    return seen


async def taken_by(seen: asyncio.Queue[dict[str, Any]], client: str) -> dict[str, Any]:
    """The next ``snapd/didSnapshot`` of a snapshot ``client`` took (automatic ones skipped)."""
    while (note := await seen.get()).get("client") != client:
        pass
    return note


@pytest.mark.asyncio
async def test_editor_agent_and_command_line_share_one_daemon(
    tmp_path: Path, worktree: Path
) -> None:
    store = tmp_path / "store"
    editor = await AsyncClient.spawn(
        worktree, command=forwarder(store, tmp_path / "editor.log"), client_name="editor"
    )
    agent = await AsyncClient.connect(worktree, store=store, client_name="agent")
    editor_saw, agent_saw = heard(editor), heard(agent)
    where = place(worktree, store)
    pid = daemon_pid(where)
    assert pid is not None and pid != editor.transport.proc.pid  # type: ignore[attr-defined]

    write(worktree, "a.txt", "agent\n")
    step = await agent.snapshot(label="agent turn 1")
    assert (await taken_by(editor_saw, "agent"))["id"] == step.id
    # The terminal, in between: its commands are clients of the same daemon.
    write(worktree, "b.txt", "user\n")
    made = await cli(worktree, store, "snapshot", "-m", "from the terminal")
    assert made.returncode == 0, made.stderr
    from_cli = await taken_by(editor_saw, "cli")
    assert (await taken_by(agent_saw, "agent"))["id"] == step.id
    assert (await taken_by(agent_saw, "cli"))["id"] == from_cli["id"]
    log = await cli(worktree, store, "log")
    assert log.returncode == 0, log.stderr
    lines = {ln.split()[0]: ln for ln in log.stdout.splitlines()}
    assert "  cli  " in lines[from_cli["id"][:12]] and "from the terminal" in log.stdout
    assert "  agent  " in lines[step.id[:12]]
    assert daemon_pid(where) == pid  # one daemon served all of them
    listed = {s.id: (s.client, s.label) for s in (await editor.snapshots()).snapshots}
    assert listed[step.id] == ("agent", "agent turn 1")
    assert listed[from_cli["id"]] == ("cli", "from the terminal")
    await editor.close()
    assert editor.transport.proc.returncode == 0  # type: ignore[attr-defined]
    # The editor's exit leaves the agent served.
    write(worktree, "a.txt", "agent again\n")
    again = await agent.snapshot()
    assert again.created
    await agent.close()
    fsck = git(store, "fsck", "--strict", "--no-dangling")
    assert fsck.returncode == 0, fsck.stderr


@pytest.mark.asyncio
async def test_forwarders_racing_to_start_a_daemon_end_with_one(
    tmp_path: Path, worktree: Path
) -> None:
    store = tmp_path / "store"
    clients = await asyncio.gather(
        *(
            AsyncClient.spawn(
                worktree, command=forwarder(store, tmp_path / f"f{i}.log"), client_name=f"c{i}"
            )
            for i in range(8)
        )
    )
    try:
        where = place(worktree, store)
        pid = daemon_pid(where)
        # Daemons that lost the race said who won; no two hold the socket.
        losers = [ln for ln in where.log.read_text().splitlines() if "already listens" in ln]
        assert all(f"(pid {pid})" in ln for ln in losers), losers
        for i, client in enumerate(clients):
            write(worktree, f"c{i}.txt", f"{i}\n")
            await client.snapshot(label=f"c{i}")
        for client in clients:
            labels = {s.label for s in (await client.snapshots()).snapshots}
            assert labels == {f"c{i}" for i in range(8)}
    finally:
        for client in clients:
            await client.close()


@pytest.mark.asyncio
async def test_exit_codes_are_those_of_a_private_daemon(tmp_path: Path, worktree: Path) -> None:
    store = tmp_path / "store"
    polite = await AsyncClient.spawn(worktree, command=forwarder(store, tmp_path / "1.log"))
    abrupt = await AsyncClient.spawn(worktree, command=forwarder(store, tmp_path / "2.log"))
    await polite.request("shutdown", None)
    await polite.notify("exit", None)
    await abrupt.notify("exit", None)
    assert await polite.transport.proc.wait() == 0  # type: ignore[attr-defined]
    assert await abrupt.transport.proc.wait() == 1  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_the_daemon_stops_when_idle_and_the_next_client_starts_another(
    tmp_path: Path, worktree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SNAPD_IDLE_TIMEOUT", "0.5")
    store = tmp_path / "store"
    where = place(worktree, store)
    client = await AsyncClient.connect(worktree, store=store, client_name="first")
    first = daemon_pid(where)
    await client.snapshot(label="before")
    await client.close()
    await gone(where)
    assert not where.socket.exists()
    monkeypatch.setenv("SNAPD_IDLE_TIMEOUT", "20")
    made = await cli(worktree, store, "log")
    assert made.returncode == 0 and "before" in made.stdout, made.stderr
    assert daemon_pid(where) not in (None, first)


@pytest.mark.asyncio
async def test_after_kill_9_the_next_command_starts_a_fresh_daemon(
    tmp_path: Path, worktree: Path
) -> None:
    store = tmp_path / "store"
    where = place(worktree, store)
    made = await cli(worktree, store, "snapshot", "-m", "one")
    assert made.returncode == 0, made.stderr
    pid = daemon_pid(where)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    await gone(where)
    assert where.socket.exists()  # stale: nobody listens on it
    write(worktree, "src/main.txt", "two\n")
    made = await cli(worktree, store, "snapshot", "-m", "two")
    assert made.returncode == 0, made.stderr
    assert daemon_pid(where) not in (None, pid)
    log = await cli(worktree, store, "log")
    labels = [ln.split()[-1] for ln in log.stdout.splitlines() if "  cli  " in ln]
    assert labels == ["two", "one"]
    fsck = git(store, "fsck", "--strict", "--no-dangling")
    assert fsck.returncode == 0, fsck.stderr


@pytest.mark.asyncio
async def test_command_line_options_reach_the_shared_policy_check(
    tmp_path: Path, worktree: Path
) -> None:
    store = tmp_path / "store"
    first = await AsyncClient.spawn(
        worktree, command=forwarder(store, tmp_path / "1.log", "--content-limit", "1")
    )
    try:
        second = await AsyncClient.spawn(
            worktree, command=forwarder(store, tmp_path / "2.log", "--content-limit", "3")
        )
    except Exception as exc:
        assert "initializationOptions.contentLimit" in str(exc)
    else:
        await second.close()
        pytest.fail("a forwarder with another content limit joined the shared daemon")
    finally:
        await first.close()


@pytest.mark.asyncio
async def test_a_first_frame_naming_no_worktree_is_served_in_process(tmp_path: Path) -> None:
    cmd = forwarder(tmp_path / "store", tmp_path / "f.log")
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    body = b'{"jsonrpc":"2.0","id":1,"method":"snapd/status","params":{}}'
    out, _ = await proc.communicate(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    answer = json.loads(out.partition(b"\r\n\r\n")[2])
    assert answer["error"]["code"] == -32002  # ServerNotInitialized, from the in-process server


def test_standalone_command_line_runs_a_private_daemon(tmp_path: Path, worktree: Path) -> None:
    store = tmp_path / "store"
    made = run_cli(worktree, store, "--standalone", "snapshot", "-m", "private")
    assert made.returncode == 0, made.stderr
    assert daemon_pid(place(worktree, store)) is None


@pytest.mark.asyncio
async def test_daemon_start_status_and_stop(tmp_path: Path, worktree: Path) -> None:
    store = tmp_path / "store"
    where = place(worktree, store)
    none = await cli(worktree, store, "daemon", "status")
    assert none.returncode == 3 and "no snapd daemon runs for" in none.stdout, none.stderr
    started = await cli(worktree, store, "daemon", "start")
    assert started.returncode == 0 and ": started" in started.stdout, started.stderr
    pid = daemon_pid(where)
    assert pid is not None and f"(pid {pid})" in started.stdout
    again = await cli(worktree, store, "daemon", "start")
    assert "already running" in again.stdout and daemon_pid(where) == pid

    agent = await AsyncClient.connect(worktree, store=store, client_name="agent")
    shown = await cli(worktree, store, "daemon", "status")
    assert shown.returncode == 0, shown.stderr
    assert str(pid) in shown.stdout and str(where.socket) in shown.stdout
    assert "  agent  " in shown.stdout and "(this command)" in shown.stdout
    raw = await cli(worktree, store, "--json", "daemon", "status")
    status = json.loads(raw.stdout)
    assert [(c["name"], c.get("you", False)) for c in status["clients"]] == [
        ("agent", False),
        ("cli", True),
    ]
    assert status["shared"] is True and status["pid"] == pid

    stopped = await cli(worktree, store, "daemon", "stop")
    assert stopped.returncode == 0 and f"(pid {pid})" in stopped.stdout, stopped.stderr
    assert daemon_pid(where) is None and not where.socket.exists()
    with pytest.raises(TransportClosed):
        await agent.status()
    await agent.close()
    nothing = await cli(worktree, store, "daemon", "stop")
    assert nothing.returncode == 0 and "no snapd daemon runs" in nothing.stdout
    fsck = git(store, "fsck", "--strict", "--no-dangling")
    assert fsck.returncode == 0, fsck.stderr


@pytest.mark.asyncio
async def test_a_forwarder_stays_small(tmp_path: Path, worktree: Path) -> None:
    """`snapd --stdio` only copies bytes: it loads none of the daemon (pygls, dulwich, ...)."""
    store = tmp_path / "store"
    client = await AsyncClient.spawn(worktree, command=forwarder(store, tmp_path / "f.log"))
    try:
        await client.snapshot()
        forwarder_mib = peak_rss_kib(client.transport.proc.pid) / 1024  # type: ignore[attr-defined]
        daemon_pid_ = daemon_pid(place(worktree, store))
        assert daemon_pid_ is not None
        daemon_mib = peak_rss_kib(daemon_pid_) / 1024
        print(f"forwarder {forwarder_mib:.1f} MiB, daemon {daemon_mib:.1f} MiB")
        assert forwarder_mib < 30 < daemon_mib
    finally:
        await client.close()


@pytest.mark.asyncio
async def test_a_forwarder_whose_daemon_dies_says_so_and_exits_1(
    tmp_path: Path, worktree: Path
) -> None:
    store = tmp_path / "store"
    stderr = tmp_path / "forwarder.stderr"
    with stderr.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            *forwarder(store, tmp_path / "f.log"),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
        )
        from snapd_client import StdioTransport

        client = AsyncClient(StdioTransport(proc))
        await client.initialize(worktree, client_name="editor")
        await client.snapshot()
        pid = daemon_pid(place(worktree, store))
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(TransportClosed):
            await client.snapshot()
        assert await proc.wait() == 1
        await client.close()
    said = stderr.read_text()
    assert "closed the connection" in said and "daemon.log" in said and "Traceback" not in said


def test_a_store_that_cannot_be_made_is_a_sentence(tmp_path: Path, worktree: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the store should go\n")
    made = run_cli(worktree, blocker / "store", "log")
    assert made.returncode == 1 and "Traceback" not in made.stderr
    assert made.stderr.startswith("snapd: cannot start the snapd daemon for ")
    assert "Not a directory" in made.stderr


@pytest.mark.asyncio
async def test_a_refused_connect_does_not_keep_the_daemon_up(
    tmp_path: Path, worktree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client whose initialize is refused closes its connection: the daemon can go idle."""
    monkeypatch.setenv("SNAPD_IDLE_TIMEOUT", "0.5")
    store = tmp_path / "store"
    first = await AsyncClient.connect(worktree, store=store, options={"contentLimit": 1 << 20})
    with pytest.raises(InvalidParams):
        await AsyncClient.connect(worktree, store=store, options={"contentLimit": 3 << 20})
    await first.close()
    await gone(place(worktree, store))  # no connection left open: the daemon stopped
