"""The conformance cases, one or more per protocol.md section.

Generic cases come from ``protocol.schema.json`` (every method's params types, required params
and defaults; every paged method's paging laws; every nested type). Method-specific
behaviour lives in :data:`METHOD_SPECS`, which must have one entry per method in the schema,
and paging worlds in :data:`PAGING_SPECS`, one per paged method: a new method without a
conformance case fails the ``coverage`` case.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tests.conformance.apply import HunkError, apply_hunks, hunk_digest
from tests.conformance.harness import Case, Ctx, compact
from tests.conformance.lsp import RpcError, Server, encode, frame
from tests.conformance.schema import wrong_value

LIFECYCLE = "Transport and lifecycle"
OPTIONS = "Options"
CONVENTIONS = "Conventions"
TYPES = "Types"
ERRORS = "Errors"
STORE = "Store layout"
PROGRESS = "Progress and cancellation"
HEX40 = re.compile(r"^[0-9a-f]{40}$")
PAGING_PARAMS = ("cursor", "limit", "maxBytes")


def methods_section(method: str) -> str:
    """The report section of a method."""
    return f"Methods: {method}"


CaseFn = Callable[[Ctx], Awaitable[None]]
STATIC: list[Case] = []


def case(section: str, name: str) -> Callable[[CaseFn], CaseFn]:
    """Register a case that does not depend on the schema's method list."""

    def deco(fn: CaseFn) -> CaseFn:
        STATIC.append(Case(name, section, fn, (fn.__doc__ or "").strip()))
        return fn

    return deco


# -- helpers ----------------------------------------------------------------------------------


async def snap(ctx: Ctx, server: Server, label: str | None = None, **params: Any) -> Any:
    """Take a snapshot and return its result."""
    if label is not None:
        params["label"] = label
    return await ctx.call(server, "snapd/snapshot", params)


