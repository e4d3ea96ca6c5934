"""End to end: a real ``snapd --stdio`` child over real pipes, driven by the client library."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

import snapd
from snapd_client import (
    AsyncClient,
    BadCursor,
    InvalidParams,
    MethodNotFound,
    PathOutsideRoot,
    ServerNotInitialized,
    StdioTransport,
    StoreLocked,
    UnknownSnapshot,
    daemon_command,
)
from tests.helpers import git, write

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]


async def spawn(root: Path, tmp_path: Path, name: str = "d", **kw) -> AsyncClient:
    return await AsyncClient.spawn(
        root, store=tmp_path / "store", log_file=tmp_path / f"{name}.log", **kw
    )


async def test_every_method_over_stdio(worktree: Path, tmp_path: Path) -> None:
    write(worktree, ".gitignore", "*.log\n")
    write(worktree, "debug.log", "noise\n")
    with open(worktree / "big.dat", "wb") as fh:
        fh.truncate(5 * 1024 * 1024)
    async with await spawn(worktree, tmp_path) as client:
        assert client.protocol_version == snapd.PROTOCOL_VERSION
        first = await client.snapshot(label="start")
        assert first.created and first.label == "start" and first.parent is None
        assert first.rules == {"ignore-file": 1, "size-limit": 1}
        write(worktree, "src/main.txt", "hello\nworld\n")
        write(worktree, "src/new.txt", "new\n")
        live = [f async for f in client.iter_diff(first.id)]
        assert [(f.path, f.status.value) for f in live] == [
            ("src/main.txt", "modified"),
            ("src/new.txt", "added"),
        ]
        second = await client.snapshot()
        assert second.parent == first.id and second.changed == 2
        again = await client.snapshot()
        assert not again.created and again.id == second.id
        hunks = await client.hunks(first.id, "src/main.txt", second.id)
        assert [h.lines for h in hunks.hunks] == [[" hello", "+world"]]
        assert [s.id async for s in client.iter_snapshots(limit=1)] == [second.id, first.id]
        ex = await client.explain("big.dat")
        assert (ex.outcome.value, ex.rule, ex.size) == ("skipped", "size-limit", 5 * 1024 * 1024)
        status = await client.status()
        assert status.head == second.id and status.root == str(worktree.resolve())
        # A prefix and "latest" resolve too.
        short = await client.diff(first.id[:8], "latest")
        assert len(short.files) == 2
    assert git(tmp_path / "store", "fsck", "--strict").returncode == 0
    assert "Traceback" not in (tmp_path / "d.log").read_text()


async def test_errors_are_clear_and_the_daemon_keeps_serving(
    worktree: Path, tmp_path: Path
) -> None:
    async with await spawn(worktree, tmp_path) as client:
        snap = await client.snapshot()
        with pytest.raises(MethodNotFound):
            await client.request("snapd/nope", {})
        with pytest.raises(InvalidParams) as info:
            await client.request("snapd/diff", {"from": snap.id, "limit": "ten"})
        assert info.value.field == "limit"
        with pytest.raises(InvalidParams) as info:
            await client.request("snapd/diff", {"to": snap.id})
        assert info.value.field == "from"
        with pytest.raises(InvalidParams):
            await client.request("snapd/diff", {"from": snap.id, "limit": 0})
        # JSON types are strict: no "1" -> 1, true -> 1, 1.5 -> 1, 5 -> "5", "x" -> ["x"].
        for method, params, field in [
            ("snapd/diff", {"from": snap.id, "limit": "1"}, "limit"),
            ("snapd/diff", {"from": snap.id, "limit": True}, "limit"),
            ("snapd/hunks", {"from": snap.id, "path": "a", "context": 2.5}, "context"),
            ("snapd/snapshot", {"label": 5}, "label"),
            ("snapd/diff", {"from": snap.id, "paths": "src"}, "paths"),
            ("snapd/diff", {"from": 5}, "from"),
        ]:
            with pytest.raises(InvalidParams) as info:
                await client.request(method, params)
            assert info.value.field == field, (method, params)
        with pytest.raises(UnknownSnapshot):
            await client.diff("0123456789abcdef0123456789abcdef01234567")
        with pytest.raises(UnknownSnapshot):
            await client.diff("not-an-id")
        with pytest.raises(BadCursor):
            await client.diff(snap.id, cursor="garbage")
        for bad in ("../etc/passwd", "/etc/passwd"):
            with pytest.raises(PathOutsideRoot):
                await client.hunks(snap.id, bad)
            with pytest.raises(PathOutsideRoot):
                await client.explain(bad)
        # Still serving after all of that.
        assert (await client.status()).head == snap.id


async def recv(t: StdioTransport) -> dict[str, Any]:
    msg = await asyncio.wait_for(t.receive(), 30)
    assert msg is not None, "the daemon closed its stdout"
    return msg


async def raw_daemon(worktree: Path, tmp_path: Path) -> StdioTransport:
    cmd = daemon_command(store=tmp_path / "store", log_file=tmp_path / "raw.log")
    return await StdioTransport.spawn([*cmd, "--root", str(worktree)])


async def test_malformed_frames(worktree: Path, tmp_path: Path) -> None:
    t = await raw_daemon(worktree, tmp_path)
    try:
        # A request before initialize.
        await t.send({"jsonrpc": "2.0", "id": 1, "method": "snapd/status"})
        assert (await recv(t))["error"]["code"] == -32002
        await t.send(
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "initialize",
                "params": {"processId": None, "capabilities": {}},
            }
        )
        caps = (await recv(t))["result"]["capabilities"]
        # No document sync (an editor would send its buffers), folder changes or commands.
        assert caps["textDocumentSync"] == 0
        assert "workspace" not in caps and "executeCommandProvider" not in caps
        assert caps["experimental"]["snapd"]["protocolVersion"] == snapd.PROTOCOL_VERSION
        # Not JSON.
        await t.send_raw(b"Content-Length: 5\r\n\r\n{oops")
        assert (await recv(t))["error"]["code"] == -32700
        # A gigantic Content-Length is refused without reading (or allocating) it.
        await t.send_raw(b"Content-Length: 99999999999\r\n\r\n")
        err = (await recv(t))["error"]
        assert err["code"] == -31005
        # ... the daemon skips what it can and answers; here we just close that frame's hole by
        # sending a fresh daemon the rest of the checks.
    finally:
        t.proc.kill()
        await t.proc.wait()
    t = await raw_daemon(worktree, tmp_path)
    try:
        await t.send(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {"processId": None, "capabilities": {}},
            }
        )
        await recv(t)
        await t.send_raw(b"Content-Length: abc\r\n\r\n")
        assert (await recv(t))["error"]["code"] == -32700
        await t.send_raw(b"X-Nonsense\r\n\r\n")
        assert (await recv(t))["error"]["code"] == -32700
        await t.send([{"jsonrpc": "2.0", "id": 5, "method": "snapd/status"}])  # type: ignore[arg-type]
        assert (await recv(t))["error"]["code"] == -32600
        body = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 6,
                "method": "snapd/explain",
                "params": {"path": "caf\udce9.txt"},
            }
        ).encode()
        await t.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        reply = await recv(t)
        assert reply["result"]["path"] == "caf\udce9.txt"  # non-UTF-8 names round-trip
        deep = b"[" * 100_000 + b"]" * 100_000
        await t.send_raw(b"Content-Length: %d\r\n\r\n" % len(deep) + deep)
        assert (await recv(t))["error"]["code"] in (-32700, -32600)
        await t.send({"jsonrpc": "2.0", "id": 7, "method": "shutdown"})
        assert (await recv(t))["id"] == 7
        await t.send({"jsonrpc": "2.0", "id": 8, "method": "snapd/status"})
        assert (await recv(t))["error"]["code"] == -32600
        await t.send({"jsonrpc": "2.0", "method": "exit"})
        assert await asyncio.wait_for(t.proc.wait(), 10) == 0
    finally:
        if t.proc.returncode is None:
            t.proc.kill()
            await t.proc.wait()


async def test_eof_on_stdin_stops_cleanly(worktree: Path, tmp_path: Path) -> None:
    client = await spawn(worktree, tmp_path)
    await client.snapshot()
    await client.transport.close()  # closes stdin, waits for exit
    assert client.transport.proc.returncode == 0  # type: ignore[attr-defined]
    assert git(tmp_path / "store", "fsck", "--strict").returncode == 0


async def test_second_daemon_on_the_same_store_names_the_holder(
    worktree: Path, tmp_path: Path
) -> None:
    async with await spawn(worktree, tmp_path, "first") as first:
        await first.snapshot()
        with pytest.raises(StoreLocked) as info:
            await spawn(worktree, tmp_path, "second")
        holder = info.value.data["holder"]
        assert holder["pid"] == first.transport.proc.pid  # type: ignore[attr-defined]
    # The lock is released with its holder: a new daemon takes over.
    async with await spawn(worktree, tmp_path, "third") as third:
        assert (await third.status()).head is not None


async def test_kill_9_leaves_a_consistent_store(worktree: Path, tmp_path: Path) -> None:
    client = await spawn(worktree, tmp_path)
    first = await client.snapshot()
    for i in range(200):
        write(worktree, f"many/f{i}.txt", f"{i}\n" * 100)
    task = asyncio.ensure_future(client.snapshot())
    await asyncio.sleep(0)  # let the request go out; the kill may land before or during it
    client.transport.proc.kill()  # type: ignore[attr-defined]
    await client.transport.proc.wait()  # type: ignore[attr-defined]
    with pytest.raises(Exception):  # noqa: B017 - any transport error is fine here
        await task
    assert git(tmp_path / "store", "fsck", "--strict", "--no-dangling").returncode == 0
    async with await spawn(worktree, tmp_path, "after") as again:
        snaps = [s.id async for s in again.iter_snapshots()]
        assert first.id in snaps
        assert (await again.snapshot()).files == 201


async def test_progress_and_cancel(worktree: Path, tmp_path: Path) -> None:
    for i in range(3000):
        write(worktree, f"tree/d{i % 30}/f{i}.txt", f"content {i}\n")
    async with await spawn(worktree, tmp_path) as client:
        kinds: list[str] = []
        snap = await client.snapshot(on_progress=lambda v: kinds.append(v.get("kind", "")))
        assert kinds[0] == "begin" and kinds[-1] == "end"
        assert snap.files == 3001
        # Cancel a snapshot: the daemon answers -32800 or completes; either way it keeps serving.
        for i in range(3000):
            write(worktree, f"tree/d{i % 30}/f{i}.txt", f"changed {i}\n")
        rid = client.next_id()
        task = asyncio.ensure_future(client.snapshot(msg_id=rid))
        await asyncio.sleep(0)
        await client.cancel(rid)
        try:
            await task
        except Exception as exc:
            assert getattr(exc, "code", None) == -32800
        assert (await client.status()).head is not None
        assert git(tmp_path / "store", "fsck", "--strict", "--no-dangling").returncode == 0


async def test_worktree_from_root_uri(worktree: Path, tmp_path: Path) -> None:
    cmd = daemon_command(store=tmp_path / "store", log_file=tmp_path / "u.log")
    client = AsyncClient(await StdioTransport.spawn(cmd))
    await client.initialize(worktree, {"contentLimit": 1024})
    async with client:
        assert (await client.status()).content_limit == 1024
    client = AsyncClient(await StdioTransport.spawn(cmd))
    with pytest.raises(InvalidParams):
        await client.initialize(worktree, {"noSuchOption": 1})
    await client.transport.close()
    client = AsyncClient(await StdioTransport.spawn(cmd))
    with pytest.raises(ServerNotInitialized):
        await client.status()
    await client.transport.close()
