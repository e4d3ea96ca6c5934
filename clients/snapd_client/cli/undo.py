"""``snapd undo [SNAPSHOT] [--session S] [--apply] [-- PATHS]``: take one step back out.

A step is a snapshot and its predecessor: the snapshot's ``parent``, or with ``--session S``
the previous snapshot of session S (``snapd/snapshots`` with ``session``). The plan
(``revert``, ``merge``, ``conflict`` or ``keep`` per file the step changed) is printed; only
``--apply`` applies it, with the plan's token, so what is applied is what was printed.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from typing import TYPE_CHECKING, Any

from snapd import protocol
from snapd_client._errors import SnapdClientError
from snapd_client.cli.render import hunk_lines, print_applied
from snapd_client.cli.text import human, plural, safe
from snapd_client.cli.where import shown

if TYPE_CHECKING:
    from snapd_client._client import AsyncClient
    from snapd_client.cli.output import Output

STYLES = {"revert": "green", "merge": "yellow", "conflict": "red", "keep": "dim"}

ANCESTOR = re.compile(r"latest~([0-9]*)")
"""``latest~N``: the N-th snapshot before the newest (of the session, with ``--session``)."""

MIN_PREFIX = 4
"""Shortest id prefix (as the daemon's)."""

HEX = frozenset("0123456789abcdef")

SHOWN = 5
"""Candidates an ambiguous name's error lists."""


async def find_step(client: AsyncClient, snapshot: str, session: str | None) -> tuple[str, str]:
    """The step the snapshot named ``snapshot`` ends; in ``session``: among that session's.

    Names are those of protocol.md's "Naming snapshots" (full id, ``latest``/``latest~N``,
    label, unique id prefix), matched here against the listing so that with ``session``
    ``latest~1`` is the session's step before its newest.

    Returns:
        The ids before and after the step.

    Raises:
        SnapdClientError: no such snapshot, an ambiguous name, or it has no predecessor (in
            the session).
    """
    where = f" of session {session}" if session is not None else ""
    items = [s async for s in client.iter_snapshots(session=session)]
    i = _pick(items, snapshot, where)
    found = items[i]
    if session is None and found.parent is not None:
        return found.parent, found.id
    if session is not None and i + 1 < len(items):
        return items[i + 1].id, found.id  # the predecessor within the session
    raise SnapdClientError(
        f"snapshot {found.id[:12]} is the first{where}: there is no step before it to undo"
    )


def _pick(items: list[protocol.SnapshotSummary], name: str, where: str) -> int:
    """The index in ``items`` (newest first) of the snapshot ``name`` names."""
    lowered = name.lower()
    for i, s in enumerate(items):
        if s.id == lowered:
            return i
    match = ANCESTOR.fullmatch(name)
    back = 0 if name == "latest" else None
    if match is not None:
        back = int(match.group(1)) if match.group(1) else 1
    if back is not None and back < len(items):
        return back
    if back is None:
        hex_prefix = len(lowered) >= MIN_PREFIX and HEX.issuperset(lowered)
        for what, hits in (
            ("label", [i for i, s in enumerate(items) if s.label == name]),
            (
                "id prefix",
                [i for i, s in enumerate(items) if hex_prefix and s.id.startswith(lowered)],
            ),
        ):
            if len(hits) == 1:
                return hits[0]
            if hits:
                shown = "; ".join(_candidate(items[i]) for i in hits[:SHOWN])
                more = f"; and {len(hits) - SHOWN} more" if len(hits) > SHOWN else ""
                raise SnapdClientError(
                    f"{name!r} is ambiguous: {len(hits)} snapshots{where} have this {what}: "
                    f"{shown}{more} (name one by its id)"
                )
    what = "no snapshot" if name == "latest" else f"no snapshot {name}"
    raise SnapdClientError(f"{what}{where}: nothing to undo")


def _candidate(s: protocol.SnapshotSummary) -> str:
    """``<12 hex> <UTC time> "<label>"``, as the daemon lists an ambiguous name's candidates."""
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(s.time))
    label = f" {json.dumps(s.label, ensure_ascii=False)}" if s.label is not None else ""
    return f"{s.id[:12]} {when}{label}"


def revert_line(a: protocol.RevertAction, prefix: str = "") -> list[str | tuple[str, str]]:
    """One plan line: ``merge     path  1.0 KiB -> 2.0 KiB`` or ``conflict  path  (reason)``.

    Paths are shown relative to ``prefix``, the user's directory inside the root.
    """
    parts: list[str | tuple[str, str]] = [
        (f"  {a.action.value:<9} ", STYLES.get(a.action.value, "")),
        safe(shown(a.path, prefix)),
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
        out.print(*revert_line(a, args.prefix))
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
            out.print(*revert_line(a, args.prefix))
