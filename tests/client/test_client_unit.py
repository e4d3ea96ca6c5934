"""AsyncClient and the generated Client against an in-memory fake daemon (no subprocess)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from snapd import protocol
from snapd_client import (
    AsyncClient,
    InvalidParams,
    ResponseError,
    TransportClosed,
)
from snapd_client._client import NOTIFICATION_HISTORY
from snapd_client._errors import CODE_TO_ERROR
from tests.client.fakes import HOLD, Fail, FakeDaemon, paged

pytestmark = pytest.mark.asyncio


def change(path: str) -> dict[str, Any]:
    return {"path": path, "status": "modified", "oldSize": 1, "newSize": 2}


def summary(n: int) -> dict[str, Any]:
    return {
        "id": f"{n:040x}",
        "time": 1_700_000_000 + n,
        "files": n,
        "bytes": 10 * n,
        "skipped": 0,
        "skippedBytes": 0,
        "changed": 1,
    }


def hunk(n: int) -> dict[str, Any]:
    return {
        "oldStart": n,
        "oldLines": 1,
        "newStart": n,
        "newLines": 1,
        "lines": [f"-{n}", f"+{n}"],
        "digest": f"{n:016x}",
    }


SNAPSHOT_RESULT = {
    "id": "a" * 40,
    "created": True,
    "time": 1,
    "files": 1,
    "bytes": 1,
    "skipped": 0,
    "skippedBytes": 0,
    "changed": 1,
    "hashed": 1,
}


async def connect(fake: FakeDaemon) -> AsyncClient:
    client = AsyncClient(fake)
    await client.initialize("/tmp/worktree")
    return client


async def test_initialize_handshake_and_protocol_version() -> None:
    fake = FakeDaemon()
    client = await connect(fake)
    init = fake.requests("initialize")[0]
    assert init["params"]["rootUri"] == "file:///tmp/worktree"
    assert [m["method"] for m in fake.sent] == ["initialize", "initialized"]
    assert client.protocol_version == "0.1"
    await client.close()
    assert fake.closed
    assert [m["method"] for m in fake.sent[-2:]] == ["shutdown", "exit"]


async def test_responses_are_matched_by_id_not_by_order() -> None:
    fake = FakeDaemon({"x/echo": lambda p: HOLD})
    client = await connect(fake)
    first = asyncio.ensure_future(client.request("x/echo", {"n": 1}))
    second = asyncio.ensure_future(client.request("x/echo", {"n": 2}))
    await fake.wait_held(2)
    one, two = fake.held
    fake.reply(two["id"], "answer to 2")
    fake.reply("no-such-id", "ignored")  # an unknown id is dropped, not misrouted
    fake.reply(one["id"], "answer to 1")
    assert await first == "answer to 1"
    assert await second == "answer to 2"
    assert one["id"] != two["id"]
    await client.close()


async def test_explicit_msg_id_and_cancel() -> None:
    fake = FakeDaemon({"x/slow": lambda p: HOLD})
    client = await connect(fake)
    rid = client.next_id()
    pending = asyncio.ensure_future(client.request("x/slow", msg_id=rid))
    await fake.wait_held(1)
    assert fake.held[0]["id"] == rid
    await client.cancel(rid)
    assert fake.sent[-1] == {"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": rid}}
    fake.error(rid, -32800, "cancelled")
    with pytest.raises(CODE_TO_ERROR[-32800]):
        await pending
    await client.close()


@pytest.mark.parametrize("code", sorted(CODE_TO_ERROR))
async def test_every_error_code_maps_to_its_class(code: int) -> None:
    def fail(params: Any) -> Any:
        raise Fail(code, "it went wrong", {"field": "from"})

    client = await connect(FakeDaemon({"snapd/status": fail}))
    with pytest.raises(CODE_TO_ERROR[code]) as info:
        await client.status()
    err = info.value
    assert type(err) is CODE_TO_ERROR[code]
    assert isinstance(err, ResponseError)
    assert (err.code, err.message, err.field) == (code, "it went wrong", "from")
    assert str(err) == f"it went wrong (code {code})"
    await client.close()


async def test_unknown_code_and_missing_field() -> None:
    def fail(params: Any) -> Any:
        raise Fail(-31099, "new in a later version", ["not", "a", "dict"])

    client = await connect(FakeDaemon({"snapd/status": fail}))
    with pytest.raises(ResponseError) as info:
        await client.status()
    assert type(info.value) is ResponseError
    assert info.value.field is None and info.value.data == ["not", "a", "dict"]
    await client.close()


async def test_typed_params_go_out_in_wire_names() -> None:
    def explain(params: Any) -> Any:
        raise Fail(-32602, "bad", {"field": "path", "errors": ["path: expected a string"]})

    fake = FakeDaemon({"snapd/diff": paged([], "files", 10), "snapd/explain": explain})
    client = await connect(fake)
    await client.diff("latest", "abcd", paths=["src"], limit=5, max_bytes=20000)
    assert fake.requests("snapd/diff")[0]["params"] == {
        "from": "latest",
        "to": "abcd",
        "paths": ["src"],
        "limit": 5,
        "maxBytes": 20000,
    }
    with pytest.raises(InvalidParams) as info:
        await client.explain("x")
    assert info.value.field == "path"
    await client.close()


async def test_iter_diff_follows_next_cursor() -> None:
    files = [change(f"f{i}") for i in range(7)]
    fake = FakeDaemon({"snapd/diff": paged(files, "files", 3)})
    client = await connect(fake)
    got = [f async for f in client.iter_diff("latest", paths=["src"], limit=3)]
    assert [f.path for f in got] == [f"f{i}" for i in range(7)]
    assert all(isinstance(f, protocol.FileChange) for f in got)
    sent = [r["params"] for r in fake.requests("snapd/diff")]
    assert [p.get("cursor") for p in sent] == [None, "3", "6"]
    # every page repeats the selecting params
    assert all(p["from"] == "latest" and p["paths"] == ["src"] and p["limit"] == 3 for p in sent)
    await client.close()


async def test_iter_hunks_follows_next_cursor() -> None:
    fake = FakeDaemon({"snapd/hunks": paged([hunk(i) for i in range(1, 6)], "hunks", 2)})
    client = await connect(fake)
    got = [h async for h in client.iter_hunks("abcd", "src/a.txt", "latest", context=1)]
    assert [h.old_start for h in got] == [1, 2, 3, 4, 5]
    sent = [r["params"] for r in fake.requests("snapd/hunks")]
    assert [p.get("cursor") for p in sent] == [None, "2", "4"]
    assert all((p["path"], p["context"], p["to"]) == ("src/a.txt", 1, "latest") for p in sent)
    await client.close()


async def test_iter_snapshots_follows_next_cursor_and_stops_on_empty() -> None:
    fake = FakeDaemon({"snapd/snapshots": paged([summary(i) for i in range(5)], "snapshots", 2)})
    client = await connect(fake)
    assert [s.files async for s in client.iter_snapshots(limit=2)] == [0, 1, 2, 3, 4]
    assert len(fake.requests("snapd/snapshots")) == 3
    empty = await connect(FakeDaemon({"snapd/snapshots": paged([], "snapshots", 2)}))
    assert [s async for s in empty.iter_snapshots()] == []
    await client.close()
    await empty.close()


async def test_notification_handlers() -> None:
    fake = FakeDaemon()
    client = await connect(fake)
    seen: list[Any] = []
    client.on_notification("window/logMessage", seen.append)
    client.on_notification("window/logMessage", lambda p: seen.append(("second", p)))
    fake.notify("window/logMessage", {"type": 3, "message": "hi"})
    fake.notify("other/thing", {"x": 1})
    await client.request("shutdown")  # a round trip: earlier notifications were handled
    assert seen == [{"type": 3, "message": "hi"}, ("second", {"type": 3, "message": "hi"})]
    assert [n["method"] for n in client.notifications] == ["window/logMessage", "other/thing"]
    await client.close()


async def test_notification_history_is_bounded() -> None:
    fake = FakeDaemon()
    client = await connect(fake)
    assert client.notifications.maxlen == NOTIFICATION_HISTORY
    seen: list[Any] = []
    client.on_notification("snapd/didSnapshot", seen.append)
    for n in range(NOTIFICATION_HISTORY + 5):
        fake.notify("snapd/didSnapshot", {"n": n})
    await client.request("shutdown")  # a round trip: earlier notifications were handled
    assert len(client.notifications) == NOTIFICATION_HISTORY
    assert client.notifications[0]["params"] == {"n": 5}  # the oldest went first
    assert client.notifications[-1]["params"] == {"n": NOTIFICATION_HISTORY + 4}
    assert len(seen) == NOTIFICATION_HISTORY + 5  # handlers still see every one
    await client.close()


async def test_call_refuses_types_other_than_the_methods() -> None:
    fake = FakeDaemon({"snapd/status": lambda p: {}})
    client = await connect(fake)
    with pytest.raises(TypeError, match="snapd/status returns StatusResult, not StatsResult"):
        await client._call(protocol.SNAPD_STATUS, protocol.StatusParams(), protocol.StatsResult)
    with pytest.raises(TypeError, match="snapd/status takes StatusParams, not StatsParams"):
        await client._call(protocol.SNAPD_STATUS, protocol.StatsParams(), protocol.StatusResult)
    assert fake.requests("snapd/status") == []  # refused before anything was sent
    await client.close()


async def test_server_to_client_requests_are_answered() -> None:
    fake = FakeDaemon()
    client = await connect(fake)
    fake.push({"jsonrpc": "2.0", "id": 99, "method": "window/workDoneProgress/create"})
    await client.request("shutdown")
    for _ in range(10):
        await asyncio.sleep(0)
    assert {"jsonrpc": "2.0", "id": 99, "result": None} in fake.sent
    await client.close()


async def test_progress_is_routed_by_token() -> None:
    fake = FakeDaemon()

    def snapshot(params: Any) -> Any:
        token = params.get("workDoneToken")
        if token is None:
            return SNAPSHOT_RESULT
        fake.notify("$/progress", {"token": token, "value": {"kind": "begin", "title": "snapshot"}})
        fake.notify("$/progress", {"token": "someone-else", "value": {"kind": "report"}})
        fake.notify("$/progress", {"token": token, "value": {"kind": "report", "message": "1 p"}})
        fake.notify("$/progress", {"token": token, "value": {"kind": "end", "message": "done"}})
        return SNAPSHOT_RESULT

    fake.handlers["snapd/snapshot"] = snapshot
    client = await connect(fake)
    first: list[dict[str, Any]] = []
    second: list[dict[str, Any]] = []
    snap = await client.snapshot("one", on_progress=first.append)
    await client.snapshot(on_progress=second.append)
    assert snap.id == "a" * 40 and snap.created
    assert [v["kind"] for v in first] == ["begin", "report", "end"]
    assert [v["kind"] for v in second] == ["begin", "report", "end"]  # not the first's again
    tokens = [r["params"]["workDoneToken"] for r in fake.requests("snapd/snapshot")]
    assert len(set(tokens)) == 2
    fake.notify("$/progress", {"token": tokens[0], "value": {"kind": "report"}})
    await client.request("shutdown")
    assert len(first) == 3  # the handler went away with its snapshot
    assert fake.requests("snapd/snapshot")[0]["params"]["label"] == "one"
    # without a callback no token is sent
    await client.snapshot()
    assert "workDoneToken" not in fake.requests("snapd/snapshot")[-1]["params"]
    await client.close()


async def test_transport_end_fails_pending_requests() -> None:
    fake = FakeDaemon({"x/slow": lambda p: HOLD})
    client = await connect(fake)
    pending = [asyncio.ensure_future(client.request("x/slow")) for _ in range(3)]
    await fake.wait_held(3)
    fake.end()
    for fut in pending:
        with pytest.raises(TransportClosed):
            await fut
    # and a request after the end fails at once instead of hanging
    with pytest.raises(TransportClosed):
        await asyncio.wait_for(client.request("x/slow"), timeout=5)
    await client.close()  # still safe


async def test_broken_transport_reason_reaches_waiters() -> None:
    class Broken(FakeDaemon):
        async def receive(self) -> dict[str, Any] | None:
            msg = await super().receive()
            if msg is not None and msg.get("result") == "boom":
                raise TransportClosed("frame of 99999999999 bytes is over the client's limit")
            return msg

    fake = Broken({"x/slow": lambda p: HOLD, "x/boom": lambda p: "boom"})
    client = await connect(fake)
    pending = asyncio.ensure_future(client.request("x/slow"))
    await fake.wait_held(1)
    with pytest.raises(TransportClosed, match="over the client's limit"):
        await client.request("x/boom")
    with pytest.raises(TransportClosed, match="over the client's limit"):
        await pending
    await client.close()
