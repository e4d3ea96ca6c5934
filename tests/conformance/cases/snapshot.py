"""protocol.md, Methods ``snapd/snapshot``, ``snapd/snapshots`` and ``snapd/status``."""

from __future__ import annotations

import os
import time

from tests.conformance.cases.base import (
    HEX40,
    case,
    method,
    methods_section,
    snap,
    uses_placeholder,
)
from tests.conformance.harness import Ctx


@method("snapd/snapshot", {}, idempotent=False)
async def check_snapshot(ctx: Ctx) -> None:
    """First, unchanged, labelled and changed snapshots; counts, ids, parents and rules."""
    ctx.write(".gitignore", "*.log\n")
    ctx.write("a.txt", "alpha\n")
    ctx.write("b.txt", "beta\n")
    ctx.write("x.log", "noise\n")
    server = await ctx.start()
    before = time.time()
    r1 = await snap(ctx, server)
    ctx.check(r1["created"] is True, "first snapshot: created is not true")
    ctx.check(HEX40.match(r1["id"]), f"snapshot id {r1['id']!r} is not 40 lowercase hex digits")
    ctx.check("parent" not in r1, "first snapshot has a parent")
    ctx.check(r1["files"] == 3, f"files={r1['files']}, expected 3 (.gitignore, a.txt, b.txt)")
    ctx.check(r1["bytes"] == 6 + 6 + 5, f"bytes={r1['bytes']}, expected 17")
    ctx.check(r1["skipped"] == 1, f"skipped={r1['skipped']}, expected 1 (x.log)")
    ctx.check(r1["skippedBytes"] == 6, f"skippedBytes={r1['skippedBytes']}, expected 6")
    ctx.check(r1.get("rules") == {"ignore-file": 1}, f"rules={r1.get('rules')}")
    ctx.check(r1["changed"] >= 3, f"changed={r1['changed']}: all paths for the first snapshot")
    ctx.check(r1["hashed"] == 3, f"hashed={r1['hashed']}: every file is read the first time")
    ctx.check(r1.get("hashedBytes", 0) == 17, f"hashedBytes={r1.get('hashedBytes')}")
    ctx.check(
        before - 5 <= r1["time"] <= time.time() + 5, f"time={r1['time']} is not the current time"
    )
    r2 = await snap(ctx, server)
    ctx.check(r2["created"] is False, "unchanged worktree, no label: created is not false")
    ctx.check(r2["id"] == r1["id"], "unchanged snapshot does not describe the latest one")
    r3 = await snap(ctx, server, "step 7 ✓")
    ctx.check(r3["created"] is True, "a labelled snapshot is always written")
    ctx.check(r3.get("label") == "step 7 ✓", f"label not echoed: {r3.get('label')!r}")
    ctx.check(r3.get("parent") == r1["id"], "labelled snapshot's parent is not the previous one")
    ctx.check(r3["changed"] == 0, f"changed={r3['changed']} with nothing changed")
    ctx.write("a.txt", "alpha!\n")
    r4 = await snap(ctx, server)
    ctx.check(r4["created"] is True and r4.get("parent") == r3["id"], "changed snapshot: parent")
    ctx.check(r4["changed"] == 1, f"changed={r4['changed']}, expected 1 (a.txt)")
    ctx.check(1 <= r4["hashed"] <= 3, f"hashed={r4['hashed']} out of range")
    if r4["hashed"] != 1:
        ctx.note(f"second snapshot re-read {r4['hashed']} files (only a.txt changed)")
    await ctx.expect_error(server, "snapd/snapshot", {"label": 5}, -32602, "label")


@method("snapd/snapshots", {}, idempotent=True)
async def check_snapshots(ctx: Ctx) -> None:
    """Empty before the first snapshot; newest first; summaries agree with snapshot results."""
    ctx.write("a.txt", "a\n")
    server = await ctx.start()
    first = await ctx.call(server, "snapd/snapshots", {})
    ctx.check(first.get("snapshots") == [], f"snapshots before the first one: {first}")
    ctx.check("nextCursor" not in first, "nextCursor on an empty last page")
    taken = [await snap(ctx, server, "one")]
    ctx.write("a.txt", "b\n")
    taken.append(await snap(ctx, server))
    taken.append(await snap(ctx, server, "three"))
    page = await ctx.call(server, "snapd/snapshots", {})
    got = page["snapshots"]
    ctx.require(
        [s["id"] for s in got] == [t["id"] for t in reversed(taken)],
        "snapshots are not the taken ones, newest first",
    )
    keys = ("id", "time", "files", "bytes", "skipped", "skippedBytes", "changed", "parent", "label")
    for s, t in zip(got, reversed(taken), strict=True):
        for k in keys:
            ctx.check(s.get(k) == t.get(k), f"summary {k}={s.get(k)!r}, snapshot said {t.get(k)!r}")
        for k in ("rules", "generated"):
            ctx.check(s.get(k, {}) == t.get(k, {}), f"summary {k} differs from the snapshot's")


