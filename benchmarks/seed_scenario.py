"""Seed scenario benchmark: large generated artifacts rewritten on every turn.

Every turn rewrites build/CMakeFiles/CMakeConfigureLog.yaml (128 MiB), build/build.ninja
(96 MiB) and build/.ninja_log (512 KiB) and appends a line to src/main.txt. A real
``snapd --stdio`` child takes a snapshot, diffs it against the previous one (all pages) and
returns the first page of hunks of src/main.txt; we time each step and read the daemon's peak
RSS (VmHWM) after every turn.

In the same run, a naive baseline does what today's tools do for the same change: load the whole
old and new body of every changed file and run difflib.unified_diff on them, in a child process
whose wall time and peak RSS we measure (under /usr/bin/time -v when available).

Run: python benchmarks/seed_scenario.py [--turns 10] [--baseline-turns 2]
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from snapd_client import AsyncClient, StdioTransport, workload

MIB = 1024 * 1024
TARGET_RSS_MIB = 80.0
FLAT_TOLERANCE_MIB = 4.0
TIME_BIN = "/usr/bin/time"


@dataclass
class DaemonTurn:
    turn: int
    write_s: float
    snapshot_ms: float
    diff_ms: float
    hunks_ms: float
    changed: int
    hunk_lines: int
    vmhwm_kib: int | None

    @property
    def total_ms(self) -> float:
        return self.snapshot_ms + self.diff_ms + self.hunks_ms


@dataclass
class NaiveTurn:
    turn: int
    wall_s: float
    maxrss_kib: int | None
    timed_out: bool
    files: int = 0
    loaded_bytes: int = 0
    diff_lines: int = 0
    error: str | None = None


@dataclass
class Results:
    daemon: list[DaemonTurn] = field(default_factory=list)
    naive: list[NaiveTurn] = field(default_factory=list)
    daemon_rusage_kib: int | None = None


def vmhwm_kib(pid: int) -> int | None:
    """Peak RSS of a live process in KiB, from /proc/PID/status."""
    try:
        text = Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    m = re.search(r"^VmHWM:\s+(\d+)\s+kB", text, re.MULTILINE)
    return int(m.group(1)) if m else None


def mib(kib: int | None) -> str:
    return "n/a" if kib is None else f"{kib / 1024:.1f}"


# -- naive child ------------------------------------------------------------------------------


def naive_child(old_dir: str, new_dir: str) -> int:
    """Diff two trees the naive way; print a JSON summary as the last line of stdout."""
    started = time.perf_counter()
    files = loaded = lines_out = 0
    old_root, new_root = Path(old_dir), Path(new_dir)
    paths = sorted(
        p.relative_to(new_root)
        for p in new_root.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(new_root).parts
    )
    for rel in paths:
        old_path = old_root / rel
        with open(new_root / rel, encoding="utf-8", errors="surrogateescape") as f:
            b = f.readlines()
        a: list[str] = []
        if old_path.exists():
            with open(old_path, encoding="utf-8", errors="surrogateescape") as f:
                a = f.readlines()
        if a == b:
            continue
        files += 1
        loaded += (old_path.stat().st_size if old_path.exists() else 0) + (
            new_root / rel
        ).stat().st_size
        for _line in difflib.unified_diff(a, b, f"a/{rel}", f"b/{rel}"):
            lines_out += 1
        del a, b
    summary = {
        "files": files,
        "loaded_bytes": loaded,
        "diff_lines": lines_out,
        "seconds": time.perf_counter() - started,
        "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    print(json.dumps(summary))
    return 0


def run_naive(turn: int, old_dir: Path, new_dir: Path, timeout: float) -> NaiveTurn:
    """Run the naive child (under /usr/bin/time -v if present) and measure it."""
    cmd = [sys.executable, os.path.abspath(__file__), "--naive-child", str(old_dir), str(new_dir)]
    use_time = os.access(TIME_BIN, os.X_OK)
    if use_time:
        cmd = [TIME_BIN, "-v", *cmd]
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return NaiveTurn(turn, time.perf_counter() - started, None, timed_out=True)
    wall = time.perf_counter() - started
    result = NaiveTurn(turn, wall, None, timed_out=False)
    if use_time:
        m = re.search(r"Maximum resident set size \(kbytes\):\s*(\d+)", err)
        if m:
            result.maxrss_kib = int(m.group(1))
    try:
        summary = json.loads(out.strip().splitlines()[-1])
    except (IndexError, ValueError):
        result.error = f"exit {proc.returncode}: {err.strip()[-500:]}"
        return result
    result.files = summary["files"]
    result.loaded_bytes = summary["loaded_bytes"]
    result.diff_lines = summary["diff_lines"]
    if result.maxrss_kib is None:
        result.maxrss_kib = summary["maxrss_kib"]
    if proc.returncode != 0:
        result.error = f"exit {proc.returncode}"
    return result


# -- daemon phase -----------------------------------------------------------------------------


async def daemon_phase(args: argparse.Namespace, tmp: Path, sizes: dict[str, int]) -> Results:
    root = tmp / "worktree"
    res = Results()
    print(
        f"{'turn':>4} {'write s':>8} {'snapshot ms':>12} {'diff ms':>8} {'hunks ms':>9} "
        f"{'changed':>8} {'captured B':>11} {'VmHWM MiB':>10}",
        flush=True,
    )
    async with await AsyncClient.spawn(
        root, store=tmp / "store", log_file=tmp / "snapd.log"
    ) as client:
        assert isinstance(client.transport, StdioTransport)
        pid = client.transport.proc.pid
        previous = (await client.snapshot(label="turn 0")).id
        for n in range(1, args.turns + 1):
            t0 = time.perf_counter()
            workload.turn(root, n, **sizes)
            t1 = time.perf_counter()
            snap = await client.snapshot(label=f"turn {n}")
            t2 = time.perf_counter()
            changed = [f async for f in client.iter_diff(previous, snap.id)]
            t3 = time.perf_counter()
            page = await client.hunks(previous, workload.MAIN_TXT, snap.id)
            t4 = time.perf_counter()
            row = DaemonTurn(
                turn=n,
                write_s=t1 - t0,
                snapshot_ms=(t2 - t1) * 1000,
                diff_ms=(t3 - t2) * 1000,
                hunks_ms=(t4 - t3) * 1000,
                changed=len(changed),
                hunk_lines=sum(len(h.lines) for h in page.hunks),
                vmhwm_kib=vmhwm_kib(pid),
            )
            res.daemon.append(row)
            print(
                f"{n:>4} {row.write_s:>8.2f} {row.snapshot_ms:>12.1f} {row.diff_ms:>8.1f} "
                f"{row.hunks_ms:>9.1f} {row.changed:>8} {snap.hashed_bytes:>11} "
                f"{mib(row.vmhwm_kib):>10}",
                flush=True,
            )
            previous = snap.id
    # The daemon has exited and been waited for: RUSAGE_CHILDREN now covers it (and the tiny
    # git processes of workload.init, but no naive child yet).
    res.daemon_rusage_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return res


def baseline_phase(
    args: argparse.Namespace, tmp: Path, sizes: dict[str, int], res: Results
) -> None:
    root = tmp / "worktree"
    old = tmp / "previous"
    print(
        f"\nnaive baseline (difflib.unified_diff of whole old/new bodies), timeout "
        f"{args.naive_timeout:.0f} s:",
        flush=True,
    )
    print(
        f"{'turn':>4} {'wall s':>8} {'peak RSS MiB':>13} {'files':>6} {'loaded MiB':>11} "
        f"{'diff lines':>11}",
        flush=True,
    )
    for b in range(1, args.baseline_turns + 1):
        n = args.turns + b
        shutil.rmtree(old, ignore_errors=True)
        shutil.copytree(root, old, ignore=shutil.ignore_patterns(".git"))
        workload.turn(root, n, **sizes)
        row = run_naive(n, old, root, args.naive_timeout)
        res.naive.append(row)
        if row.timed_out:
            print(f"{n:>4} timed out after {row.wall_s:.0f} s", flush=True)
        else:
            print(
                f"{n:>4} {row.wall_s:>8.2f} {mib(row.maxrss_kib):>13} {row.files:>6} "
                f"{row.loaded_bytes / MIB:>11.1f} {row.diff_lines:>11}"
                + (f"  ERROR {row.error}" if row.error else ""),
                flush=True,
            )
    shutil.rmtree(old, ignore_errors=True)


def report(res: Results) -> None:
    hwm = [t.vmhwm_kib for t in res.daemon if t.vmhwm_kib is not None]
    daemon_peak = max([*hwm, res.daemon_rusage_kib or 0]) or None
    naive_ok = [t for t in res.naive if not t.timed_out and t.error is None]
    naive_rss = [t.maxrss_kib for t in naive_ok if t.maxrss_kib is not None]
    naive_peak = max(naive_rss) if naive_rss else None
    daemon_lat = statistics.mean(t.total_ms for t in res.daemon)
    print("\nsummary")
    print(f"  daemon peak RSS (max VmHWM over turns)      : {mib(max(hwm) if hwm else None)} MiB")
    print(f"  daemon peak RSS (RUSAGE_CHILDREN after exit): {mib(res.daemon_rusage_kib)} MiB")
    if len(hwm) >= 2:
        print(
            f"  daemon VmHWM turn 1 -> turn {len(hwm)}: {mib(hwm[0])} -> {mib(hwm[-1])} MiB "
            f"(growth {(hwm[-1] - hwm[0]) / 1024:+.1f} MiB)"
        )
    print(
        f"  naive peak RSS                              : {mib(naive_peak)} MiB"
        + ("  (timed out)" if any(t.timed_out for t in res.naive) else "")
    )
    ratio = f"{naive_peak / daemon_peak:.1f}x" if naive_peak and daemon_peak else "n/a"
    print(f"  ratio naive / daemon peak RSS               : {ratio}")
    naive_lat = (
        f"{statistics.mean(t.wall_s for t in naive_ok) * 1000:.0f} ms" if naive_ok else "n/a"
    )
    print(f"  mean turn latency daemon (snapshot+diff+hunks): {daemon_lat:.0f} ms")
    print(f"  mean turn latency naive (load + difflib)      : {naive_lat}")
    print("\ntarget: daemon peak RSS <= 80 MiB and flat across turns")
    peak_mib = daemon_peak / 1024 if daemon_peak else float("inf")
    flat = len(hwm) < 2 or (hwm[-1] - hwm[0]) / 1024 <= FLAT_TOLERANCE_MIB
    verdict = "MET" if peak_mib <= TARGET_RSS_MIB and flat else "NOT MET"
    print(
        f"  {verdict}: peak {peak_mib:.1f} MiB, "
        f"{'flat' if flat else 'growing'} (tolerance {FLAT_TOLERANCE_MIB:.0f} MiB)"
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="seed scenario benchmark: snapd vs naive difflib")
    p.add_argument("--turns", type=int, default=10)
    p.add_argument("--big1-mib", type=float, default=128)
    p.add_argument("--big2-mib", type=float, default=96)
    p.add_argument("--small-kib", type=float, default=512)
    p.add_argument("--baseline-turns", type=int, default=2)
    p.add_argument("--naive-timeout", type=float, default=300, help="seconds per naive turn")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return p


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "--naive-child":
        return naive_child(argv[1], argv[2])
    args = build_parser().parse_args(argv)
    sizes = {
        "big1": int(args.big1_mib * MIB),
        "big2": int(args.big2_mib * MIB),
        "small": int(args.small_kib * 1024),
    }
    tmp = Path(tempfile.mkdtemp(prefix="snapd-bench-"))
    try:
        workload.init(tmp / "worktree")
        print(
            f"seed scenario: {args.turns} turns, each rewriting {args.big1_mib:g} MiB + "
            f"{args.big2_mib:g} MiB + {args.small_kib:g} KiB and appending to src/main.txt; "
            f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
            flush=True,
        )
        res = asyncio.run(daemon_phase(args, tmp, sizes))
        if args.baseline_turns > 0:
            baseline_phase(args, tmp, sizes, res)
        report(res)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
