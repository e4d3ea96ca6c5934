"""One function per client command: ask the daemon through :class:`AsyncClient`, then print.

Each ``cmd_*(client, args, out)`` prints JSON with ``--json`` and text otherwise; :data:`COMMANDS`
maps command names (aliases included) to them.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from snapd import protocol
from snapd_client._client import AsyncClient
from snapd_client.cli.fast import StatRow, log_params, render_log, render_stat
from snapd_client.cli.output import Output
from snapd_client.cli.parser import parse_hunks
from snapd_client.cli.render import (
    action_line,
    diff_paths,
    file_header,
    print_applied,
    print_hunk,
    skip_note,
    stats_rows,
    wants_hunks,
)
from snapd_client.cli.text import human, plural, safe
from snapd_client.cli.undo import cmd_undo
from snapd_client.cli.where import check_hunks_path, no_match, shown

if TYPE_CHECKING:
    from rich.progress import Progress


def _progress(out: Output) -> Progress:
    # rich.progress (and the datetime it pulls in) is loaded only for a bar on a terminal.
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TimeElapsedColumn(),
        console=out.err,
        transient=True,
    )


async def cmd_snapshot(client: AsyncClient, args: argparse.Namespace, out: Output) -> None:
    """``snapd snapshot [-m LABEL]``."""
    if out.err_is_terminal:
        with _progress(out) as bar:
            task = bar.add_task("snapshot", total=None)

            def on_progress(value: dict[str, Any]) -> None:
                text = value.get("message") or value.get("title")
                if isinstance(text, str):
                    bar.update(task, description=safe(text))

            snap = await client.snapshot(args.label, on_progress=on_progress, session=args.session)
    else:
        snap = await client.snapshot(args.label, session=args.session)
    if args.json:
        out.json(protocol.wire_converter().unstructure(snap))
        return
    verb = "snapshot" if snap.created else "unchanged, latest snapshot is"
    label = f'  "{safe(snap.label)}"' if snap.label else ""
    out.print((verb, "bold"), " ", (snap.id[:12], "yellow"), label)
    out.print(
        f"  files {snap.files} ({human(snap.bytes)}), changed {snap.changed}, hashed {snap.hashed}"
    )
    if snap.skipped:
        rules = ", ".join(f"{safe(r)} {n}" for r, n in sorted(snap.rules.items()))
        out.print(
            f"  skipped {snap.skipped} ({human(snap.skipped_bytes)})",
            (f": {rules}" if rules else ""),
            ("  (snapd explain PATH says why)", "dim"),
        )


async def cmd_log(client: AsyncClient, args: argparse.Namespace, out: Output) -> None:
    """``snapd log`` on the typed client (``--standalone``; see :mod:`snapd_client.cli.fast`)."""
    pages: list[dict[str, Any]] = []
    params = log_params(args)
    while True:
        page: dict[str, Any] = await client.request(protocol.SNAPD_SNAPSHOTS, params)
        pages.append(page)
        if page.get("nextCursor") is None:
            break
        params = {**params, "cursor": page["nextCursor"]}
    render_log(iter(pages), args, out)


async def cmd_status(client: AsyncClient, args: argparse.Namespace, out: Output) -> None:
    """``snapd status``."""
    st = await client.status()
    if args.json:
        out.json(protocol.wire_converter().unstructure(st))
        return
    out.start_pager()
    rows = [
        ("root", safe(st.root)),
        ("store", f"{safe(st.store)} ({human(st.store_bytes)})"),
        ("head", st.head or "(no snapshot yet)"),
        ("version", f"{st.version} (protocol {st.protocol_version})"),
        ("content limit", human(st.content_limit)),
        ("cached files", str(st.cached_files)),
        ("watcher", st.watcher + (f" ({st.watcher_reason})" if st.watcher_reason else "")),
    ]
    if st.worktree_error:
        rows.append(("worktree", f"NOT SERVED: {st.worktree_error}"))
    if st.store_error:
        rows.append(("store", f"NOT USABLE: {safe(st.store_error)}"))
    for key, value in rows:
        out.print((f"{key:<14}", "bold"), value)


async def cmd_diff(client: AsyncClient, args: argparse.Namespace, out: Output) -> None:
    """``snapd diff [FROM [TO]] [--stat] [-- PATH...]``."""
    conv = protocol.wire_converter()
    files = [
        f
        async for f in client.iter_diff(
            args.from_, args.to, paths=args.paths, patterns=args.patterns
        )
    ]
    if not files and (args.paths or args.patterns) and not args.stat:  # --stat: render_stat
        note = no_match(args)
        if not args.json:
            print(note, file=sys.stderr)

    async def hunks_of(f: protocol.FileChange) -> list[protocol.Hunk]:
        return [
            h async for h in client.iter_hunks(args.from_, f.path, args.to, context=args.context)
        ]

    if args.stat:
        rows: list[StatRow] = []
        for f in files:
            raw = conv.unstructure(f)
            if not wants_hunks(f):
                rows.append((raw, None, None))
                continue
            lines = [line for h in await hunks_of(f) for line in h.lines]
            ins = sum(1 for line in lines if line.startswith("+"))
            rows.append((raw, ins, sum(1 for line in lines if line.startswith("-"))))
        render_stat(rows, args, out)
        return
    if args.json:
        docs = []
        for f in files:
            doc = conv.unstructure(f)
            if wants_hunks(f):
                doc["hunks"] = [conv.unstructure(h) for h in await hunks_of(f)]
            docs.append(doc)
        out.json(docs)
        return
    out.start_pager()
    for f in files:
        for text, style in file_header(f):
            out.print((text, style))
        if wants_hunks(f):
            hunks = await hunks_of(f)
            if hunks:
                for text, style in diff_paths(f):
                    out.print((text, style))
            for h in hunks:
                print_hunk(out.console, h)


async def cmd_hunks(client: AsyncClient, args: argparse.Namespace, out: Output) -> None:
    """``snapd hunks PATH [--from REF] [--to REF]``."""
    conv = protocol.wire_converter()
    page = await client.hunks(args.from_, args.path, args.to, context=args.context)
    hunks = list(page.hunks)
    if page.next_cursor is not None:
        hunks = [
            h async for h in client.iter_hunks(args.from_, args.path, args.to, context=args.context)
        ]
    if not hunks and page.skipped is None and not page.binary:
        check_hunks_path(args)
    if args.json:
        doc = conv.unstructure(page)
        doc["hunks"] = [conv.unstructure(h) for h in hunks]
        doc.pop("nextCursor", None)
        out.json(doc)
        return
    out.start_pager()
    if page.skipped is not None:
        out.print((skip_note(page.skipped), "yellow"))
    if page.binary:
        out.print("binary content: no hunks")
    if page.truncated:
        out.print((f"truncated: {page.truncated_reason}", "yellow"))
    if not hunks and page.skipped is None and not page.binary:
        print(f"no changes in {shown(args.path, args.prefix)}", file=sys.stderr)
    for h in hunks:
        print_hunk(out.console, h, digest=True)


async def cmd_explain(client: AsyncClient, args: argparse.Namespace, out: Output) -> None:
    """``snapd explain PATH``."""
    res = await client.explain(args.path)
    if args.json:
        out.json(protocol.wire_converter().unstructure(res))
        return
    out.start_pager()
    captured = res.outcome is protocol.Outcome.CAPTURED
    out.print(
        (safe(shown(res.path, args.prefix)), "bold"),
        ": ",
        (res.outcome.value, "green" if captured else "yellow"),
    )
    out.print(("  rule      ", "bold"), safe(res.rule))
    out.print(("  reason    ", "bold"), safe(res.reason))
    if res.evidence:
        out.print(("  evidence  ", "bold"), safe(res.evidence))
    if res.skipped_ancestor is not None:
        out.print(("  inside    ", "bold"), f"{safe(res.skipped_ancestor)}/ (skipped directory)")
    if res.exists:
        size = f", {human(res.size)}" if res.size is not None else ""
        binary = ", binary" if res.binary else ""
        out.print(("  exists    ", "bold"), f"yes ({res.kind or '?'}{size}{binary})")
    else:
        judged = "" if res.skipped_ancestor is not None else " (judged by its name)"
        out.print(("  exists    ", "bold"), f"no{judged}")


async def cmd_restore(client: AsyncClient, args: argparse.Namespace, out: Output) -> None:
    """``snapd restore [FROM] [--apply] [--force P].. [--pattern P].. [--hunks ..] [-- PATHS]``.

    Paths after ``--`` are sent as literal ``paths``; ``--pattern`` as ``patterns``.
    """
    conv = protocol.wire_converter()
    hunks = parse_hunks(args.hunks) if args.hunks else None
    if hunks is not None:
        hunks.context = args.context
    scope: dict[str, Any] = {
        "paths": args.paths,
        "patterns": args.patterns,
        "hunks": hunks,
        "force": args.force,
    }
    first = await client.restore(args.from_, **scope)
    plan = [a async for a in client.iter_restore_plan(first, args.from_, **scope)]
    result = first
    if args.apply:
        result = await client.restore(
            args.from_, dry_run=False, plan_token=first.plan_token, **scope
        )
    if args.json:
        doc = conv.unstructure(result)
        doc["plan"] = [conv.unstructure(a) for a in plan]
        doc.pop("nextCursor", None)
        out.json(doc)
        return
    what = "restore" if args.apply else "restore plan (dry run)"
    out.print((what, "bold"), " from ", (safe(args.from_), "yellow"))
    for a in plan:
        out.print(*action_line(a, args.prefix))
    out.print(
        f"{plural(first.written, 'path')} to write, {first.deleted} to delete, {first.kept} kept"
    )
    forced = sum(1 for a in plan if a.forced)
    if forced:
        out.print(
            (
                f"warning: {plural(forced, 'forced path')}: content never captured, which no "
                "snapshot holds: the safety snapshot cannot bring it back, it is lost for good",
                "red",
            )
        )
    if not args.apply:
        if first.written or first.deleted:
            out.print(("run again with --apply to apply it", "dim"))
        return
    if not print_applied(
        out,
        verb="restored",
        safety=result.safety_snapshot,
        hint="undo",
        cancelled=result.cancelled,
        remaining=result.remaining,
        not_done="restored",
    ):
        return
    if result.conflicted:
        out.print((f"{plural(result.conflicted, 'path')} left alone:", "yellow"))
        for a in result.conflicts or []:
            out.print(*action_line(a, args.prefix))


async def cmd_gc(client: AsyncClient, args: argparse.Namespace, out: Output) -> None:
    """``snapd gc [--dry-run]``."""
    res = await client.gc(dry_run=args.dry_run)
    if args.json:
        out.json(protocol.wire_converter().unstructure(res))
        return
    if args.dry_run:
        out.print(
            ("gc (dry run)", "bold"),
            f": would drop {plural(len(res.dropped), 'snapshot')}, keep {res.kept}",
        )
    else:
        out.print(
            ("gc", "bold"),
            f": dropped {plural(len(res.dropped), 'snapshot')}, kept {res.kept}; "
            f"store {human(res.bytes_before)} -> {human(res.bytes_after)} "
            f"in {res.seconds:.2f} s",
        )
        out.print(
            f"  {plural(res.loose_removed, 'unreachable object')} removed, "
            f"{res.packed} packed, {plural(res.packs_rewritten, 'pack')} rewritten"
        )
    for snapshot_id in res.dropped:
        out.print(("  drop ", "red"), (snapshot_id[:12], "yellow"))
    if res.over_budget:
        out.print(
            (
                "still over storeBudgetBytes: only pinned, labelled and newest snapshots are left",
                "yellow",
            )
        )


async def cmd_stats(client: AsyncClient, args: argparse.Namespace, out: Output) -> None:
    """``snapd stats``."""
    st = await client.stats()
    if args.json:
        out.json(protocol.wire_converter().unstructure(st))
        return
    out.start_pager()
    for key, value in stats_rows(st):
        out.print((f"{key:<14}", "bold"), value)
    if st.largest_paths:
        out.print(("largest paths", "bold"))
        sizes = [human(p.bytes) for p in st.largest_paths]
        versions = [plural(p.versions, "version") for p in st.largest_paths]
        width = max(len(s) for s in sizes)
        v_width = max(len(v) for v in versions)
        for p, size, v in zip(st.largest_paths, sizes, versions, strict=True):
            out.print(f"  {size.rjust(width)}  ", (f"{v.ljust(v_width)}  ", "dim"), safe(p.path))
    if st.skipped_bytes_by_rule:
        out.print(("skipped bytes by rule (newest snapshot)", "bold"))
        rules = sorted(st.skipped_bytes_by_rule.items(), key=lambda kv: (-kv[1], kv[0]))
        width = max(len(human(n)) for _, n in rules)
        for rule, n in rules:
            out.print(f"  {human(n).rjust(width)}  ", safe(rule))


async def cmd_pin(client: AsyncClient, args: argparse.Namespace, out: Output) -> None:
    """``snapd pin ID`` and ``snapd unpin ID``."""
    res = await client.pin(args.id, pinned=args.command == "pin")
    if args.json:
        out.json(protocol.wire_converter().unstructure(res))
        return
    out.print(("pinned" if res.pinned else "unpinned", "bold"), " ", (res.id[:12], "yellow"))


COMMANDS = {
    "snapshot": cmd_snapshot,
    "log": cmd_log,
    "status": cmd_status,
    "diff": cmd_diff,
    "hunks": cmd_hunks,
    "show": cmd_hunks,
    "explain": cmd_explain,
    "restore": cmd_restore,
    "undo": cmd_undo,
    "gc": cmd_gc,
    "stats": cmd_stats,
    "pin": cmd_pin,
    "unpin": cmd_pin,
}
