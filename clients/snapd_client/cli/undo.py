"""``snapd undo [SNAPSHOT] [--session S] [--apply] [-- PATHS]``: take one step back out.

A step is a snapshot and its predecessor: the snapshot's ``parent``, or with ``--session S``
the previous snapshot of session S (``snapd/snapshots`` with ``session``). The plan
(``revert``, ``merge``, ``conflict`` or ``keep`` per file the step changed) is printed; only
``--apply`` applies it, with the plan's token, so what is applied is what was printed.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from snapd import protocol
from snapd_client._errors import SnapdClientError
from snapd_client.cli.render import hunk_lines, print_applied
from snapd_client.cli.text import human, plural, safe

if TYPE_CHECKING:
    from snapd_client._client import AsyncClient
    from snapd_client.cli.output import Output

STYLES = {"revert": "green", "merge": "yellow", "conflict": "red", "keep": "dim"}


async def find_step(client: AsyncClient, snapshot: str, session: str | None) -> tuple[str, str]:
    """The step ``snapshot`` ends (``latest``: the newest; in ``session``: that session's).

    Returns:
        The ids before and after the step.

    Raises:
        SnapdClientError: no such snapshot, or it has no predecessor (in the session).
    """
    latest = snapshot == "latest"
    found: protocol.SnapshotSummary | None = None
    async for s in client.iter_snapshots(session=session):
        if found is not None:
            return s.id, found.id  # the predecessor within the session
        if latest or s.id.startswith(snapshot.lower()):
            found = s
            if session is None:
                if s.parent is None:
                    break
                return s.parent, s.id
    where = f" of session {session}" if session is not None else ""
    if found is None:
        what = "no snapshot" if latest else f"no snapshot {snapshot}"
        raise SnapdClientError(f"{what}{where}: nothing to undo")
    raise SnapdClientError(
        f"snapshot {found.id[:12]} is the first{where}: there is no step before it to undo"
    )


def revert_line(a: protocol.RevertAction) -> list[str | tuple[str, str]]:
    """One plan line: ``merge     path  1.0 KiB -> 2.0 KiB`` or ``conflict  path  (reason)``."""
    parts: list[str | tuple[str, str]] = [
        (f"  {a.action.value:<9} ", STYLES.get(a.action.value, "")),
        safe(a.path),
    ]
    if a.change is protocol.RestoreActionKind.DELETE:
        parts.append(f"  deleted ({human(a.old_size)})")
    elif a.change is protocol.RestoreActionKind.CREATE:
        parts.append(f"  recreated ({human(a.new_size)})")
    elif a.change is not None:
        parts.append(f"  {human(a.old_size)} -> {human(a.new_size)}")
    else:
        rule = f" [rule {safe(a.rule)}]" if a.rule else ""
        parts.append((f"  ({safe(a.reason or a.action.value)}{rule})", "dim"))
    if a.change is not None and a.action is protocol.RevertActionKind.CONFLICT:
        parts.append(("  (overlaps written between conflict markers)", "yellow"))
    return parts


async def cmd_undo(client: AsyncClient, args: argparse.Namespace, out: Output) -> None:
    """``snapd undo [SNAPSHOT] [--session S] [--apply] [-- PATHS]``."""
    before, after = await find_step(client, args.snapshot, args.session)
    scope: dict[str, Any] = {"paths": args.paths, "conflict_markers": args.markers}
    first = await client.revert(before, after, **scope)
    plan = [a async for a in client.iter_revert_plan(first, before, after, **scope)]
    result = first
    if args.apply:
        result = await client.revert(
            before, after, dry_run=False, plan_token=first.plan_token, **scope
        )
    if args.json:
        conv = protocol.wire_converter()
        doc = conv.unstructure(result)
        doc["plan"] = [conv.unstructure(a) for a in plan]
        doc.update({"from": before, "to": after})
        doc.pop("nextCursor", None)
        out.json(doc)
        return
    what = "undo" if args.apply else "undo plan (dry run)"
    out.print((what, "bold"), " of ", (before[:12], "yellow"), "..", (after[:12], "yellow"))
    for a in plan:
        out.print(*revert_line(a))
        for h in a.hunks or []:
            for text, style in hunk_lines(h):
                out.print("      ", (safe(text), style))
        if a.hunks_truncated:
            out.print(("      (more hunks: snapd hunks PATH --from FROM --to TO)", "dim"))
    out.print(
        f"{plural(first.reverted, 'path')} to revert, {first.merged} to merge, "
        f"{first.conflicted} in conflict (left alone), {first.kept} kept"
    )
    if not args.apply:
        if first.reverted or first.merged:
            out.print(("run again with --apply to apply it", "dim"))
        return
    if not print_applied(
        out,
        verb="undone",
        safety=result.safety_snapshot,
        hint="redo",
        cancelled=result.cancelled,
        remaining=result.remaining,
        not_done="reverted",
    ):
        return
    if result.failed:
        out.print((f"{plural(result.failed, 'path')} changed meanwhile, left alone:", "yellow"))
        for a in result.failures or []:
            out.print(*revert_line(a))
