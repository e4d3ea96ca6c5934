"""protocol.md, Method ``snapd/diff``."""

from __future__ import annotations

import os

from tests.conformance.cases.base import by_path, method, snap
from tests.conformance.harness import Ctx


@method("snapd/diff", {"from": "latest"}, idempotent=True)
async def check_diff(ctx: Ctx) -> None:
    """Statuses, sizes and modes by status, binary, skipped, paths filter, sides."""
    ctx.write(".gitignore", "*.log\n")
    for name in ("a.txt", "b.txt", "c.txt"):
        ctx.write(name, f"{name}\n")
    ctx.write("bin.dat", b"\0\1\2")
    ctx.write("keep.log", "x\n")
    server = await ctx.start()
    s1 = await snap(ctx, server)
    ctx.write("a.txt", "a.txt changed\n")
    os.unlink(ctx.root / "b.txt")
    ctx.write("d.txt", "new\n")
    ctx.write("bin.dat", b"\0\1\2\3")
    ctx.write("keep.log", "xyz\n")
    s2 = await snap(ctx, server)
    res = await ctx.call(server, "snapd/diff", {"from": s1["id"], "to": s2["id"]})
    files = by_path(res["files"])
    ctx.check("c.txt" not in files, "an unchanged file is listed")
    for path, status in [
        ("a.txt", "modified"),
        ("b.txt", "deleted"),
        ("d.txt", "added"),
        ("bin.dat", "modified"),
    ]:
        f = files.get(path)
        if not ctx.check(f is not None, f"{path} missing from the diff"):
            continue
        assert f is not None
        ctx.check(f["status"] == status, f"{path}: status {f['status']}, expected {status}")
        has_old = status != "added"
        has_new = status != "deleted"
        for k, present in [
            ("oldSize", has_old),
            ("oldMode", has_old),
            ("newSize", has_new),
            ("newMode", has_new),
        ]:
            ctx.check(
                (k in f) == present, f"{path} ({status}): {k} {'missing' if present else 'present'}"
            )
    if "a.txt" in files:
        a = files["a.txt"]
        ctx.check((a.get("oldSize"), a.get("newSize")) == (6, 14), f"a.txt sizes: {a}")
    if "bin.dat" in files:
        ctx.check(files["bin.dat"].get("binary") is True, "bin.dat is not binary")
    if "keep.log" in files:
        sk = files["keep.log"].get("skipped")
        ctx.check(sk is not None and sk["rule"] == "ignore-file", f"keep.log skipped: {sk}")
        ctx.check(sk is None or sk.get("side", "new") == "both", f"keep.log side: {sk}")
    only = await ctx.call(
        server, "snapd/diff", {"from": s1["id"], "to": s2["id"], "paths": ["a.txt"]}
    )
    ctx.check([f["path"] for f in only["files"]] == ["a.txt"], f"paths filter: {only['files']}")
    none = await ctx.call(server, "snapd/diff", {"from": s1["id"], "paths": ["no/such"]})
    ctx.check(none["files"] == [], "paths filter on a missing path is not empty")
    back = by_path(
        (await ctx.call(server, "snapd/diff", {"from": s2["id"], "to": s1["id"]}))["files"]
    )
    ctx.check(
        {p: back[p]["status"] for p in ("b.txt", "d.txt") if p in back}
        == {"b.txt": "added", "d.txt": "deleted"},
        "reversed diff does not swap added and deleted",
    )
    live = await ctx.call(server, "snapd/diff", {"from": s1["id"]})
    ctx.check(live["files"] == res["files"], "diff to the live worktree differs from the snapshot")
    latest = await ctx.call(server, "snapd/diff", {"from": s1["id"], "to": "latest"})
    ctx.check(latest["files"] == res["files"], "to=latest differs from to=<latest id>")
    same = await ctx.call(server, "snapd/diff", {"from": s2["id"], "to": s2["id"]})
    ctx.check(same["files"] == [], "a snapshot differs from itself")
