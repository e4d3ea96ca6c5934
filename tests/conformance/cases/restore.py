"""protocol.md, Method ``snapd/restore`` (dry runs; the paging case pages its plan)."""

from __future__ import annotations

import os

from tests.conformance.cases.base import method, snap
from tests.conformance.harness import Ctx
from tests.conformance.lsp import RpcError


@method("snapd/restore", {"from": "latest", "dryRun": True}, idempotent=True)
async def check_restore(ctx: Ctx) -> None:
    """Dry runs only: the plan's actions and totals; the worktree and history are untouched."""
    ctx.write("a.txt", "a\n")
    ctx.write("b.txt", "b\n")
    ctx.write("same.txt", "same\n")
    server = await ctx.start()
    s1 = await snap(ctx, server)
    ctx.write("a.txt", "a changed\n")
    os.unlink(ctx.root / "b.txt")
    ctx.write("c.txt", "c\n")
    before = {p.name: p.read_bytes() for p in ctx.root.iterdir() if p.is_file()}
    plan = await ctx.call(server, "snapd/restore", {"from": s1["id"], "dryRun": True})
    actions = {a["path"]: a["action"] for a in plan["plan"]}
    ctx.check(
        actions == {"a.txt": "write", "b.txt": "create", "c.txt": "delete"},
        f"dry-run plan: {actions}",
    )
    ctx.check(plan["applied"] is False, "a dry run says applied")
    ctx.check(
        (plan["written"], plan["deleted"], plan["kept"]) == (2, 1, 0),
        f"totals written/deleted/kept: {plan['written']}/{plan['deleted']}/{plan['kept']}",
    )
    ctx.check("safetySnapshot" not in plan, "a dry run took a safety snapshot")
    implicit = await ctx.call(server, "snapd/restore", {"from": s1["id"]})
    ctx.check(implicit["applied"] is False, "dryRun does not default to true")
    ctx.check(implicit["planToken"] == plan["planToken"], "the same plan got another planToken")
    only = await ctx.call(server, "snapd/restore", {"from": s1["id"], "paths": ["a.txt"]})
    ctx.check([a["path"] for a in only["plan"]] == ["a.txt"], f"paths filter: {only['plan']}")
    listed = await ctx.call(server, "snapd/hunks", {"from": s1["id"], "path": "a.txt"})
    sel = {"path": "a.txt", "digests": [h["digest"] for h in listed["hunks"]]}
    part = await ctx.call(server, "snapd/restore", {"from": s1["id"], "hunks": sel})
    ctx.check([a["path"] for a in part["plan"]] == ["a.txt"], f"hunks selection: {part['plan']}")
    stale = {"path": "a.txt", "digests": ["0" * 16]}
    await ctx.expect_error(
        server, "snapd/restore", {"from": s1["id"], "hunks": stale}, -31009, "hunks.digests"
    )
    try:
        await ctx.call(server, "snapd/restore", {"from": s1["id"], "hunks": sel, "paths": ["a"]})
        ctx.check(False, "hunks together with paths was accepted")
    except RpcError:
        pass
    await ctx.expect_error(server, "snapd/restore", {"from": "0" * 40}, -31001, "from")
    await ctx.expect_error(server, "snapd/restore", {"from": s1["id"], "paths": ["../x"]}, -31003)
    after = {p.name: p.read_bytes() for p in ctx.root.iterdir() if p.is_file()}
    ctx.check(after == before, "a dry run changed the worktree")
    st = await ctx.call(server, "snapd/status", {})
    ctx.check(st.get("head") == s1["id"], "a dry run moved the head")
