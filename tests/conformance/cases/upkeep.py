"""protocol.md, Methods ``snapd/pin``, ``snapd/gc``, ``snapd/stats`` and ``snapd/daemonStatus``."""

from __future__ import annotations

import os

from tests.conformance.cases.base import method, snap, uses_placeholder
from tests.conformance.harness import Ctx


@method("snapd/pin", {"id": "latest"}, idempotent=True)
async def check_pin(ctx: Ctx) -> None:
    """Pin and unpin by id, prefix or ``latest``; unknown ids get -31001."""
    ctx.write("a.txt", "a\n")
    server = await ctx.start()
    s1 = await snap(ctx, server)
    r = await ctx.call(server, "snapd/pin", {"id": s1["id"][:8]})
    ctx.check(r == {"id": s1["id"], "pinned": True}, f"pin by prefix: {r}")
    r = await ctx.call(server, "snapd/pin", {"id": "latest", "pinned": False})
    ctx.check(r == {"id": s1["id"], "pinned": False}, f"unpin latest: {r}")
    await ctx.expect_error(server, "snapd/pin", {"id": "0" * 40}, -31001)


@method("snapd/gc", {"dryRun": True}, idempotent=False)
async def check_gc(ctx: Ctx) -> None:
    """Retention (``retainLatest``/``retainCount``) drops the right snapshot; pins protect."""
    ctx.write("a.txt", "0\n")
    options = {"retainLatest": 1, "retainCount": 1, "autoGc": False}
    server = await ctx.start(options=options)
    ids = []
    for i in range(4):
        ctx.write("a.txt", f"{i}\n")
        ids.append((await snap(ctx, server))["id"])
    await ctx.call(server, "snapd/pin", {"id": ids[0]})
    dry = await ctx.call(server, "snapd/gc", {"dryRun": True})
    ctx.check(dry["dropped"] == [ids[1]], f"dry run dropped {dry['dropped']}, expected {ids[1:2]}")
    ctx.check(dry["kept"] == 3, f"dry run kept {dry['kept']}, expected 3")
    listed = [x["id"] for x in (await ctx.call(server, "snapd/snapshots", {}))["snapshots"]]
    ctx.check(listed == ids[::-1], "a dry run dropped snapshots")
    real = await ctx.call(server, "snapd/gc", {})
    ctx.check(real["dropped"] == [ids[1]], f"gc dropped {real['dropped']}, expected {ids[1:2]}")
    listed = [x["id"] for x in (await ctx.call(server, "snapd/snapshots", {}))["snapshots"]]
    ctx.check(listed == [ids[3], ids[2], ids[0]], f"after gc: {listed}")
    await ctx.expect_error(server, "snapd/diff", {"from": ids[1]}, -31001, "from")


@method("snapd/stats", {}, idempotent=True)
async def check_stats(ctx: Ctx) -> None:
    """Counts of snapshots and pins; captured vs unique bytes and their ratio."""
    ctx.write("a.txt", "a" * 100)
    ctx.write("b.txt", "b" * 10)
    server = await ctx.start()
    s1 = await snap(ctx, server)
    ctx.write("b.txt", "c" * 10)
    await snap(ctx, server)
    await ctx.call(server, "snapd/pin", {"id": s1["id"]})
    st = await ctx.call(server, "snapd/stats", {})
    ctx.check((st["snapshots"], st["pinned"]) == (2, 1), f"snapshots/pinned: {st}")
    ctx.check(st["capturedBytes"] == 220, f"capturedBytes={st['capturedBytes']}, expected 220")
    ctx.check(st["uniqueBytes"] == 120, f"uniqueBytes={st['uniqueBytes']}, expected 120")
    ctx.check(abs(st["dedupRatio"] - 220 / 120) < 0.01, f"dedupRatio={st['dedupRatio']}")
    paths = {x.get("path"): x for x in st["largestPaths"]}
    ctx.check(set(paths) == {"a.txt", "b.txt"}, f"largestPaths: {st['largestPaths']}")


@method("snapd/daemonStatus", {}, idempotent=True)
async def check_daemon_status(ctx: Ctx) -> None:
    """The daemon's pid, root and store; the asking client listed once, with nothing running."""
    ctx.write("a.txt", "a\n")
    server = await ctx.spawn()
    init = await ctx.initialize(server, clientInfo={"name": "conformance"})
    st = await ctx.call(server, "snapd/daemonStatus", {})
    ctx.check(st["pid"] > 0, f"pid {st['pid']}")
    version = init.get("serverInfo", {}).get("version")
    ctx.check(version is None or st["version"] == version, f"version {st['version']!r}")
    ctx.check(
        os.path.isabs(st["root"]) and os.path.samefile(st["root"], ctx.root),
        f"root {st['root']!r} is not the worktree {ctx.root}",
    )
    if uses_placeholder(ctx, "store"):
        ctx.check(os.path.samefile(st["store"], ctx.store), f"store {st['store']!r}")
    if st["shared"]:
        ctx.check("socket" in st and "idleTimeout" in st, "a shared daemon names its socket")
    else:
        ctx.check("socket" not in st and "idleTimeout" not in st, f"standalone: {st}")
    mine = [c for c in st["clients"] if c["you"]]
    ctx.check(len(mine) == 1, f"the asking client is not listed once: {st['clients']}")
    if mine:
        ctx.check(mine[0]["requests"] == [], f"daemonStatus lists itself: {mine[0]}")
        ctx.check(mine[0]["connectedAt"] >= st["startedAt"], f"connected before start: {st}")
    if not st["shared"]:
        # A standalone daemon serves the one client that started it.
        ctx.check(len(st["clients"]) == 1, f"standalone with clients {st['clients']}")
