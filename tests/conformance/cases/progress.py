"""protocol.md, Progress and cancellation: ``$/progress`` and ``$/cancelRequest``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from tests.conformance.cases.base import PROGRESS, case, snap
from tests.conformance.harness import Ctx, compact
from tests.conformance.lsp import Message, Server


def progress_of(server: Server, token: Any) -> list[dict[str, Any]]:
    """``$/progress`` values sent for ``token``."""
    return [
        n["params"]["value"]
        for n in server.notifications
        if n.get("method") == "$/progress" and n.get("params", {}).get("token") == token
    ]


def progress(token: Any, kind: str) -> Callable[[Message], bool]:
    """Whether a notification is the ``$/progress`` ``kind`` (begin, report, end) of ``token``."""

    def want(msg: Message) -> bool:
        params = msg.get("params")
        return (
            msg.get("method") == "$/progress"
            and isinstance(params, dict)
            and params.get("token") == token
            and isinstance(params.get("value"), dict)
            and params["value"].get("kind") == kind
        )

    return want


@case(PROGRESS, "work-done progress")
async def work_done_progress(ctx: Ctx) -> None:
    """``workDoneToken`` (string or integer) gets begin ... end; no token, no progress."""
    for i in range(300):
        ctx.write(f"t/d{i % 10}/f{i}.txt", f"{i}\n")
    server = await ctx.start()
    for token in ("tok-1", 7):
        await ctx.call(server, "snapd/snapshot", {"label": str(token), "workDoneToken": token})
        await server.notification(progress(token, "end"))
        values = progress_of(server, token)
        kinds = [v.get("kind") for v in values]
        ctx.check(kinds[0] == "begin" and kinds[-1] == "end", f"token {token!r}: kinds {kinds}")
        ctx.check(set(kinds[1:-1]) <= {"report"}, f"token {token!r}: kinds {kinds}")
        ctx.check(
            values[0].get("title") == "snapshot" and values[0].get("cancellable") is True,
            f"begin: {values[0]}",
        )
        ctx.check(values[-1].get("message") == "done", f"end: {values[-1]}")
        for v in values[1:-1]:
            ctx.check(isinstance(v.get("message"), str), f"report without message: {v}")
    count = len(server.notifications)
    await snap(ctx, server, "quiet")
    # A fence instead of a sleep: anything sent for the quiet snapshot was sent before the
    # fence's own progress ends.
    await ctx.call(server, "snapd/snapshot", {"label": "fence", "workDoneToken": "fence"})
    await server.notification(progress("fence", "end"))
    stray = [
        n
        for n in server.notifications[count:]
        if n.get("method") == "$/progress" and n.get("params", {}).get("token") != "fence"
    ]
    ctx.check(not stray, f"$/progress without a workDoneToken: {compact(stray)}")


CANCEL_FILES = 3000
"""Changed files the cancelled snapshot must read: far more than one round trip's worth."""


async def cancelled_snapshot(ctx: Ctx, server: Server, token: str, at: str) -> None:
    """Start a snapshot, cancel it at its first ``$/progress`` ``at``; it must get -32800."""
    rid = server.new_id()
    fut = await server.start(
        "snapd/snapshot", {"label": "cancel me", "workDoneToken": token}, msg_id=rid
    )
    # Wait for the event, or the answer (a snapshot that ends before any report).
    seen = asyncio.ensure_future(server.notification(progress(token, at)))
    await asyncio.wait({seen, fut}, return_when="FIRST_COMPLETED")
    if fut.done():
        seen.cancel()
        await asyncio.gather(seen, return_exceptions=True)
        ctx.fail(f"the snapshot of {CANCEL_FILES} changed files ended before any $/progress {at}")
    await seen
    await server.notify("$/cancelRequest", {"id": rid})
    resp = await server.wait(fut)
    if "error" not in resp:
        ctx.validate("snapd/snapshot", resp.get("result"))
        ctx.fail(
            f"a snapshot of {CANCEL_FILES} changed files cancelled at its first $/progress {at} "
            "completed: expected error -32800 (RequestCancelled)"
        )
    ctx.check_error("snapd/snapshot", resp)
    ctx.require(resp["error"].get("code") == -32800, f"cancelled at {at}: {resp['error']}")
    await server.notification(progress(token, "end"))


@case(PROGRESS, "cancel a snapshot")
async def cancel(ctx: Ctx) -> None:
    """``$/cancelRequest`` of a running snapshot: -32800, nothing recorded; serving goes on."""
    for i in range(CANCEL_FILES):
        ctx.write(f"t/d{i % 20}/f{i}.txt", f"content {i}\n")
    server = await ctx.start()
    first = await snap(ctx, server)
    for i in range(CANCEL_FILES):
        ctx.write(f"t/d{i % 20}/f{i}.txt", f"changed {i}\n")  # every file is read again
    before = await ctx.call(server, "snapd/snapshots", {})
    # As soon as it begins (this daemon is then waiting for its watcher), and once it reports
    # (the walk is under way).
    for at in ("begin", "report"):
        await cancelled_snapshot(ctx, server, f"cancel-at-{at}", at)
        listed = await ctx.call(server, "snapd/snapshots", {})
        ctx.check(listed == before, f"a snapshot cancelled at {at} was recorded")
        st = await ctx.call(server, "snapd/status", {})
        ctx.check(st.get("head") == first["id"], f"a snapshot cancelled at {at} moved the head")
    await server.notify("$/cancelRequest", {"id": 987654})  # unknown id: ignored
    # The next snapshot holds every change, on top of the first: the cancelled captures left
    # nothing referenced, now or later (a server that let one run on would record it).
    after = await snap(ctx, server)
    ctx.check(
        after["created"] is True and "label" not in after,
        f"the snapshot after the cancel is not a new one: {compact(after)}",
    )
    ctx.check(after["files"] == CANCEL_FILES, f"snapshot after the cancel: files={after['files']}")
    ctx.check(
        after.get("parent") == first["id"] and after["changed"] == CANCEL_FILES,
        f"snapshot after the cancel: parent={after.get('parent')} changed={after['changed']}, "
        f"expected parent={first['id']} changed={CANCEL_FILES}",
    )
    history = (await ctx.call(server, "snapd/snapshots", {}))["snapshots"]
    ids = [s["id"] for s in history]
    ctx.check(ids == [after["id"], first["id"]], f"snapshots after the cancel: {ids}")
    ctx.check(
        all(s.get("label") != "cancel me" for s in history), "a cancelled snapshot was recorded"
    )
    announced = [
        n["params"]
        for n in server.notifications
        if n.get("method") == "snapd/didSnapshot"
        and n.get("params", {}).get("label") == "cancel me"
    ]
    ctx.check(not announced, f"snapd/didSnapshot for a cancelled snapshot: {announced}")
