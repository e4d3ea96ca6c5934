"""protocol.md, Method ``snapd/explain``."""

from __future__ import annotations

import os
from typing import Any

from tests.conformance.cases.base import method
from tests.conformance.harness import Ctx


@method("snapd/explain", {"path": "a.txt"}, idempotent=True)
async def check_explain(ctx: Ctx) -> None:
    """Outcome, rule, kind, size, exists and binary for typical paths; bad paths."""
    ctx.write(".gitignore", "*.log\n")
    ctx.write("a.txt", "ab")
    ctx.write("x.log", "log\n")
    ctx.write("bin.dat", b"\0\0")
    ctx.write("sub/f.txt", "f\n")
    os.symlink("a.txt", ctx.root / "ln")
    server = await ctx.start()

    async def explain(path: str) -> dict[str, Any]:
        result: dict[str, Any] = await ctx.call(server, "snapd/explain", {"path": path})
        return result

    a = await explain("a.txt")
    ctx.check(
        (a["path"], a["outcome"], a["rule"], a["exists"], a.get("kind"), a.get("size"))
        == ("a.txt", "captured", "captured", True, "file", 2),
        f"explain a.txt: {a}",
    )
    x = await explain("x.log")
    ctx.check((x["outcome"], x["rule"]) == ("skipped", "ignore-file"), f"explain x.log: {x}")
    m = await explain("missing.txt")
    ctx.check(m["exists"] is False and "kind" not in m and "size" not in m, f"missing: {m}")
    b = await explain("bin.dat")
    ctx.check(b.get("binary") is True and b["outcome"] == "captured", f"explain bin.dat: {b}")
    ctx.check((await explain("sub")).get("kind") == "dir", "explain sub: kind is not dir")
    ctx.check((await explain("ln")).get("kind") == "symlink", "explain ln: kind is not symlink")
    for bad in ("/etc/passwd", "../outside", "a\x00b", "sub/../../x"):
        await ctx.expect_error(server, "snapd/explain", {"path": bad}, -31003, "path")
