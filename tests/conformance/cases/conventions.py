"""protocol.md, Conventions: paths, snapshot references, paging params, order, modes, live side."""

from __future__ import annotations

import os
from typing import Any

from tests.conformance.cases.base import (
    CONVENTIONS,
    METHOD_SPECS,
    by_path,
    case,
    snap,
    standard_world,
    uses_placeholder,
)
from tests.conformance.harness import Ctx
from tests.conformance.store import forge_twin


@case(CONVENTIONS, "paths")
async def conventions_paths(ctx: Ctx) -> None:
    """Non-UTF-8 names travel as U+DC80..U+DCFF and round-trip; bad paths get -31003."""
    ctx.write("keep.txt", "k\n")
    server = await ctx.start()
    s0 = await snap(ctx, server)
    ctx.write(b"caf\xe9.txt", b"caf\xe9\n")
    ctx.write("sub/ok.txt", "ok\n")
    res = await ctx.call(server, "snapd/diff", {"from": s0["id"]})
    paths = [f["path"] for f in res["files"]]
    ctx.check("caf\udce9.txt" in paths, f"non-UTF-8 name not sent as a lone surrogate: {paths!r}")
    ex = await ctx.call(server, "snapd/explain", {"path": "caf\udce9.txt"})
    ctx.check(ex["exists"] is True and ex["path"] == "caf\udce9.txt", f"explain: {ex!r}")
    h = await ctx.call(server, "snapd/hunks", {"from": s0["id"], "path": "caf\udce9.txt"})
    ctx.check([x["lines"] for x in h["hunks"]] == [["+caf\udce9"]], f"hunks of it: {h['hunks']!r}")
    only = await ctx.call(server, "snapd/diff", {"from": s0["id"], "paths": ["caf\udce9.txt"]})
    ctx.check([f["path"] for f in only["files"]] == ["caf\udce9.txt"], "paths filter with it")
    ctx.check(
        [
            f["path"]
            for f in (await ctx.call(server, "snapd/diff", {"from": s0["id"], "paths": ["sub"]}))[
                "files"
            ]
        ]
        == ["sub/ok.txt"],
        "a directory in paths does not select the files under it",
    )
    for bad in ("/etc/passwd", "../x", "a/../../x", "a\x00b"):
        await ctx.expect_error(
            server, "snapd/hunks", {"from": s0["id"], "path": bad}, -31003, "path"
        )
        await ctx.expect_error(
            server, "snapd/diff", {"from": s0["id"], "paths": [bad]}, -31003, "paths"
        )


@case(CONVENTIONS, "snapshot references")
async def conventions_refs(ctx: Ctx) -> None:
    """Full ids, prefixes (4+ hex, any case), ``latest`` and ``latest~N``; anything else gets
    -31001."""
    ctx.write("a.txt", "a\n")
    server = await ctx.start()
    await ctx.expect_error(
        server, "snapd/diff", {"from": "latest"}, -31001, "from", "latest before any snapshot"
    )
    s1 = await snap(ctx, server)
    ctx.write("a.txt", "b\n")
    s2 = await snap(ctx, server)
    want = await ctx.call(server, "snapd/diff", {"from": s1["id"], "to": s2["id"]})
    for ref in (s1["id"][:4], s1["id"][:9].upper(), s1["id"].upper()):
        got = await ctx.call(server, "snapd/diff", {"from": ref, "to": "latest"})
        ctx.check(got == want, f"from={ref!r} does not resolve to {s1['id']}")
    for bad in (s1["id"][:3], "0" * 40, "not-an-id", "", "latest~2", "latest~x", "Latest"):
        await ctx.expect_error(server, "snapd/diff", {"from": bad}, -31001, "from")
        await ctx.expect_error(server, "snapd/diff", {"from": s1["id"], "to": bad}, -31001, "to")
    await ctx.expect_error(
        server, "snapd/hunks", {"from": "0" * 40, "path": "a.txt"}, -31001, "from"
    )
    for back, ref in (("latest~1", s1), ("latest~", s1), ("latest~0", s2)):
        got = await ctx.call(server, "snapd/diff", {"from": back, "to": s2["id"]})
        ctx.check(
            got == await ctx.call(server, "snapd/diff", {"from": ref["id"], "to": s2["id"]}),
            f"from={back!r} does not resolve to {ref['id']}",
        )


@case(CONVENTIONS, "snapshot names")
async def conventions_names(ctx: Ctx) -> None:
    """Labels name snapshots exactly and win over an id prefix they spell; a label two
    snapshots carry is ambiguous (-31001 listing them); ``latest~1`` names the one before."""
    ctx.write("a.txt", "a\n")
    server = await ctx.start()
    s1 = await snap(ctx, server, "turn 1")
    ctx.write("a.txt", "b\n")
    s2 = await snap(ctx, server, s1["id"][:6])  # a label that spells s1's id prefix
    ctx.write("a.txt", "c\n")
    s3 = await snap(ctx, server, "again")
    ctx.write("a.txt", "d\n")
    s4 = await snap(ctx, server, "again")

    async def names(name: str, want: dict[str, Any]) -> None:
        got = await ctx.call(server, "snapd/diff", {"from": name, "to": s4["id"]})
        expected = await ctx.call(server, "snapd/diff", {"from": want["id"], "to": s4["id"]})
        ctx.check(got == expected, f"from={name!r} does not name {want['id']}")

    await names("turn 1", s1)
    await names(s1["id"][:6], s2)  # the label wins over the prefix
    await names(s1["id"][:7], s1)  # a longer prefix is no label: the id prefix
    await names("latest~1", s3)
    await names("latest~3", s1)
    pinned = await ctx.call(server, "snapd/pin", {"id": "turn 1"})
    ctx.check(pinned.get("id") == s1["id"], f"pin by label: {pinned}")
    await ctx.expect_error(
        server, "snapd/diff", {"from": "turn"}, -31001, "from", "a partial label"
    )
    await ctx.expect_error(server, "snapd/diff", {"from": "Turn 1"}, -31001, "from", "label case")
    err = await ctx.expect_error(server, "snapd/diff", {"from": "again"}, -31001, "from")
    if err is not None:
        message = err.get("message", "")
        ctx.check(
            s3["id"][:12] in message and s4["id"][:12] in message,
            f"an ambiguous label's error does not list both snapshots: {message!r}",
        )


