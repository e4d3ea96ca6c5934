"""protocol.md, Options: ``initializationOptions``, ``.snapd.toml`` and their checks."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.conformance.cases.base import OPTIONS, case, snap
from tests.conformance.harness import Ctx, compact
from tests.conformance.lsp import RpcError
from tests.conformance.schema import wrong_value


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
