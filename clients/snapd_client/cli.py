"""``snapd <command>``: look at snapshots from a terminal, on top of :class:`AsyncClient`.

Each command starts a daemon for the worktree (``--root``, default the current directory),
runs, and stops it. Output is coloured when stdout is a terminal, plain otherwise, and
``--json`` prints the raw results for scripts. Errors are one line on stderr and exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from typing import Any

from rich.console import Console
from rich.markup import escape

from snapd import protocol
from snapd_client._client import AsyncClient
from snapd_client._errors import SnapdClientError


def human(n: int | None) -> str:
    """Bytes in human units."""
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of the client commands."""
    p = argparse.ArgumentParser(prog="snapd", description="Inspect worktree snapshots.")
    p.add_argument("--root", default=".", help="worktree (default: current directory)")
    p.add_argument("--store", help="store directory (default: under $XDG_DATA_HOME)")
    p.add_argument("--json", action="store_true", help="print raw JSON results")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("snapshot", help="take a snapshot now")
    s.add_argument("-m", "--label", help="label stored with the snapshot")
    sub.add_parser("log", help="list snapshots, newest first")
    sub.add_parser("status", help="daemon and store state")
    d = sub.add_parser("diff", help="changed files (FROM defaults to latest, TO to the worktree)")
    d.add_argument("range", nargs="*", help="[FROM [TO]] then optional -- PATH...")
    d.add_argument("--stat", action="store_true", help="only the list of files")
    h = sub.add_parser("hunks", aliases=["show"], help="hunks of one file")
    h.add_argument("path")
    h.add_argument("--from", dest="from_", default="latest")
    h.add_argument("--to")
    h.add_argument("-U", "--context", type=int, default=3)
    e = sub.add_parser("explain", help="why a path is or is not captured")
    e.add_argument("path")
    return p


async def run(args: argparse.Namespace, console: Console) -> int:
    """Run one command against a freshly spawned daemon."""
    with tempfile.TemporaryDirectory(prefix="snapd-cli-") as log_dir:
        return await _run(args, console, log_dir)


async def _run(args: argparse.Namespace, console: Console, log_dir: str) -> int:
    extra = ["--store", args.store] if args.store else []
    conv = protocol.converter()

    def emit(obj: Any) -> None:
        print(json.dumps(conv.unstructure(obj), indent=2))

    async with await AsyncClient.spawn(
        args.root, log_file=os.path.join(log_dir, "snapd.log"), extra_args=extra
    ) as client:
        if args.command == "snapshot":
            snap = await client.snapshot(args.label)
            if args.json:
                emit(snap)
            else:
                verb = "snapshot" if snap.created else "unchanged, latest is"
                console.print(
                    f"[bold]{verb}[/] {snap.id[:12]}  files {snap.files} ({human(snap.bytes)}), "
                    f"changed {snap.changed}, skipped {snap.skipped} ({human(snap.skipped_bytes)})"
                )
                for rule, count in sorted(snap.rules.items()):
                    console.print(f"  skipped by {escape(rule)}: {count}")
        elif args.command == "log":
            items = [s async for s in client.iter_snapshots()]
            if args.json:
                print(json.dumps([conv.unstructure(s) for s in items], indent=2))
            for s in [] if args.json else items:
                label = f"  {escape(s.label)}" if s.label else ""
                console.print(
                    f"[yellow]{s.id[:12]}[/]  files {s.files}  changed {s.changed}  "
                    f"skipped {s.skipped}{label}"
                )
        elif args.command == "status":
            emit(await client.status()) if args.json else console.print(
                conv.unstructure(await client.status())
            )
        elif args.command == "diff":
            rng = list(args.range)
            paths: list[str] | None = None
            if "--" in rng:
                cut = rng.index("--")
                rng, paths = rng[:cut], rng[cut + 1 :]
            from_ = rng[0] if rng else "latest"
            to = rng[1] if len(rng) > 1 else None
            files = [f async for f in client.iter_diff(from_, to, paths=paths)]
            if args.json:
                print(json.dumps([conv.unstructure(f) for f in files], indent=2))
                return 0
            for f in files:
                mark = {"added": "[green]A[/]", "deleted": "[red]D[/]"}.get(f.status, "[blue]M[/]")
                sizes = f"{human(f.old_size)} -> {human(f.new_size)}"
                why = (
                    f"  (skipped: {escape(f.skipped.reason)}, rule {f.skipped.rule})"
                    if (f.skipped)
                    else ""
                )
                console.print(f"{mark} {escape(f.path)}  {sizes}{why}")
                if not args.stat and not f.skipped and not f.binary and f.kind == "file":
                    async for h in client.iter_hunks(from_, f.path, to):
                        print_hunk(console, h)
        elif args.command in ("hunks", "show"):
            page = await client.hunks(args.from_, args.path, args.to, context=args.context)
            if args.json:
                emit(page)
                return 0
            if page.skipped:
                console.print(f"skipped: {escape(page.skipped.reason)} ({page.skipped.rule})")
            async for h in client.iter_hunks(args.from_, args.path, args.to, context=args.context):
                print_hunk(console, h)
        elif args.command == "explain":
            res = await client.explain(args.path)
            if args.json:
                emit(res)
            else:
                ev = f", evidence {escape(res.evidence)}" if res.evidence else ""
                console.print(f"{escape(res.path)}: {res.outcome.value}: rule {res.rule}{ev}")
    return 0


def print_hunk(console: Console, h: protocol.Hunk) -> None:
    """Print one hunk as unified diff text."""
    console.print(
        f"[cyan]@@ -{h.old_start},{h.old_lines} +{h.new_start},{h.new_lines} @@[/]", highlight=False
    )
    for line in h.lines:
        style = {"+": "green", "-": "red"}.get(line[:1])
        text = escape(line)
        console.print(f"[{style}]{text}[/]" if style else text, highlight=False)


def main(argv: list[str]) -> int:
    """Entry point for ``snapd <command>`` (called by ``snapd.cli``)."""
    args = build_parser().parse_args(argv)
    console = Console(highlight=False)
    try:
        return asyncio.run(run(args, console))
    except SnapdClientError as exc:
        print(f"snapd: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"snapd: {exc}", file=sys.stderr)
        return 1
