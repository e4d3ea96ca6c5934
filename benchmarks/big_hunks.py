"""Big text file benchmark: the first page of hunks of a 31 MB JSONL with 20 edited lines.

The seed report: a tracked 31 MB JSONL with 20 changed lines became a 30 MB patch. Here a real
``snapd --stdio`` child captures such a file (``contentLimit`` raised so it is tracked), the
file gets 20 edited rows, and we time the first page of ``snapd/hunks`` (and all pages) and read
the daemon's peak RSS during the hunk requests only (VmHWM reset through /proc/PID/clear_refs).

Baselines in the same run:
- ``git diff --no-index`` of the same two versions (wall time and peak RSS from wait4);
- the same daemon told to diff in memory (``diffMaxBytes`` and ``diffMaxLines`` raised): what
  loading both sides whole costs.

Target (design.md): first page of hunks in bounded memory, within 2x git diff --no-index.

Run: python benchmarks/big_hunks.py [--rows 160000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from snapd_client import AsyncClient, StdioTransport

MIB = 1024 * 1024
PATH = "data/events.jsonl"


def rows(n: int, edited: set[int]) -> bytes:
    out = []
    for i in range(n):
        if i in edited:
            out.append(b'{"row": %d, "edited": true}\n' % i)
        else:
            pad = b"p" * (120 + i % 80)
            out.append(b'{"row": %d, "kind": "event", "payload": "%s"}\n' % (i, pad))
    return b"".join(out)


def vmhwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux: 5 > /proc/PID/clear_refs)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


async def daemon_run(
    base: Path, data: tuple[bytes, bytes], options: dict[str, Any], repeat: int, name: str
) -> dict[str, Any]:
    root = base / f"work-{name}"
    (root / "data").mkdir(parents=True)
    (root / PATH).write_bytes(data[0])
    async with await AsyncClient.spawn(
        root, store=base / f"store-{name}", log_file=base / f"{name}.log", options=options
    ) as client:
        assert isinstance(client.transport, StdioTransport)
        pid = client.transport.proc.pid
        first = await client.snapshot()
        (root / PATH).write_bytes(data[1])
        second = await client.snapshot()
        before = vmhwm_kib(pid)
        reset = reset_peak(pid)
        first_page, every = [], []
        hunks = 0
        truncated: str | None = None
        for _ in range(repeat):
            t0 = time.perf_counter()
            page = await client.hunks(first.id, PATH, second.id)
            t1 = time.perf_counter()
            all_hunks = [h async for h in client.iter_hunks(first.id, PATH, second.id)]
            t2 = time.perf_counter()
            first_page.append((t1 - t0) * 1000)
            every.append((t2 - t1) * 1000)
            hunks = len(all_hunks)
            truncated = page.truncated_reason
        peak = vmhwm_kib(pid)
    return {
        "cold_ms": first_page[0],  # the daemon keeps recent in-memory diffs: later asks are warm
        "first_ms": statistics.median(first_page),
        "all_ms": statistics.median(every),
        "hunks": hunks,
        "peak_mib": peak / 1024,
        "before_mib": before / 1024,
        "reset": reset,
        "truncated": truncated or "-",
    }


def git_run(base: Path, data: tuple[bytes, bytes], repeat: int) -> dict[str, float]:
    old, new = base / "old.jsonl", base / "new.jsonl"
    old.write_bytes(data[0])
    new.write_bytes(data[1])
    times, peaks = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            ["git", "diff", "--no-index", "--no-color", str(old), str(new)],
            stdout=subprocess.DEVNULL,
        )
        _pid, _status, usage = os.wait4(proc.pid, 0)
        times.append((time.perf_counter() - t0) * 1000)
        peaks.append(usage.ru_maxrss / 1024)
        proc.returncode = 0
    return {"ms": statistics.median(times), "peak_mib": max(peaks)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=160_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    edited = {args.rows * k // 20 + 11 for k in range(20)}
    data = (rows(args.rows, set()), rows(args.rows, edited))
    print(f"file: {len(data[0]) / MIB:.1f} MiB, {args.rows} rows, 20 edited", flush=True)
    base = Path(tempfile.mkdtemp(prefix="snapd-bighunks-"))
    try:
        big = 4096 * MIB
        streamed = await daemon_run(base, data, {"contentLimit": big}, args.repeat, "streamed")
        in_memory = await daemon_run(
            base,
            data,
            {"contentLimit": big, "diffMaxBytes": big, "diffMaxLines": 10**8},
            args.repeat,
            "in-memory",
        )
        git = git_run(base, data, args.repeat)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(
        f"{'':22} {'first page':>11} {'(median)':>9} {'all pages':>10} {'hunks':>6} {'peak MiB':>9}"
    )
    for label, r in (("snapd (streamed)", streamed), ("snapd (in memory)", in_memory)):
        print(
            f"{label:22} {r['cold_ms']:>9.0f}ms {r['first_ms']:>7.0f}ms {r['all_ms']:>8.0f}ms"
            f" {r['hunks']:>6}"
            f" {r['peak_mib']:>9.1f}   (RSS before the hunks {r['before_mib']:.1f} MiB,"
            f" peak reset: {r['reset']}, truncated: {r['truncated']})"
        )
    print(
        f"{'git diff --no-index':22} {git['ms']:>9.0f}ms {'':>9} {'':>10} {'':>6}"
        f" {git['peak_mib']:>9.1f}"
    )
    ratio = streamed["cold_ms"] / git["ms"]
    print(
        f"first page (cold): snapd streamed {ratio:.2f}x git's time (target <= 2x); "
        f"in memory {in_memory['cold_ms'] / git['ms']:.2f}x; "
        f"peak RSS streamed {streamed['peak_mib']:.1f} MiB vs in memory "
        f"{in_memory['peak_mib']:.1f} MiB vs git {git['peak_mib']:.1f} MiB"
    )


if __name__ == "__main__":
    asyncio.run(main())
