"""The command line's fast path: commands that print a daemon's answer, on the standard library.

``snapd log`` and ``snapd diff --stat`` are what a hook or a prompt runs after every step, so
their cost is mostly Python's start-up. Through the shared daemon they use a
:class:`~snapd_client._blocking.BlockingSession` (``socket`` and ``json``) and render the raw
results themselves: no asyncio, attrs, cattrs, wire classes or rich are imported unless a
warning needs rich (a test pins that). With ``--standalone`` the same renderers run on the
typed client's raw results (:mod:`snapd_client.cli.commands`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from snapd_client.cli.text import human, plural, safe

if TYPE_CHECKING:
    from snapd_client.cli.output import Output

Pages = Iterator[dict[str, Any]]
StatRow = tuple[dict[str, Any], int | None, int | None]
"""A changed file (raw ``FileChange``) with its inserted and deleted lines (None: no hunks)."""
Request = Callable[[str, dict[str, Any]], Any]
"""Sends one request (method, raw params) and returns its raw result."""


def is_fast(args: argparse.Namespace) -> bool:
    """Whether the fast path runs this command: ``log`` and ``diff --stat``, when shared."""
    if args.standalone:
        return False
    return args.command == "log" or (args.command == "diff" and bool(args.stat))


def run_fast(args: argparse.Namespace, out: Output) -> int:
    """Run ``args.command`` through the shared daemon on a blocking session; exit status."""
    from snapd_client._blocking import BlockingSession
    from snapd_client.cli.parser import daemon_flags, daemon_options

    with BlockingSession.connect(
        args.root,
        args.store,
        env=os.environ,
        client_name="cli",
        options=daemon_options(args),
        daemon_args=daemon_flags(args),
    ) as session:
        if args.command == "log":
            render_log(pages(session.request, "snapd/snapshots", log_params(args)), args, out)
        else:
            render_stat(stat_rows(session.request, args), args, out)
    return 0


def log_params(args: argparse.Namespace) -> dict[str, Any]:
    """``snapd/snapshots`` params of ``snapd log`` (``--session S``: that session's)."""
    return {"session": args.session} if args.session is not None else {}


def pages(request: Request, method: str, params: dict[str, Any]) -> Pages:
    """Every page of a paged method (raw results), following ``nextCursor``."""
    while True:
        page: dict[str, Any] = request(method, params)
        yield page
        cursor = page.get("nextCursor")
        if cursor is None:
            return
        params = {**params, "cursor": cursor}


def hunkable(kind: str, binary: bool, skipped: bool) -> bool:
    """Whether a change can have hunks: captured, not binary, a file or a symlink."""
    return not skipped and not binary and kind in ("file", "symlink")


def stat_rows(request: Request, args: argparse.Namespace) -> list[StatRow]:
    """``diff --stat``'s rows: each changed file (raw) with its inserted and deleted lines."""
    params: dict[str, Any] = {"from": args.from_}
    if args.to is not None:
        params["to"] = args.to
    if args.paths:
        params["paths"] = args.paths
    if args.patterns:
        params["patterns"] = args.patterns
    rows: list[StatRow] = []
    for page in pages(request, "snapd/diff", params):
        for f in page["files"]:
            if not hunkable(f.get("kind", "file"), f.get("binary", False), "skipped" in f):
                rows.append((f, None, None))
                continue
            asked = {"from": args.from_, "path": f["path"], "context": args.context}
            if args.to is not None:
                asked["to"] = args.to
            lines = [
                line
                for hunks in pages(request, "snapd/hunks", asked)
                for h in hunks["hunks"]
                for line in h["lines"]
            ]
            ins = sum(1 for line in lines if line.startswith("+"))
            rows.append((f, ins, sum(1 for line in lines if line.startswith("-"))))
    return rows


def render_stat(rows: list[StatRow], args: argparse.Namespace, out: Output) -> None:
    """``snapd diff --stat`` (``--json``: each change with ``insertions`` and ``deletions``)."""
    if not rows and (args.paths or args.patterns):
        from snapd_client.cli.where import no_match

        note = no_match(args)
        if not args.json:
            print(note, file=sys.stderr)
    if args.json:
        out.json([{**f, "insertions": i, "deletions": d} for f, i, d in rows])
        return
    out.start_pager()
    for parts in stat_lines(rows, out.width):
        out.print(*parts)


def stat_lines(rows: Sequence[StatRow], width: int) -> list[list[str | tuple[str, str]]]:
    """``git diff --stat``: `` path | N ++--`` per file and a summary line, as ``Output`` parts."""
    if not rows:
        return []
    names = [safe(f["path"]) for f, _, _ in rows]
    name_w = max(len(n) for n in names)
    counts = [(i or 0) + (d or 0) for _, i, d in rows]
    count_w = max(len(str(c)) for c in counts)
    graph_w = max(8, width - name_w - count_w - 6)
    biggest = max(counts)
    out: list[list[str | tuple[str, str]]] = []
    for (f, ins, dels), name in zip(rows, names, strict=True):
        line: list[str | tuple[str, str]] = [f" {name.ljust(name_w)} | "]
        skipped = f.get("skipped")
        if skipped is not None:
            line.append((f"skipped: {skipped['reason']} [rule {skipped['rule']}]", "yellow"))
        elif ins is None or dels is None:
            line.append(f"Bin {human(f.get('oldSize') or 0)} -> {human(f.get('newSize') or 0)}")
        else:
            total = ins + dels
            plus, minus = ins, dels
            if biggest > graph_w:
                plus = -(-ins * graph_w // biggest) if ins else 0
                minus = -(-dels * graph_w // biggest) if dels else 0
            line.append(f"{str(total).rjust(count_w)} ")
            line.append(("+" * plus, "green"))
            line.append(("-" * minus, "red"))
        out.append(line)
    ins_total = sum(i or 0 for _, i, _ in rows)
    del_total = sum(d or 0 for _, _, d in rows)
    summary = f" {plural(len(rows), 'file')} changed"
    if ins_total or not del_total:
        summary += f", {plural(ins_total, 'insertion')}(+)"
    if del_total or not ins_total:
        summary += f", {plural(del_total, 'deletion')}(-)"
    out.append([summary])
    return out


def render_log(listed: Pages, args: argparse.Namespace, out: Output) -> None:
    """``snapd log``: one line per snapshot, newest first (``--json``: the summaries)."""
    items: list[dict[str, Any]] = []
    warnings: dict[str, None] = {}
    for page in listed:
        items += page.get("snapshots") or []
        warnings.update(dict.fromkeys(page.get("warnings") or []))
    for warning in warnings:  # a damaged ref: the history shown is missing that snapshot
        from rich.text import Text

        out.err.print(Text(f"snapd: warning: {safe(warning)}"), highlight=False)
    if args.json:
        out.json(items)
        return
    if not items:
        session = getattr(args, "session", None)
        out.print("no snapshots yet" + (f" in session {safe(session)}" if session else ""))
        return
    out.start_pager()
    for s in items:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s["time"]))
        client, label, session = s.get("client"), s.get("label"), s.get("session")
        marks = log_marks(s)
        out.print(
            (s["id"][:12], "yellow"),
            (f" ({', '.join(marks)})", "yellow") if marks else "",
            f"  {when}  ",
            (f"{safe(client)}  ", "cyan") if client else "",
            (f"[{safe(session)}]  ", "magenta") if session else "",
            f"files {s['files']} ({human(s['bytes'])})  changed {s['changed']}  "
            f"skipped {s['skipped']} ({human(s['skippedBytes'])})",
            ("  " + safe(label), "bold") if label else "",
        )


def log_marks(summary: dict[str, Any]) -> list[str]:
    """What ``snapd log`` marks a snapshot as, after its id as git decorates a commit.

    ``pinned``, ``auto``, ``safety`` (a restore's: kept like an unlabelled snapshot once older
    than the newest ``retainLatest``) and ``labelled`` (a label retention keeps).
    """
    marks = [name for name in ("pinned", "auto", "safety") if summary.get(name)]
    if summary.get("label") is not None and not summary.get("safety"):
        marks.append("labelled")
    return marks
