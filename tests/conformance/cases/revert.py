"""protocol.md, Method ``snapd/revert``: a step out, later edits kept (the paging case pages it)."""

from __future__ import annotations

from tests.conformance.cases.base import method, snap
from tests.conformance.harness import Ctx

BODY = "".join(f"line {i}\n" for i in range(40))


@method("snapd/revert", {"from": "latest", "to": "latest"}, idempotent=True)
async def check_revert(ctx: Ctx) -> None:
    """revert, merge, conflict and keep per file; a dry run writes nothing; applying does."""
    ctx.write("x.txt", BODY)
    ctx.write("c.txt", BODY)
    ctx.write("gone.txt", "gone\n")
    ctx.write("same.txt", "same\n")
    server = await ctx.start()
    before = await snap(ctx, server, "before", session="agent")
    ctx.write("x.txt", BODY.replace("line 3\n", "agent 3\n"))
    ctx.write("c.txt", BODY.replace("line 10\n", "agent 10\n"))
    ctx.write("new.txt", "new\n")
    (ctx.root / "gone.txt").unlink()
    after = await snap(ctx, server, "after", session="agent")
    ctx.write("x.txt", BODY.replace("line 3\n", "agent 3\n").replace("line 30\n", "user 30\n"))
    ctx.write("c.txt", BODY.replace("line 10\n", "user 10\n"))
    ctx.write("same.txt", "user\n")
    step = {"from": before["id"], "to": after["id"]}
    listed = await ctx.call(server, "snapd/snapshots", {"session": "agent", "limit": 2})
    ctx.check(
        [s["id"] for s in listed["snapshots"]] == [after["id"], before["id"]],
        "a session's newest snapshot and its predecessor are not the step",
    )
    plan = await ctx.call(server, "snapd/revert", step)
    got = {a["path"]: (a["action"], a.get("change")) for a in plan["plan"]}
    want = {
        "c.txt": ("conflict", None),
        "gone.txt": ("revert", "create"),
        "new.txt": ("revert", "delete"),
        "x.txt": ("merge", "write"),
    }
    ctx.require(got == want, f"revert plan: {got}, expected {want}")
    ctx.check(plan["applied"] is False, "a dry run says applied")
    totals = tuple(plan[k] for k in ("reverted", "merged", "conflicted", "kept"))
    ctx.check(totals == (2, 1, 1, 0), f"totals reverted/merged/conflicted/kept: {totals}")
    conflict = next(a for a in plan["plan"] if a["path"] == "c.txt")
    ctx.check(conflict.get("conflict") == "overlapping-edits", f"conflict code: {conflict}")
    hunks = conflict.get("hunks") or []
    ctx.check(
        len(hunks) == 1 and hunks[0]["lines"] == ["-line 10", "+agent 10"],
        f"the conflict's step hunks: {hunks}",
    )
    ctx.check((ctx.root / "new.txt").exists(), "a dry run deleted a file")
    stale = {**step, "dryRun": False, "planToken": "0" * 32}
    await ctx.expect_error(server, "snapd/revert", stale, -31009, "planToken")
    done = await ctx.call(
        server, "snapd/revert", {**step, "dryRun": False, "planToken": plan["planToken"]}
    )
    ctx.check(done["applied"] is True and done.get("failed", 0) == 0, f"apply: {done}")
    ctx.check(isinstance(done.get("safetySnapshot"), str), "no safety snapshot after applying")
    files = {p.name: p.read_text() for p in ctx.root.iterdir() if p.is_file()}
    ctx.check(files.get("x.txt") == BODY.replace("line 30\n", "user 30\n"), "x.txt not merged")
    ctx.check(files.get("c.txt") == BODY.replace("line 10\n", "user 10\n"), "c.txt was touched")
    ctx.check(files.get("gone.txt") == "gone\n", "gone.txt not recreated")
    ctx.check("new.txt" not in files, "new.txt not deleted")
    ctx.check(files.get("same.txt") == "user\n", "a path the step did not change was touched")
    await ctx.expect_error(server, "snapd/revert", {**step, "from": "0" * 40}, -31001, "from")
    await ctx.expect_error(server, "snapd/revert", {**step, "paths": ["../x"]}, -31003)
