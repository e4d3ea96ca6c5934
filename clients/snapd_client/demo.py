"""``python -m snapd_client.demo``: the seed workload against a real ``snapd --stdio``.

Builds a throw-away worktree (and a separate store), then runs turns of
:mod:`snapd_client.workload`: every turn rewrites two large generated files and a small one and
appends a line to ``src/main.txt``. After each turn it takes a snapshot, lists what changed since
the previous one (with the capture rule that skipped each large file and why), shows the hunks of
``src/main.txt`` and the daemon's peak memory. It ends with the daemon's peak RSS next to what
loading every changed file's old and new body would cost.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from snapd import protocol
from snapd_client import workload
from snapd_client._client import AsyncClient
from snapd_client._transport import StdioTransport
from snapd_client.cli import human, print_hunk


def peak_rss(pid: int) -> int | None:
    """Peak resident set size of a live process, in bytes (``VmHWM`` of ``/proc/PID/status``).

    Args:
        pid: Process id.

    Returns:
        The peak RSS in bytes, or None when it cannot be read (no ``/proc``, process gone).
    """
    try:
        text = Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return None


def daemon_pid(client: AsyncClient) -> int:
    """The process id of a daemon started with :meth:`AsyncClient.spawn`.

    Args:
        client: A client over a :class:`StdioTransport`.

    Returns:
        The daemon's pid.
    """
    transport = client.transport
    if not isinstance(transport, StdioTransport):
        raise TypeError("the demo needs a daemon it spawned over stdio")
    return transport.proc.pid


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of the demo.

    Returns:
        The parser.
    """
    p = argparse.ArgumentParser(
        prog="python -m snapd_client.demo",
        description="Run the generated-artifacts workload against a real snapd daemon.",
    )
    p.add_argument("--turns", type=int, default=3, help="turns to run (default 3)")
    p.add_argument(
        "--big1-mib", type=float, default=128, help="size of CMakeConfigureLog.yaml (MiB)"
    )
    p.add_argument("--big2-mib", type=float, default=96, help="size of build.ninja (MiB)")
    p.add_argument("--small-kib", type=float, default=512, help="size of .ninja_log (KiB)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return p


def changes_table(title: str, changes: list[protocol.FileChange]) -> Table:
    """A table of changed files: path, status, sizes and why content was skipped.

    Args:
        title: Table title.
        changes: The changes, in the daemon's order.

    Returns:
        The table, ready to print.
    """
    table = Table(title=title, title_justify="left")
    table.add_column("path", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("old -> new", justify="right", no_wrap=True)
    table.add_column("content")
    for f in changes:
        if f.skipped is not None:
            ev = f", {f.skipped.evidence}" if f.skipped.evidence else ""
            content = f"skipped: {f.skipped.reason} (rule {f.skipped.rule}{ev})"
        elif f.binary:
            content = "captured (binary)"
        else:
            content = "captured"
        table.add_row(
            escape(f.path),
            f.status.value,
            f"{human(f.old_size)} -> {human(f.new_size)}",
            escape(content),
        )
    return table


async def run(args: argparse.Namespace, console: Console, tmp: Path) -> int:
    """Run the demo in ``tmp``.

    Args:
        args: Parsed command line.
        console: Where to print.
        tmp: An empty scratch directory.

    Returns:
        The exit status.
    """
    root = tmp / "worktree"
    store = tmp / "store"
    log_file = tmp / "snapd.log"
    sizes = {
        "big1": int(args.big1_mib * workload.MIB),
        "big2": int(args.big2_mib * workload.MIB),
        "small": int(args.small_kib * workload.KIB),
    }
    workload.init(root)
    console.print(
        f"[bold]worktree[/] {escape(str(root))}  [bold]store[/] {escape(str(store))}  "
        f"[bold]log[/] {escape(str(log_file))}"
    )
    console.print(
        f"each turn rewrites {human(sizes['big1'])} + {human(sizes['big2'])} + "
        f"{human(sizes['small'])} of generated text and appends a line to {workload.MAIN_TXT}"
    )
    async with await AsyncClient.spawn(root, store=store, log_file=log_file) as client:
        pid = daemon_pid(client)
        previous = await client.snapshot(label="turn 0")
        console.print(f"first snapshot {previous.id[:12]}: {previous.files} file(s)")
        last_changes: list[protocol.FileChange] = []
        for n in range(1, args.turns + 1):
            started = time.perf_counter()
            workload.turn(root, n, **sizes)
            wrote = time.perf_counter() - started
            started = time.perf_counter()
            snap = await client.snapshot(label=f"turn {n}")
            took = time.perf_counter() - started
            console.rule(f"turn {n}")
            rules = ", ".join(f"{r}: {c}" for r, c in sorted(snap.rules.items())) or "none"
            console.print(
                f"workload wrote the turn in {wrote:.1f} s; snapshot {snap.id[:12]} in "
                f"{took * 1000:.0f} ms: {snap.changed} changed, {snap.files} captured "
                f"({human(snap.bytes)}), {snap.skipped} skipped ({human(snap.skipped_bytes)}; "
                f"{rules}), {snap.hashed} hashed"
            )
            last_changes = [f async for f in client.iter_diff(previous.id, snap.id)]
            console.print(changes_table(f"changed since {previous.id[:12]}", last_changes))
            page = await client.hunks(previous.id, workload.MAIN_TXT, snap.id)
            console.print(f"[bold]{workload.MAIN_TXT}[/]:")
            if page.skipped is not None:
                console.print(f"  skipped: {escape(page.skipped.reason)} ({page.skipped.rule})")
            for hunk in page.hunks:
                print_hunk(console, hunk)
            if page.next_cursor is not None:
                console.print("  (more hunks follow)")
            console.print(f"daemon peak RSS so far: [bold]{human(peak_rss(pid))}[/]")
            previous = snap
        explained = await client.explain(workload.BUILD_NINJA)
        peak = peak_rss(pid)
    console.rule("summary")
    ev = f", evidence {explained.evidence}" if explained.evidence else ""
    console.print(
        f"snapd/explain {escape(explained.path)}: {explained.outcome.value} by rule "
        f"{explained.rule}: {escape(explained.reason)}{escape(ev)}"
    )
    naive = sum((f.old_size or 0) + (f.new_size or 0) for f in last_changes)
    console.print(f"daemon peak RSS: [bold]{human(peak)}[/]")
    console.print(
        f"naive approach would load {human(naive)} (old + new bodies of the "
        f"{len(last_changes)} paths changed in the last turn; a skipped directory counts its files)"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m snapd_client.demo``.

    Args:
        argv: Arguments without the program name (default: ``sys.argv[1:]``).

    Returns:
        The exit status.
    """
    args = build_parser().parse_args(argv)
    if args.turns < 1:
        print("demo: --turns must be at least 1", file=sys.stderr)
        return 2
    console = Console(highlight=False)
    tmp = Path(tempfile.mkdtemp(prefix="snapd-demo-"))
    try:
        return asyncio.run(run(args, console, tmp))
    finally:
        if args.keep:
            console.print(f"kept {escape(str(tmp))}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
