"""What every case module shares: section names, the registries and small helpers.

Cases register themselves: :func:`case` for a case of a protocol.md section, :func:`method`
for a method's behaviour case (with its valid base params). :mod:`tests.conformance.cases`
imports every module and builds the catalogue.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tests.conformance.harness import Case, Ctx
from tests.conformance.lsp import Server

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
"""Cases registered by :func:`case`, in registration order."""


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


METHOD_SPECS: dict[str, MethodSpec] = {}
"""Every method in the schema needs an entry (checked by the ``coverage`` case)."""


def method(name: str, base: dict[str, Any], *, idempotent: bool) -> Callable[[CaseFn], CaseFn]:
    """Register a method's behaviour case and the valid params it is called with."""

    def deco(fn: CaseFn) -> CaseFn:
        METHOD_SPECS[name] = MethodSpec(base, idempotent, fn)
        return fn

    return deco
