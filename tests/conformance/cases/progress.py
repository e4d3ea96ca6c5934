"""protocol.md, Progress and cancellation: ``$/progress`` and ``$/cancelRequest``."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conformance.cases.base import PROGRESS, case, snap
from tests.conformance.harness import Ctx
from tests.conformance.lsp import Server


def progress_of(server: Server, token: Any) -> list[dict[str, Any]]:
    """``$/progress`` values sent for ``token``."""
    return [
        n["params"]["value"]
        for n in server.notifications
        if n.get("method") == "$/progress" and n.get("params", {}).get("token") == token
    ]


@case(PROGRESS, "work-done progress")
async def progress(ctx: Ctx) -> None:
    """``workDoneToken`` (string or integer) gets begin ... end; no token, no progress."""
    for i in range(300):
        ctx.write(f"t/d{i % 10}/f{i}.txt", f"{i}\n")
    server = await ctx.start()
    for token in ("tok-1", 7):
        await ctx.call(server, "snapd/snapshot", {"label": str(token), "workDoneToken": token})
        for _ in range(300):  # up to 30 s on a loaded machine
            values = progress_of(server, token)
            if values and values[-1].get("kind") == "end":
                break
            await asyncio.sleep(0.1)
        values = progress_of(server, token)
        kinds = [v.get("kind") for v in values]
        ctx.require(kinds, f"token {token!r}: no $/progress")
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
    await asyncio.sleep(0.2)
    ctx.check(
        not [n for n in server.notifications[count:] if n.get("method") == "$/progress"],
        "$/progress without a workDoneToken",
    )


@case(PROGRESS, "cancel a snapshot")
async def cancel(ctx: Ctx) -> None:
    """``$/cancelRequest`` of a long snapshot: -32800 (ref unmoved) or a result; serving goes on."""
    for i in range(1500):
        ctx.write(f"t/d{i % 20}/f{i}.txt", f"content {i}\n")
    server = await ctx.start()
    first = await snap(ctx, server)
    for i in range(1500):
        ctx.write(f"t/d{i % 20}/f{i}.txt", f"changed {i}\n")
    rid = server.new_id()
    fut = await server.start(
        "snapd/snapshot", {"label": "cancel me", "workDoneToken": "c"}, msg_id=rid
    )
    await server.notify("$/cancelRequest", {"id": rid})
    resp = await server.wait(fut)
    st = await ctx.call(server, "snapd/status", {})
    if "error" in resp:
        ctx.check_error("snapd/snapshot", resp)
        ctx.check(resp["error"].get("code") == -32800, f"cancelled snapshot: {resp['error']}")
        ctx.check(st.get("head") == first["id"], "a cancelled snapshot moved the head")
        ctx.note("the snapshot was cancelled (-32800)")
    else:
        ctx.validate("snapd/snapshot", resp["result"])
        ctx.check(st.get("head") == resp["result"]["id"], "head is not the completed snapshot")
        ctx.note("the snapshot completed before the cancel arrived")
    for _ in range(300):  # up to 30 s on a loaded machine
        if [v.get("kind") for v in progress_of(server, "c")][-1:] == ["end"]:
            break
        await asyncio.sleep(0.1)
    ctx.check(
        [v.get("kind") for v in progress_of(server, "c")][-1:] == ["end"],
        "no $/progress end for the cancelled snapshot",
    )
    await server.notify("$/cancelRequest", {"id": 987654})  # unknown id: ignored
    after = await snap(ctx, server)
    ctx.check(after["files"] == 1500, f"snapshot after the cancel: files={after['files']}")