def by_path(files: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Diff entries by path."""
    return {f["path"]: f for f in files}


async def standard_world(ctx: Ctx, options: dict[str, Any] | None = None) -> Server:
    """``a.txt`` in one snapshot and changed since: every method's base params are valid."""
    ctx.write("a.txt", "one\ntwo\n")
    server = await ctx.start(options=options)
    await snap(ctx, server)
    ctx.write("a.txt", "one\n2\n")
    return server


def uses_placeholder(ctx: Ctx, name: str) -> bool:
    """Whether the server command passes ``{name}`` (so the suite knows where it points)."""
    return any("{" + name + "}" in t for t in ctx.config.server)


# -- method specs -------------------------------------------------------------------------------


@dataclass
class MethodSpec:
    """What the suite knows about one method beyond the schema."""

    base: dict[str, Any]
    """Valid params in :func:`standard_world`."""
    idempotent: bool
    """Calling it twice gives the same result (so defaults can be compared)."""
    check: CaseFn
    """The method's own behaviour."""


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


async def check_hunks(ctx: Ctx) -> None:
    """Exact hunks, context, no-newline flags, binary/skipped/unchanged files, live side."""
    lines = [f"{i}\n" for i in range(1, 21)]
    ctx.write("f.txt", "".join(lines))
    ctx.write("g.txt", "a\nb")
    ctx.write("same.txt", "same\n")
    ctx.write("bin.dat", b"\0a")
    ctx.write(".gitignore", "*.log\n")
    ctx.write("x.log", "1\n")
    server = await ctx.start()
    s1 = await snap(ctx, server)
    lines[9] = "X\n"
    ctx.write("f.txt", "".join(lines))
    ctx.write("g.txt", "a\nc")
    ctx.write("bin.dat", b"\0b")
    ctx.write("x.log", "2\n")
    s2 = await snap(ctx, server)
    base = {"from": s1["id"], "to": s2["id"]}
    r = await ctx.call(server, "snapd/hunks", {**base, "path": "f.txt"})
    expect = {
        "oldStart": 7,
        "oldLines": 7,
        "newStart": 7,
        "newLines": 7,
        "lines": [" 7", " 8", " 9", "-10", "+X", " 11", " 12", " 13"],
    }
    expect["digest"] = hunk_digest(expect)
    ctx.check(r["hunks"] == [expect], f"f.txt hunks (context 3): {r['hunks']}")
    r0 = await ctx.call(server, "snapd/hunks", {**base, "path": "f.txt", "context": 0})
    expect0 = {"oldStart": 10, "oldLines": 1, "newStart": 10, "newLines": 1, "lines": ["-10", "+X"]}
    expect0["digest"] = hunk_digest(expect0)
    ctx.check(r0["hunks"] == [expect0], f"f.txt hunks (context 0): {r0['hunks']}")
    await ctx.call(server, "snapd/hunks", {**base, "path": "f.txt", "context": 1000})
    for bad in (-1, 1001):
        await ctx.expect_error(
            server, "snapd/hunks", {**base, "path": "f.txt", "context": bad}, -32602, "context"
        )
    g = await ctx.call(server, "snapd/hunks", {**base, "path": "g.txt"})
    expect_g: dict[str, Any] = {
        "oldStart": 1,
        "oldLines": 2,
        "newStart": 1,
        "newLines": 2,
        "lines": [" a", "-b", "+c"],
        "noNewlineOld": True,
        "noNewlineNew": True,
    }
    expect_g["digest"] = hunk_digest(expect_g)
    ctx.check(g["hunks"] == [expect_g], f"g.txt (no final newline) hunks: {g['hunks']}")
    same = await ctx.call(server, "snapd/hunks", {**base, "path": "same.txt"})
    ctx.check(same["hunks"] == [] and set(same) == {"hunks"}, f"unchanged file: {same}")
    b = await ctx.call(server, "snapd/hunks", {**base, "path": "bin.dat"})
    ctx.check(b["hunks"] == [] and b.get("binary") is True, f"binary file: {b}")
    x = await ctx.call(server, "snapd/hunks", {**base, "path": "x.log"})
    ctx.check(
        x["hunks"] == [] and x.get("skipped", {}).get("rule") == "ignore-file", f"skipped: {x}"
    )
    ctx.write("f.txt", "".join(lines) + "21\n")
    live = await ctx.call(server, "snapd/hunks", {"from": s2["id"], "path": "f.txt", "context": 0})
    ctx.check([h["lines"] for h in live["hunks"]] == [["+21"]], f"live side hunks: {live['hunks']}")
    try:
        await ctx.call(server, "snapd/hunks", {"from": s1["id"], "path": ""})
        ctx.check(False, "hunks for the worktree root (path '') did not fail")
    except RpcError:
        pass  # any documented code (checked by ctx.call)


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


METHOD_SPECS: dict[str, MethodSpec] = {
    "snapd/pin": MethodSpec({"id": "latest"}, True, check_pin),
    "snapd/gc": MethodSpec({"dryRun": True}, False, check_gc),
    "snapd/stats": MethodSpec({}, True, check_stats),
    "snapd/restore": MethodSpec({"from": "latest", "dryRun": True}, True, check_restore),
    "snapd/snapshot": MethodSpec({}, False, check_snapshot),
    "snapd/snapshots": MethodSpec({}, True, check_snapshots),
    "snapd/status": MethodSpec({}, True, check_status),
    "snapd/diff": MethodSpec({"from": "latest"}, True, check_diff),
    "snapd/hunks": MethodSpec({"from": "latest", "path": "a.txt"}, True, check_hunks),
    "snapd/explain": MethodSpec({"path": "a.txt"}, True, check_explain),
}
"""Every method in the schema needs an entry (checked by the ``coverage`` case)."""


def params_case(method: str) -> CaseFn:
    """Generic checks of one method's params, from the schema."""

    async def run(ctx: Ctx) -> None:
        spec = METHOD_SPECS.get(method)
        if spec is None:
            ctx.fail(f"no conformance case for {method}: add it to METHOD_SPECS in cases.py")
        assert spec is not None
        server = await standard_world(ctx)
        base = dict(spec.base)
        await ctx.call(server, method, base)
        for f in ctx.schema.params(method):
            name = f["name"]
            if name == "cursor":
                continue  # cursors are checked by the paging cases
            bad = {**base, name: wrong_value(f["type"])}
            await ctx.expect_error(server, method, bad, -32602, name, f"{name}={bad[name]!r}")
            if f["required"]:
                missing = {k: v for k, v in base.items() if k != name}
                await ctx.expect_error(server, method, missing, -32602, name, f"without {name}")
            if "default" in f and spec.idempotent:
                implicit = await ctx.call(server, method, base)
                explicit = await ctx.call(server, method, {**base, name: f["default"]})
                ctx.check(
                    implicit == explicit,
                    f"{name}: sending the default {f['default']!r} differs from omitting it",
                )

    run.__doc__ = f"{method}: wrong JSON types and missing required params (-32602, data.field)"
    return run


# -- paging ------------------------------------------------------------------------------------


@dataclass
class World:
    """A worktree with several snapshots and live changes, for the paging laws."""

    server: Server
    ids: dict[str, str] = field(default_factory=dict)


async def paging_world(ctx: Ctx) -> World:
    """40 files, a long file with ~50 hunks, 10 snapshots, and live changes after them."""
    for i in range(40):
        ctx.write(f"d{i % 5}/f{i:02}.txt", f"file {i}\n")
    long = [f"row {k}\n" for k in range(400)]
    ctx.write("long.txt", "".join(long))
    ctx.write("other.txt", "other\n")
    server = await ctx.start()
    w = World(server)
    w.ids["s1"] = (await snap(ctx, server, "s1"))["id"]
    for i in range(40):
        if i % 8 == 0:
            os.unlink(ctx.root / f"d{i % 5}/f{i:02}.txt")
        else:
            ctx.write(f"d{i % 5}/f{i:02}.txt", f"file {i} changed\n")
    for i in range(5):
        ctx.write(f"d{i}/new{i}.txt", "new\n")
    for k in range(0, 400, 8):
        long[k] = f"row {k} changed\n"
    ctx.write("long.txt", "".join(long))
    ctx.write("other.txt", "other changed\n")
    w.ids["s2"] = (await snap(ctx, server, "s2"))["id"]
    for i in range(8):
        w.ids["last"] = (await snap(ctx, server, f"l{i}"))["id"]
    ctx.write("d0/f05.txt", "live\n")
    ctx.write("d1/f06.txt", "live\n")
    long[1] = "live 1\n"
    long[300] = "live 300\n"
    ctx.write("long.txt", "".join(long))
    return w


async def mutate(ctx: Ctx, w: World) -> None:
    """Change the worktree and take a snapshot (pages already started must not notice)."""
    ctx.write("d0/zzz-late.txt", "late\n")
    ctx.write("d1/f06.txt", "changed again\n")
    await snap(ctx, w.server, "late")


@dataclass
class PagingSpec:
    """How to page one method in a :class:`World`."""

    params: Callable[[World], dict[str, Any]]
    """Params of a multi-page query between fixed snapshots."""
    live: Callable[[World], dict[str, Any]]
    """Params of a multi-page query that resolves to something that later changes."""
    variants: Callable[[World], list[dict[str, Any]]]
    """Changes of selecting params: a cursor made for ``params`` is foreign to each."""
    pins: bool = True
    """protocol.md promises that the cursor pins what ``live`` resolved."""


PAGING_SPECS: dict[str, PagingSpec] = {
    "snapd/snapshots": PagingSpec(lambda w: {}, lambda w: {}, lambda w: []),
    "snapd/diff": PagingSpec(
        lambda w: {"from": w.ids["s1"], "to": w.ids["s2"]},
        lambda w: {"from": w.ids["s1"]},
        lambda w: [{"to": w.ids["last"]}, {"from": w.ids["s2"]}, {"paths": ["d1"]}],
    ),
    "snapd/hunks": PagingSpec(
        lambda w: {"from": w.ids["s1"], "to": w.ids["s2"], "path": "long.txt"},
        lambda w: {"from": w.ids["s1"], "path": "long.txt"},
        lambda w: [{"context": 1}, {"path": "other.txt"}, {"to": w.ids["last"]}],
    ),
}
"""Every paged method in the schema needs an entry (checked by the ``coverage`` case)."""
PAGING_SPECS["snapd/restore"] = PagingSpec(
    # Dry runs only (the default): the plan from a snapshot to the live worktree. Later pages
    # "list the same plan" (protocol.md), so the cursor pins it.
    lambda w: {"from": w.ids["s1"], "dryRun": True},
    lambda w: {"from": w.ids["s1"], "dryRun": True},
    lambda w: [
        {"from": w.ids["s2"]},
        {"paths": ["d1"]},
        {"force": ["d0/f05.txt"]},
        {"hunks": {"path": "long.txt", "digests": ["0" * 16]}},
    ],
)


def paging_case(method: str) -> CaseFn:
    """The paging laws for one paged method."""

    async def run(ctx: Ctx) -> None:
        spec = PAGING_SPECS.get(method)
        if spec is None:
            ctx.fail(f"no paging world for {method}: add it to PAGING_SPECS in cases.py")
        assert spec is not None
        w = await paging_world(ctx)
        server = w.server
        params = spec.params(w)
        whole, pages = await ctx.pages(server, method, params, limit=10_000)
        ctx.require(len(whole) >= 5, f"{method}: the paging world has only {len(whole)} items")
        ctx.check(len(pages) == 1, f"{method}: limit=10000 took {len(pages)} pages")
        for limit, max_bytes in [
            (1, None),
            (2, None),
            (3, None),
            (7, None),
            (None, 1),
            (None, None),
        ]:
            got, _ = await ctx.pages(server, method, params, limit=limit, max_bytes=max_bytes)
            ctx.check(
                got == whole,
                f"{method}: pages with limit={limit} maxBytes={max_bytes} do not concatenate "
                f"to the whole ({len(got)} vs {len(whole)} items)",
            )
        key = ctx.schema.methods[method]["pageItems"]
        first = await ctx.call(server, method, {**params, "limit": 2})
        cursor = first.get("nextCursor")
        ctx.require(isinstance(cursor, str) and cursor, f"{method}: no nextCursor after 2 items")
        again = await ctx.call(server, method, {**params, "limit": 2})
        ctx.check(again.get("nextCursor") == cursor, f"{method}: the same page gave another cursor")
        p2 = await ctx.call(server, method, {**params, "limit": 2, "cursor": cursor})
        p2b = await ctx.call(server, method, {**params, "limit": 2, "cursor": cursor})
        ctx.check(p2 == p2b, f"{method}: the same cursor gave different pages")
        ctx.check(p2[key] == whole[2:4], f"{method}: page 2 is not items 2..3 of the whole")

        # A cursor pins what the query resolved: later changes do not leak into its pages.
        live = spec.live(w)
        live_whole, _ = await ctx.pages(server, method, live, limit=10_000)
        live_first = await ctx.call(server, method, {**live, "limit": 1})
        live_cursor = live_first.get("nextCursor")
        ctx.require(isinstance(live_cursor, str), f"{method}: live query fits one page")
        await mutate(ctx, w)
        if spec.pins:
            rest, _ = await ctx.pages(server, method, {**live, "cursor": live_cursor}, limit=3)
            ctx.check(
                live_first[key] + rest == live_whole,
                f"{method}: pages after a new snapshot/worktree change are not the pinned query's",
            )

        # Bad cursors: malformed, another method's, other selecting params, another server's.
        bad_code = ctx.schema.code("BadCursor")
        for bad in ("garbage!", "", cursor[::-1], cursor[: len(cursor) // 2]):
            await ctx.expect_error(
                server, method, {**params, "cursor": bad}, bad_code, "cursor", f"cursor={bad!r}"
            )
        for other in sorted(set(PAGING_SPECS) & set(ctx.schema.paged()) - {method}):
            page = await ctx.call(server, other, {**PAGING_SPECS[other].params(w), "limit": 1})
            foreign = page.get("nextCursor")
            if isinstance(foreign, str):
                await ctx.expect_error(
                    server,
                    method,
                    {**params, "cursor": foreign},
                    bad_code,
                    "cursor",
                    f"with a cursor of {other}",
                )
        for variant in spec.variants(w):
            await ctx.expect_error(
                server,
                method,
                {**params, **variant, "cursor": cursor},
                bad_code,
                "cursor",
                f"cursor of another query {variant}",
            )
        # Another server (its own worktree and store) never made this cursor: stale/foreign.
        root2, store2, log2 = ctx.paths("other")
        for i in range(3):
            ctx.write(f"d{i}/f{i:02}.txt", f"elsewhere {i}\n", root=root2)
        ctx.write("long.txt", "elsewhere\n", root=root2)
        elsewhere = await ctx.spawn(root2, store2, log2)
        await ctx.initialize(elsewhere, root2)
        for i in range(2):
            await snap(ctx, elsewhere, f"o{i}")
        ids = {"s1": (await snap(ctx, elsewhere, "o2"))["id"]}
        ctx.write("d0/f00.txt", "elsewhere, changed\n", root=root2)
        translated = {k: ids["s1"] if v in w.ids.values() else v for k, v in live.items()}
        await ctx.expect_error(
            elsewhere,
            method,
            {**translated, "cursor": live_cursor},
            bad_code,
            "cursor",
            "with another server's cursor",
        )

    run.__doc__ = (
        f"{method}: any page size gives the same items; cursors are stable and pin the query; "
        "malformed, foreign and stale cursors get BadCursor"
    )
    return run


# -- transport and lifecycle ----------------------------------------------------------------------


@case(LIFECYCLE, "before initialize")
async def before_initialize(ctx: Ctx) -> None:
    """Every method before ``initialize`` gets -32002; initialize still works after."""
    server = await ctx.spawn()
    for method in sorted(ctx.schema.methods):
        resp = await server.call(
            method, METHOD_SPECS[method].base if method in METHOD_SPECS else {}
        )
        ctx.check(
            resp.get("error", {}).get("code") == -32002,
            f"{method} before initialize: {resp.get('error') or 'a result'}",
        )
    await ctx.initialize(server)
    await ctx.call(server, "snapd/status", {})


@case(LIFECYCLE, "initialize")
async def initialize_result(ctx: Ctx) -> None:
    """``initialize`` advertises the protocol version and the method list, no document sync."""
    server = await ctx.spawn()
    result = await ctx.initialize(server)
    caps = result.get("capabilities", {})
    snapd = caps.get("experimental", {}).get("snapd", {}) if isinstance(caps, dict) else {}
    ctx.check(
        snapd.get("protocolVersion") == ctx.schema.version,
        f"capabilities.experimental.snapd.protocolVersion={snapd.get('protocolVersion')!r}, "
        f"schema says {ctx.schema.version!r}",
    )
    ctx.check(
        snapd.get("methods") == sorted(ctx.schema.methods),
        f"capabilities.experimental.snapd.methods={snapd.get('methods')!r}, "
        f"schema lists {sorted(ctx.schema.methods)}",
    )
    sync = caps.get("textDocumentSync", 0) if isinstance(caps, dict) else 0
    ctx.check(
        sync in (0, None) or (isinstance(sync, dict) and not sync.get("openClose")),
        f"textDocumentSync={sync!r}: a snapd server must not ask for editor buffers",
    )
    resp = await server.call("snapd/status", {}, msg_id="string-id")
    ctx.check(resp.get("id") == "string-id", "a string request id is not echoed")


@case(LIFECYCLE, "shutdown then exit")
async def shutdown_exit(ctx: Ctx) -> None:
    """After ``shutdown`` every request gets -32600; ``exit`` then ends with code 0."""
    server = await standard_world(ctx)
    resp = await server.call("shutdown", None, omit_params=True)
    ctx.check("result" in resp and resp["result"] is None, f"shutdown response: {resp}")
    for method in [*sorted(ctx.schema.methods), "snapd/no-such-method"]:
        params = METHOD_SPECS[method].base if method in METHOD_SPECS else {}
        try:
            resp = await server.wait(await server.start(method, params), within=5)
        except TimeoutError:
            ctx.check(False, f"{method} after shutdown: no answer within 5 s (expected -32600)")
            continue
        ctx.check(
            resp.get("error", {}).get("code") == -32600,
            f"{method} after shutdown: {resp.get('error') or 'a result'}",
        )
    await server.notify("exit", None)
    code = await server.wait_exit()
    ctx.check(code == 0, f"exit after shutdown: exit code {code}, expected 0")


@case(LIFECYCLE, "shutdown twice")
async def shutdown_twice(ctx: Ctx) -> None:
    """A second ``shutdown`` is a request after ``shutdown``: it gets -32600 too."""
    server = await standard_world(ctx)
    await server.call("shutdown", None, omit_params=True)
    try:
        resp = await server.wait(await server.start("shutdown", None, omit_params=True), 5)
    except TimeoutError:
        ctx.fail("shutdown after shutdown: no answer within 5 s (expected -32600)")
    code = resp.get("error", {}).get("code")
    ctx.check(code == -32600, f"shutdown after shutdown: {resp.get('error') or resp}")


@case(LIFECYCLE, "exit without shutdown")
async def exit_without_shutdown(ctx: Ctx) -> None:
    """``exit`` without ``shutdown`` ends the process with code 1."""
    server = await standard_world(ctx)
    await server.notify("exit", None)
    code = await server.wait_exit()
    ctx.check(code == 1, f"exit without shutdown: exit code {code}, expected 1")


@case(LIFECYCLE, "EOF on stdin")
async def eof_on_stdin(ctx: Ctx) -> None:
    """EOF on stdin ends the process."""
    server = await standard_world(ctx)
    await server.close_stdin()
    code = await server.wait_exit()
    ctx.check(code is not None, "the server did not exit after EOF on stdin")


@case(LIFECYCLE, "store locked")
async def store_locked(ctx: Ctx) -> None:
    """A second server on the same store gets -31004 with ``data.holder``; then it is freed."""
    server = await standard_world(ctx)
    second = await ctx.spawn(log=ctx.tmp / "second.log")
    try:
        await ctx.initialize(second)
        ctx.check(False, "a second server on the same store initialized")
    except RpcError as exc:
        ctx.check(exc.code == -31004, f"second server: error {exc.code}, expected -31004")
        ctx.check(
            isinstance(exc.data, dict) and exc.data.get("holder"), "-31004 without data.holder"
        )
    await server.call("shutdown", None, omit_params=True)
    await server.notify("exit", None)
    await server.wait_exit()
    third = await ctx.spawn(log=ctx.tmp / "third.log")
    await ctx.initialize(third)
    await ctx.call(third, "snapd/status", {})


def without_root(ctx: Ctx) -> list[str]:
    """The server command without ``--root {root}`` (skips the case when it has none)."""
    tokens = ctx.config.server
    for i in range(len(tokens) - 1):
        if tokens[i] == "--root" and tokens[i + 1] == "{root}":
            return tokens[:i] + tokens[i + 2 :]
    for i, t in enumerate(tokens):
        if t == "--root={root}":
            return tokens[:i] + tokens[i + 1 :]
    ctx.skip("the server command has no `--root {root}` to leave out")
    raise AssertionError


@case(LIFECYCLE, "worktree from initialize")
async def worktree_from_initialize(ctx: Ctx) -> None:
    """Without ``--root``: rootUri, rootPath, workspaceFolders[0]; none of them: -31006."""
    template = without_root(ctx)
    ctx.write("a.txt", "a\n")
    attempts: list[dict[str, Any]] = [
        {"rootUri": ctx.root.resolve().as_uri()},
        {"rootUri": None, "rootPath": str(ctx.root.resolve())},
        {
            "rootUri": None,
            "workspaceFolders": [{"uri": ctx.root.resolve().as_uri(), "name": "w"}],
        },
    ]
    for n, extra in enumerate(attempts):
        store = ctx.tmp / f"store{n}"
        server = await ctx.spawn(store=store, log=ctx.tmp / f"{n}.log", template=template)
        await ctx.initialize(server, **extra)
        st = await ctx.call(server, "snapd/status", {})
        ctx.check(
            os.path.samefile(st["root"], ctx.root), f"{list(extra)[-1]}: root is {st['root']}"
        )
    server = await ctx.spawn(store=ctx.tmp / "none", log=ctx.tmp / "none.log", template=template)
    resp = await server.call("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
    ctx.check(
        resp.get("error", {}).get("code") == -31006,
        f"initialize without a worktree: {resp.get('error') or 'a result'}",
    )


@case(LIFECYCLE, "framing")
async def framing(ctx: Ctx) -> None:
    """Content-Type, bare LF headers, bad headers/JSON/batches (-32700/-32600, id null)."""
    server = await standard_world(ctx)
    body = encode({"jsonrpc": "2.0", "id": "ct", "method": "snapd/status", "params": {}})
    fut = server.pending["ct"] = asyncio.get_running_loop().create_future()
    await server.send_raw(
        b"Content-Length: %d\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n"
        % len(body)
        + body
    )
    ctx.check("result" in await server.wait(fut), "a frame with Content-Type is not served")
    body = encode({"jsonrpc": "2.0", "id": "lf", "method": "snapd/status", "params": {}})
    fut = server.pending["lf"] = asyncio.get_running_loop().create_future()
    await server.send_raw(b"Content-Length: %d\n\n" % len(body) + body)
    ctx.check("result" in await server.wait(fut), "a frame with bare LF headers is not served")
    bad_frames = [
        ("body that is not JSON", frame(b"{oops"), -32700),
        ("bad Content-Length", b"Content-Length: abc\r\n\r\n", -32700),
        ("malformed header line", b"X-Nonsense\r\n\r\n", -32700),
        ("header line over 8192 bytes", b"X-Long: " + b"a" * 9000 + b"\r\n\r\n", -32700),
        ("batch", frame(encode([{"jsonrpc": "2.0", "id": 5, "method": "snapd/status"}])), -32600),
        ("a number", frame(b"42"), -32600),
        ("a string", frame(b'"x"'), -32600),
    ]
    for what, data, code in bad_frames:
        await server.send_raw(data)
        try:
            msg = await server.next_orphan(within=10)
        except TimeoutError:
            ctx.check(False, f"{what}: no answer")
            continue
        err = msg.get("error", {})
        ctx.check(err.get("code") == code, f"{what}: got {err or msg}, expected {code}")
        ctx.check("id" in msg and msg["id"] is None, f"{what}: the error's id is not null")
    st = await ctx.call(server, "snapd/status", {})
    ctx.check("root" in st, "the server stopped serving after bad frames")


@case(LIFECYCLE, "header block without Content-Length")
async def missing_content_length(ctx: Ctx) -> None:
    """Well-formed headers without ``Content-Length``: -32700 (id null); serving goes on."""
    server = await standard_world(ctx)
    await server.send_raw(b"Content-Type: application/vscode-jsonrpc\r\n\r\n")
    try:
        msg = await server.next_orphan(within=5)
    except TimeoutError:
        ctx.fail("a header block without Content-Length got no answer within 5 s")
    ctx.check(msg.get("error", {}).get("code") == -32700, f"answer: {msg}")
    ctx.check(msg.get("id", 0) is None, "the error's id is not null")
    await ctx.call(server, "snapd/status", {})


@case(LIFECYCLE, "frame too large")
async def frame_too_large(ctx: Ctx) -> None:
    """A frame over ``maxFrameBytes`` gets -31005 (id null, data.limit); serving goes on."""
    limit = ctx.schema.options["maxFrameBytes"]["default"]
    server = await standard_world(ctx)
    await server.send_raw(b"Content-Length: %d\r\n\r\n" % (limit + 1) + b" " * (limit + 1))
    msg = await server.next_orphan()
    err = msg.get("error", {})
    ctx.check(err.get("code") == -31005, f"oversized frame: {err or msg}")
    ctx.check(msg.get("id", 0) is None, "oversized frame: id is not null")
    ctx.check((err.get("data") or {}).get("limit") == limit, f"data.limit: {err.get('data')}")
    await ctx.call(server, "snapd/status", {})


@case(OPTIONS, "maxFrameBytes")
async def option_max_frame(ctx: Ctx) -> None:
    """``maxFrameBytes`` from ``initializationOptions`` bounds later frames (-31005)."""
    ctx.write("a.txt", "a\n")
    small = await ctx.start(options={"maxFrameBytes": 4096})
    req = {"jsonrpc": "2.0", "id": "big", "method": "snapd/explain", "params": {"path": "x" * 5000}}
    fut = small.pending["big"] = asyncio.get_running_loop().create_future()
    await small.send(req)
    orphan = asyncio.ensure_future(small.next_orphan(10))
    done, pending = await asyncio.wait({fut, orphan}, return_when="FIRST_COMPLETED")
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    answer = next(iter(done)).result()
    err = answer.get("error", {})
    ctx.check(
        err.get("code") == -31005 and (err.get("data") or {}).get("limit") == 4096,
        "maxFrameBytes=4096 from initializationOptions: a 5000-byte frame got "
        f"{compact(err) if err else 'a result'} instead of -31005 with data.limit 4096",
    )
    await ctx.call(small, "snapd/status", {})


# -- options --------------------------------------------------------------------------------------


@case(OPTIONS, "every option with its default")
async def options_defaults(ctx: Ctx) -> None:
    """``initializationOptions`` with every documented option at its default is accepted."""
    options = {k: v["default"] for k, v in ctx.schema.options.items()}
    ctx.write("a.txt", "a\n")
    server = await ctx.start(options=options)
    st = await ctx.call(server, "snapd/status", {})
    ctx.check(st["contentLimit"] == options["contentLimit"], "contentLimit")


@case(OPTIONS, "bad options")
async def options_bad(ctx: Ctx) -> None:
    """Unknown keys and wrong types or values get -32602 with data.field=initializationOptions."""
    ctx.write("a.txt", "a\n")
    bad: list[dict[str, Any]] = [{"noSuchOption": 1}, {"disabledRules": ["no-such-rule"]}]
    seen: set[str] = set()
    for name, opt in ctx.schema.options.items():
        kind = json.dumps(opt["type"])
        if kind not in seen:  # one option of each type
            seen.add(kind)
            bad.append({name: wrong_value(opt["type"])})
            if opt["type"].get("type") in ("integer", "number"):
                bad.append({name: 0})
    for n, options in enumerate(bad):
        store = ctx.tmp / f"store{n}"
        server = await ctx.spawn(store=store, log=ctx.tmp / f"{n}.log")
        resp = await server.call(
            "initialize",
            {
                "processId": None,
                "rootUri": ctx.root.resolve().as_uri(),
                "capabilities": {},
                "initializationOptions": options,
            },
        )
        err = resp.get("error", {})
        ctx.check(
            err.get("code") == -32602, f"initializationOptions {options}: {err or 'accepted'}"
        )
        ctx.check(
            (err.get("data") or {}).get("field") == "initializationOptions",
            f"initializationOptions {options}: data.field={(err.get('data') or {}).get('field')!r}",
        )
        await server.kill()


@case(OPTIONS, "config file and precedence")
async def options_config_file(ctx: Ctx) -> None:
    """``.snapd.toml`` sets options; ``initializationOptions`` win over it; options take effect."""
    ctx.write(".snapd.toml", "contentLimit = 1000\n")
    ctx.write("big.txt", "x" * 1500)
    server = await ctx.start()
    st = await ctx.call(server, "snapd/status", {})
    ctx.check(
        st["contentLimit"] == 1000, f".snapd.toml contentLimit: status says {st['contentLimit']}"
    )
    ex = await ctx.call(server, "snapd/explain", {"path": "big.txt"})
    ctx.check((ex["outcome"], ex["rule"]) == ("skipped", "size-limit"), f"size limit: {ex}")
    s = await snap(ctx, server)
    ctx.check(s.get("rules") == {"size-limit": 1}, f"snapshot rules: {s.get('rules')}")
    await server.kill()
    server = await ctx.spawn(store=ctx.tmp / "s2", log=ctx.tmp / "2.log")
    await ctx.initialize(server, options={"contentLimit": 2000})
    st = await ctx.call(server, "snapd/status", {})
    ctx.check(st["contentLimit"] == 2000, "initializationOptions do not win over .snapd.toml")
    ctx.write(".snapd.toml", "noSuchKey = 1\n")
    server = await ctx.spawn(store=ctx.tmp / "s3", log=ctx.tmp / "3.log")
    try:
        await ctx.initialize(server)
        ctx.check(False, "an unknown key in .snapd.toml was accepted")
    except RpcError as exc:
        ctx.check(exc.code == -32602, f"unknown .snapd.toml key: error {exc.code}")


@case(OPTIONS, "page options")
async def options_paging(ctx: Ctx) -> None:
    """``pageLimit`` is the default page size and ``limit`` is lowered to ``maxPageLimit``."""
    ctx.write("a.txt", "a\n")
    server = await ctx.start(options={"pageLimit": 1, "maxPageLimit": 2})
    for i in range(4):
        await snap(ctx, server, f"s{i}")
    one = await ctx.call(server, "snapd/snapshots", {})
    ctx.check(len(one["snapshots"]) == 1, f"pageLimit=1: {len(one['snapshots'])} items")
    two = await ctx.call(server, "snapd/snapshots", {"limit": 100})
    ctx.check(len(two["snapshots"]) == 2, f"maxPageLimit=2: {len(two['snapshots'])} items")


# -- conventions ----------------------------------------------------------------------------------


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
    """Full ids, prefixes (4+ hex, any case) and ``latest``; anything else gets -31001."""
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
    for bad in (s1["id"][:3], "0" * 40, "not-an-id", "", "latest~1"):
        await ctx.expect_error(server, "snapd/diff", {"from": bad}, -31001, "from")
        await ctx.expect_error(server, "snapd/diff", {"from": s1["id"], "to": bad}, -31001, "to")
    await ctx.expect_error(
        server, "snapd/hunks", {"from": "0" * 40, "path": "a.txt"}, -31001, "from"
    )


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


# -- types, errors, store -------------------------------------------------------------------------


@case(TYPES, "every type in results")
async def types_seen(ctx: Ctx) -> None:
    """Results containing every nested type validate (ignored, generated, binary files)."""
    ctx.write(".gitignore", "*.log\n")
    ctx.write("a.txt", "a\n")
    server = await ctx.start()
    s1 = await snap(ctx, server)
    ctx.write("x.log", "log\n")
    ctx.write("gen.go", "// Code generated by protoc-gen-go. DO NOT EDIT.\npackage x\n")
    ctx.write("package-lock.json", '{"lockfileVersion": 3}\n')
    ctx.write("a.txt", "b\n")
    s2 = await snap(ctx, server)
    await ctx.call(server, "snapd/diff", {"from": s1["id"], "to": s2["id"]})
    await ctx.call(server, "snapd/hunks", {"from": s1["id"], "to": s2["id"], "path": "a.txt"})
    await ctx.call(server, "snapd/hunks", {"from": s1["id"], "to": s2["id"], "path": "gen.go"})
    await ctx.call(server, "snapd/snapshots", {})
    ctx.write("a.txt", "c\n")
    for method in sorted(ctx.schema.methods):
        if method in METHOD_SPECS and METHOD_SPECS[method].idempotent:
            await ctx.call(server, method, METHOD_SPECS[method].base)
        elif method not in METHOD_SPECS:
            ctx.note(f"{method}: no known params to exercise its result types")
    missing = sorted(ctx.schema.result_types() - ctx.types_seen)
    ctx.check(not missing, f"types never seen in a result: {missing}")


@case(ERRORS, "error objects")
async def errors_objects(ctx: Ctx) -> None:
    """Unknown methods get -32601; error objects have an integer code and a message."""
    server = await standard_world(ctx)
    resp = await server.call("snapd/no-such-method", {}, msg_id=77)
    ctx.check(resp.get("id") == 77, "error response does not echo the id")
    ctx.check(resp.get("error", {}).get("code") == -32601, f"unknown method: {resp}")
    ctx.check_error("snapd/no-such-method", resp)
    resp = await server.call("snapd/diff", {"from": 7})
    err = resp.get("error", {})
    ctx.check(
        isinstance(err.get("data"), dict) and isinstance(err["data"].get("errors"), list),
        f"-32602 from a type check has no data.errors list: {err}",
    )


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


# -- progress and cancellation --------------------------------------------------------------------


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


# -- hunk round trip ------------------------------------------------------------------------------

ROUND_TRIPS: list[tuple[str, bytes, bytes]] = [
    ("add final newline", b"a\nb", b"a\nb\n"),
    ("drop final newline", b"a\nb\n", b"a\nb"),
    ("no final newline, both", b"x\ny", b"x\nz"),
    ("CRLF", b"one\r\ntwo\r\nthree\r\n", b"one\r\n2\r\nthree\r\n"),
    ("CRLF to LF", b"a\r\nb\r\n", b"a\nb\n"),
    ("lone CR", b"a\rb\n", b"a\rc\n"),
    ("from empty", b"", b"new\nlines\n"),
    ("to empty", b"old\nlines\n", b""),
    ("empty lines", b"\n\n\n", b"\n\nx\n\n"),
    ("non-UTF-8", b"caf\xe9\n\xff\xfe\n", b"caf\xe9!\n\xff\n\x80\n"),
    ("mixed UTF-8", "é ü ✓\n".encode(), "é ü ✗\n".encode() + b"\xc3\n"),
    ("only a newline", b"\n", b""),
    (
        "big change",
        b"".join(b"%d\n" % i for i in range(3000)),
        b"".join(b"%d!\n" % i for i in range(3000)),
    ),
]


async def hunks_of(ctx: Ctx, server: Server, old: bytes, new: bytes, context: int) -> list[Any]:
    """All hunks (every page) of ``f.txt`` from ``old`` (a snapshot) to ``new`` (live)."""
    ctx.write("f.txt", old)
    s = await snap(ctx, server, "rt")
    ctx.write("f.txt", new)
    hunks, _ = await ctx.pages(
        server, "snapd/hunks", {"from": s["id"], "path": "f.txt", "context": context}
    )
    return hunks


def round_trip_error(old: bytes, new: bytes, hunks: list[Any]) -> str | None:
    """Why the hunks do not rebuild ``new`` from ``old`` (None when they do)."""
    try:
        got = apply_hunks(old, hunks)
    except HunkError as exc:
        return f"{exc} (old={old[:60]!r} new={new[:60]!r} hunks={str(hunks)[:300]})"
    if got != new:
        return f"applied hunks give {got[:60]!r}, expected {new[:60]!r}"
    return None


@case(methods_section("snapd/hunks"), "hunk round trip: edge cases")
async def round_trip_fixed(ctx: Ctx) -> None:
    """No final newline, CRLF, empty and non-UTF-8 content: applied hunks rebuild the new side."""
    ctx.write("keep", "k\n")
    server = await ctx.start()
    for name, old, new in ROUND_TRIPS:
        for context in (0, 3):
            err = round_trip_error(old, new, await hunks_of(ctx, server, old, new, context))
            ctx.check(err is None, f"{name} (context {context}): {err}")


@case(methods_section("snapd/hunks"), "hunk round trip: streamed big files")
async def round_trip_streamed(ctx: Ctx) -> None:
    """Sides over ``diffMaxBytes`` are streamed through ``diffWindowBytes``: hunks still rebuild
    the new side, pages of any size concatenate, and a split change says ``window``."""
    ctx.write("keep", "k\n")
    server = await ctx.start(options={"diffMaxBytes": 64, "diffWindowBytes": 512})
    for name, old, new in ROUND_TRIPS:
        for context in (0, 3):
            err = round_trip_error(old, new, await hunks_of(ctx, server, old, new, context))
            ctx.check(err is None, f"{name} (context {context}): {err}")
    old = b"".join(b"row %d\n" % i for i in range(2000))
    new = b"".join(b"row %d%s\n" % (i, b"!" if i % 97 == 0 else b"") for i in range(2000))
    ctx.write("f.txt", old)
    s = await snap(ctx, server, "big")
    ctx.write("f.txt", new)
    params = {"from": s["id"], "path": "f.txt"}
    whole, pages = await ctx.pages(server, "snapd/hunks", params)
    ctx.check(round_trip_error(old, new, whole) is None, "streamed sparse edits do not apply")
    ctx.check(len(whole) == len(range(0, 2000, 97)), f"{len(whole)} hunks for 21 edited rows")
    ctx.check(not any(p.get("truncated") for p in pages), "sparse edits said truncated")
    for limit in (1, 4):
        paged, _ = await ctx.pages(server, "snapd/hunks", params, limit=limit)
        ctx.check(paged == whole, f"limit {limit}: pages do not concatenate to the whole")
    rewritten = b"".join(b"new %d\n" % i for i in range(400)) + old[-2000:]
    ctx.write("f.txt", rewritten)
    hunks, pages = await ctx.pages(server, "snapd/hunks", params, limit=3)
    ctx.check(round_trip_error(old, rewritten, hunks) is None, "a split change does not apply")
    reasons = {p.get("truncatedReason") for p in pages if p.get("truncated")}
    ctx.check(reasons == {"window"}, f"a change over the window: truncatedReason {reasons}")


@case(methods_section("snapd/hunks"), "hunk round trip: generated edits")
async def round_trip_property(ctx: Ctx) -> None:
    """Hypothesis-generated edit scripts: applied hunks always rebuild the new content."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    line = st.one_of(
        st.sampled_from([b"", b"a", b"b", b"same", b"x\r", b"\xff\xfe", "é".encode(), b"\t  "]),
        st.binary(max_size=10).filter(lambda b: b"\n" not in b and b"\0" not in b),
    )
    text = st.builds(
        lambda lines, final: b"\n".join(lines) + (b"\n" if final and lines else b""),
        st.lists(line, max_size=30),
        st.booleans(),
    )

    @st.composite
    def edits(draw: st.DrawFn) -> tuple[bytes, bytes]:
        old = draw(text)
        lines = old.split(b"\n")
        ops = draw(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 40), line), max_size=6))
        for op, at, new_line in ops:
            at = at % (len(lines) + 1)
            if op == 0:
                lines.insert(at, new_line)
            elif op == 1 and at < len(lines):
                del lines[at]
            elif at < len(lines):
                lines[at] = new_line
        return old, b"\n".join(lines)

    ctx.write("keep", "k\n")
    server = await ctx.start()
    loop = asyncio.get_running_loop()
    failures: list[str] = []

    @settings(
        max_examples=ctx.config.examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(pair=st.one_of(edits(), st.tuples(text, text)), context=st.integers(0, 4))
    def prop(pair: tuple[bytes, bytes], context: int) -> None:
        old, new = pair
        hunks = asyncio.run_coroutine_threadsafe(
            hunks_of(ctx, server, old, new, context), loop
        ).result(60)
        err = round_trip_error(old, new, hunks)
        if err is not None:
            failures.append(err)
        assert err is None, err

    try:
        await asyncio.to_thread(prop)
    except AssertionError:
        pass
    ctx.check(not failures, f"generated edit not rebuilt: {failures[-1] if failures else ''}")


# -- the catalogue ------------------------------------------------------------------------------


def all_cases(schema_methods: list[str], paged: list[str]) -> list[Case]:
    """Every case: the static ones plus one params/behaviour case per method and paging law."""

    async def coverage(ctx: Ctx) -> None:
        missing = sorted(set(schema_methods) - set(METHOD_SPECS))
        extra = sorted(set(METHOD_SPECS) - set(schema_methods))
        ctx.check(not missing, f"schema methods without a conformance case: {missing}")
        ctx.check(not extra, f"conformance cases for methods the schema does not list: {extra}")
        nopage = sorted(set(paged) - set(PAGING_SPECS))
        ctx.check(not nopage, f"paged methods without a paging world: {nopage}")

    cases = [Case("coverage", "Methods", coverage, "every schema method has a conformance case")]
    cases += STATIC[:]
    for method in sorted(schema_methods):
        section = methods_section(method)
        fn = params_case(method)
        cases.append(Case(f"{method} params", section, fn, fn.__doc__ or ""))
        spec = METHOD_SPECS.get(method)
        if spec is not None:
            cases.append(Case(f"{method} behaviour", section, spec.check, spec.check.__doc__ or ""))
    for method in paged:
        fn = paging_case(method)
        cases.append(Case(f"{method} paging", CONVENTIONS, fn, fn.__doc__ or ""))
    order = (
        [LIFECYCLE, OPTIONS, CONVENTIONS, "Methods"]
        + [methods_section(m) for m in sorted(schema_methods)]
        + [TYPES, ERRORS, STORE, PROGRESS]
    )
    rank = {s: i for i, s in enumerate(order)}
    return sorted(cases, key=lambda c: rank.get(c.section, len(order)))
