"""protocol.md, Store layout: a bare git repository; the worktree is never written."""

from __future__ import annotations

from tests.conformance.cases.base import STORE, case, snap, uses_placeholder
from tests.conformance.harness import Ctx


@case(STORE, "store layout")
async def store_layout(ctx: Ctx) -> None:
    """The store is a bare git repository holding ``refs/heads/snapshots``; the worktree is
    untouched."""
    if not uses_placeholder(ctx, "store"):
        ctx.skip("the server command does not pass {store}")
    ctx.write("a.txt", "a\n")
    before = sorted(p.relative_to(ctx.root) for p in ctx.root.rglob("*"))
    server = await ctx.start()
    s = await snap(ctx, server)
    await ctx.call(server, "snapd/diff", {"from": s["id"]})
    ref = ctx.store / "refs" / "heads" / "snapshots"
    packed = ctx.store / "packed-refs"
    text = (ref.read_text() if ref.exists() else "") + (
        packed.read_text() if packed.exists() else ""
    )
    ctx.check(s["id"] in text, "refs/heads/snapshots does not hold the snapshot id")
    ctx.check(
        (ctx.store / "HEAD").exists() and (ctx.store / "objects").is_dir(),
        "not a bare git repository",
    )
    after = sorted(p.relative_to(ctx.root) for p in ctx.root.rglob("*"))
    ctx.check(before == after, f"the server wrote inside the worktree: {set(after) - set(before)}")