@case(methods_section("snapd/snapshots"), "snapshots-session")
async def check_snapshots_session(ctx: Ctx) -> None:
    """``session`` is recorded, echoed, listed, and filters the listing (newest first)."""
    ctx.write("a.txt", "a\n")
    server = await ctx.start()
    a1 = await snap(ctx, server, "a1", session="agent-a")
    ctx.check(a1.get("session") == "agent-a", f"session not echoed: {a1.get('session')!r}")
    ctx.write("a.txt", "b\n")
    other = await snap(ctx, server, "user")
    ctx.check("session" not in other, "a snapshot taken without a session has one")
    ctx.write("a.txt", "c\n")
    a2 = await snap(ctx, server, "a2", session="agent-a")
    await snap(ctx, server, "b1", session="agent-b")
    page = await ctx.call(server, "snapd/snapshots", {"session": "agent-a"})
    got = [(s["id"], s.get("session")) for s in page["snapshots"]]
    want = [(a2["id"], "agent-a"), (a1["id"], "agent-a")]
    ctx.check(got == want, f"session agent-a lists {got}, expected {want} (newest first)")
    everything = await ctx.call(server, "snapd/snapshots", {})
    ctx.check(len(everything["snapshots"]) == 4, "the unfiltered listing lost snapshots")
    none = await ctx.call(server, "snapd/snapshots", {"session": "nobody"})
    ctx.check(none["snapshots"] == [], "an unknown session lists snapshots")
    first = await ctx.call(server, "snapd/snapshots", {"session": "agent-a", "limit": 1})
    ctx.require("nextCursor" in first, "a one-item page of two has no nextCursor")
    rest = await ctx.call(
        server, "snapd/snapshots", {"session": "agent-a", "cursor": first["nextCursor"]}
    )
    ctx.check(
        [s["id"] for s in first["snapshots"] + rest["snapshots"]] == [a2["id"], a1["id"]],
        "paging a session's listing does not give its snapshots",
    )
    await ctx.expect_error(
        server, "snapd/snapshots", {"session": "agent-b", "cursor": first["nextCursor"]},
        -31002, "cursor",
    )  # fmt: skip
    await ctx.expect_error(server, "snapd/snapshot", {"session": 5}, -32602, "session")


@method("snapd/status", {}, idempotent=True)
async def check_status(ctx: Ctx) -> None:
    """Root, store, versions, defaults and head before and after a snapshot."""
    ctx.write("a.txt", "a\n")
    server = await ctx.start()
    st = await ctx.call(server, "snapd/status", {})
    ctx.check(os.path.isabs(st["root"]), f"root {st['root']!r} is not absolute")
    ctx.check(
        os.path.exists(st["root"]) and os.path.samefile(st["root"], ctx.root),
        f"root {st['root']!r} is not the worktree {ctx.root}",
    )
    ctx.check(os.path.isabs(st["store"]), f"store {st['store']!r} is not absolute")
    if uses_placeholder(ctx, "store"):
        ctx.check(
            os.path.exists(st["store"]) and os.path.samefile(st["store"], ctx.store),
            f"store {st['store']!r} is not {ctx.store}",
        )
    ctx.check(st["protocolVersion"] == ctx.schema.version, "status protocolVersion")
    default = ctx.schema.options["contentLimit"]["default"]
    ctx.check(st["contentLimit"] == default, f"contentLimit={st['contentLimit']} != {default}")
    ctx.check(st["storeBytes"] >= 0 and st["cachedFiles"] >= 0, "negative sizes")
    ctx.check("head" not in st, "head before the first snapshot")
    s = await snap(ctx, server)
    st = await ctx.call(server, "snapd/status", {})
    ctx.check(st.get("head") == s["id"], "head is not the latest snapshot")
    ctx.check(st["storeBytes"] > 0, "storeBytes is 0 after a snapshot")
