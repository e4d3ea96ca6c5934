"""protocol.md, Conventions (paging): the paging laws, for every paged method."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.conformance.cases.base import CaseFn, snap
from tests.conformance.harness import Ctx
from tests.conformance.lsp import Server


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
            ctx.fail(f"no paging world for {method}: add it to PAGING_SPECS in cases/paging.py")
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


PAGING_SPECS["snapd/revert"] = PagingSpec(
    # The step s1 -> s2 reverted from the live worktree (dry runs): the cursor pins the plan.
    lambda w: {"from": w.ids["s1"], "to": w.ids["s2"]},
    lambda w: {"from": w.ids["s1"], "to": w.ids["s2"]},
    lambda w: [
        {"to": w.ids["last"]},
        {"from": w.ids["s2"]},
        {"paths": ["d1"]},
        {"force": ["d0/f05.txt"]},
    ],
)
