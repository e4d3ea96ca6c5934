"""The command line's fast path: commands that print a daemon's answer, on the standard library.

``snapd log`` is what a hook or a prompt runs after every step, so its cost is mostly Python's
start-up. Through the shared daemon it uses a :class:`~snapd_client._blocking.BlockingSession`
(``socket`` and ``json``) and renders the raw result itself: no asyncio, attrs, cattrs, wire
classes or rich are imported unless a warning needs rich (a test pins that). With
``--standalone`` the same renderer runs on the typed client's raw results
(:func:`snapd_client.cli.commands.cmd_log`).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from snapd_client.cli.text import human, safe

if TYPE_CHECKING:
    from snapd_client.cli.output import Output

FAST = frozenset({"log"})
"""Commands the fast path runs (when not ``--standalone``)."""

Pages = Iterator[dict[str, Any]]


def run_fast(args: argparse.Namespace, out: Output) -> int:
    """Run ``args.command`` through the shared daemon on a blocking session; exit status."""
    from snapd_client._blocking import BlockingSession

    with BlockingSession.connect(
        args.root, args.store, env=os.environ, client_name="cli"
    ) as session:
        render_log(
            snapshot_pages(lambda params: session.request("snapd/snapshots", params)), args, out
        )
    return 0


def snapshot_pages(request: Callable[[dict[str, Any]], Any]) -> Pages:
    """Every page of ``snapd/snapshots`` (raw results), following ``nextCursor``."""
    params: dict[str, Any] = {}
    while True:
        page: dict[str, Any] = request(params)
        yield page
        cursor = page.get("nextCursor")
        if cursor is None:
            return
        params = {"cursor": cursor}


def render_log(pages: Pages, args: argparse.Namespace, out: Output) -> None:
    """``snapd log``: one line per snapshot, newest first (``--json``: the summaries)."""
    items: list[dict[str, Any]] = []
    warnings: dict[str, None] = {}
    for page in pages:
        items += page.get("snapshots") or []
        warnings.update(dict.fromkeys(page.get("warnings") or []))
    for warning in warnings:  # a damaged ref: the history shown is missing that snapshot
        from rich.text import Text

        out.err.print(Text(f"snapd: warning: {safe(warning)}"), highlight=False)
    if args.json:
        out.json(items)
        return
    out.start_pager()
    for s in items:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s["time"]))
        client, label = s.get("client"), s.get("label")
        out.print(
            (s["id"][:12], "yellow"),
            f"  {when}  ",
            (f"{safe(client)}  ", "cyan") if client else "",
            f"files {s['files']} ({human(s['bytes'])})  changed {s['changed']}  "
            f"skipped {s['skipped']} ({human(s['skippedBytes'])})",
            ("  " + safe(label), "bold") if label else "",
        )
