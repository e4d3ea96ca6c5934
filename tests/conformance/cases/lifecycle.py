"""protocol.md, Transport and lifecycle: initialize, shutdown, exit, the store lock, framing."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from tests.conformance.cases.base import LIFECYCLE, METHOD_SPECS, case, standard_world
from tests.conformance.harness import Ctx
from tests.conformance.lsp import RpcError, encode, frame


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


@case(LIFECYCLE, "one writer per store")
async def one_writer_per_store(ctx: Ctx) -> None:
    """A second server on the same store shares the first's history, or gets -31004.

    A forwarding ``snapd --stdio`` joins the worktree's shared daemon, so the second client
    sees the first's snapshots; a private (``--standalone``) one cannot open a locked store and
    says who holds it (``data.holder``) until the first is gone.
    """
    server = await standard_world(ctx)
    first = await ctx.call(server, "snapd/snapshot", {"label": "first client"})
    second = await ctx.spawn(log=ctx.tmp / "second.log")
    try:
        await ctx.initialize(second)
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
        return
    listed = await ctx.call(second, "snapd/snapshots", {})
    ids = [s.get("id") for s in listed.get("snapshots", [])]
    ctx.check(
        first.get("id") in ids,
        f"a second client of the same store does not see the first's snapshot: {ids}",
    )


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
