"""The conformance cases, one or more per protocol.md section.

Generic cases come from ``protocol.schema.json`` (every method's params types, required params
and defaults; every paged method's paging laws; every nested type). Method-specific
behaviour lives in :data:`METHOD_SPECS`, which must have one entry per method in the schema,
and paging worlds in :data:`PAGING_SPECS`, one per paged method: a new method without a
conformance case fails the ``coverage`` case.

A module per protocol.md section: :mod:`.lifecycle`, :mod:`.options`, :mod:`.conventions`
(and :mod:`.paging`, its paging laws), the methods (:mod:`.snapshot` for ``snapd/snapshot``,
``snapd/snapshots`` and ``snapd/status``; :mod:`.diff`; :mod:`.hunks`; :mod:`.explain`;
:mod:`.restore`; :mod:`.revert`; :mod:`.upkeep` for ``snapd/pin``, ``snapd/gc``, ``snapd/stats`` and
``snapd/daemonStatus``),
:mod:`.types`, :mod:`.errors`, :mod:`.store` and :mod:`.progress`. Each registers its cases
with :func:`~tests.conformance.cases.base.case` and its method behaviour with
:func:`~tests.conformance.cases.base.method`; this module imports them all and builds the
catalogue, :func:`all_cases`, in protocol.md's order.
"""

from __future__ import annotations

from types import ModuleType

from tests.conformance.cases import (
    conventions,
    diff,
    errors,
    explain,
    hunks,
    lifecycle,
    options,
    paging,
    progress,
    restore,
    revert,
    snapshot,
    store,
    types,
    upkeep,
)
from tests.conformance.cases.base import (
    CONVENTIONS,
    ERRORS,
    LIFECYCLE,
    METHOD_SPECS,
    OPTIONS,
    PROGRESS,
    STATIC,
    STORE,
    TYPES,
    CaseFn,
    methods_section,
    standard_world,
)
from tests.conformance.cases.paging import PAGING_SPECS, paging_case
from tests.conformance.harness import Case, Ctx
from tests.conformance.schema import wrong_value

SECTION_MODULES: tuple[ModuleType, ...] = (
    lifecycle,
    options,
    conventions,
    paging,
    snapshot,
    diff,
    hunks,
    explain,
    restore,
    revert,
    upkeep,
    types,
    errors,
    store,
    progress,
)
"""The section modules in protocol.md's order (importing one registers its cases)."""

__all__ = ["METHOD_SPECS", "PAGING_SPECS", "all_cases"]


def params_case(method: str) -> CaseFn:
    """Generic checks of one method's params, from the schema."""

    async def run(ctx: Ctx) -> None:
        spec = METHOD_SPECS.get(method)
        if spec is None:
            ctx.fail(f"no conformance case for {method}: register one with @method (cases/)")
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