@case(CONVENTIONS, "ambiguous id prefix")
async def conventions_ambiguous_prefix(ctx: Ctx) -> None:
    """An id prefix two snapshots share gets -31001 whose message lists both (a second snapshot
    commit with the same 4-hex-digit prefix is written into the store as protocol.md's "Store
    layout" describes it)."""
    if not uses_placeholder(ctx, "store"):
        ctx.skip("the server command does not pass {store}")
    ctx.write("a.txt", "a\n")
    server = await ctx.start()
    s1 = await snap(ctx, server)
    twin = forge_twin(ctx.store, s1["id"], prefix=4)
    err = await ctx.expect_error(server, "snapd/diff", {"from": s1["id"][:4]}, -31001, "from")
    if err is not None:
        message = err.get("message", "")
        ctx.check(
            s1["id"][:12] in message and twin[:12] in message,
            f"an ambiguous prefix's error does not list both snapshots: {message!r}",
        )
    got = await ctx.call(server, "snapd/diff", {"from": s1["id"][:12], "to": s1["id"]})
    ctx.check(got.get("files") == [], "a longer, unique prefix does not resolve")


@case(CONVENTIONS, "paging params")
async def conventions_paging_params(ctx: Ctx) -> None:
    """A non-positive ``limit`` or ``maxBytes`` gets -32602 on every paged method."""
    server = await standard_world(ctx)
    for method in ctx.schema.paged():
        base = METHOD_SPECS[method].base if method in METHOD_SPECS else {}
        for name, value in (("limit", 0), ("limit", -1), ("maxBytes", 0), ("maxBytes", -5)):
            await ctx.expect_error(server, method, {**base, name: value}, -32602, name)
        page = await ctx.call(server, method, {**base, "maxBytes": 1, "limit": 1})
        ctx.check(
            "nextCursor" not in page or page[ctx.schema.methods[method]["pageItems"]],
            "empty non-final page",
        )


@case(CONVENTIONS, "sort order")
async def conventions_sort(ctx: Ctx) -> None:
    """``snapd/diff`` lists paths in byte order with directories as ``name/``."""
    ctx.write("keep", "k\n")
    server = await ctx.start()
    s0 = await snap(ctx, server)
    names = ["a.txt", "a/b", "a-b", "a0", "B", "é.txt", "z", "a/a/c", "ab"]
    for n in names:
        ctx.write(n, n + "\n")
    ctx.write(b"\xff.bin.txt", b"x\n")
    res = await ctx.call(server, "snapd/diff", {"from": s0["id"]})
    got = [f["path"] for f in res["files"]]
    expect = sorted([*names, "\udcff.bin.txt"], key=lambda p: p.encode("utf-8", "surrogateescape"))
    ctx.check(got == expect, f"diff order {got!r}, expected {expect!r}")


@case(CONVENTIONS, "modes")
async def conventions_modes(ctx: Ctx) -> None:
    """Modes are git modes: 33188 regular, 33261 executable, 40960 symlink."""
    ctx.write("keep", "k\n")
    server = await ctx.start()
    s0 = await snap(ctx, server)
    ctx.write("plain.txt", "p\n")
    exe = ctx.write("run.sh", "#!/bin/sh\n")
    exe.chmod(0o755)
    os.symlink("plain.txt", ctx.root / "link")
    files = by_path((await ctx.call(server, "snapd/diff", {"from": s0["id"]}))["files"])
    for path, mode, kind in (
        ("plain.txt", 33188, "file"),
        ("run.sh", 33261, "file"),
        ("link", 40960, "symlink"),
    ):
        f = files.get(path, {})
        ctx.check(f.get("newMode") == mode, f"{path}: newMode {f.get('newMode')}, expected {mode}")
        ctx.check(f.get("kind", "file") == kind, f"{path}: kind {f.get('kind', 'file')}")


@case(CONVENTIONS, "live side")
async def conventions_live(ctx: Ctx) -> None:
    """Without ``to`` the worktree as it is now is compared; no snapshot is recorded."""
    ctx.write("a.txt", "a\n")
    server = await ctx.start()
    s1 = await snap(ctx, server)
    ctx.write("a.txt", "a2\n")
    res = await ctx.call(server, "snapd/diff", {"from": s1["id"]})
    ctx.check([f["path"] for f in res["files"]] == ["a.txt"], f"live diff: {res['files']}")
    h = await ctx.call(server, "snapd/hunks", {"from": s1["id"], "path": "a.txt"})
    ctx.check([x["lines"] for x in h["hunks"]] == [["-a", "+a2"]], f"live hunks: {h['hunks']}")
    st = await ctx.call(server, "snapd/status", {})
    ctx.check(st.get("head") == s1["id"], "a live diff moved the head")
    listed = await ctx.call(server, "snapd/snapshots", {})
    ctx.check(len(listed["snapshots"]) == 1, "a live diff recorded a snapshot")
