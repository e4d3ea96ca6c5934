"""protocol.md, Errors: unknown methods and the shape of error objects."""

from __future__ import annotations

from tests.conformance.cases.base import ERRORS, case, standard_world
from tests.conformance.harness import Ctx


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
