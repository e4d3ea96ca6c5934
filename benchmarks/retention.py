"""Retention benchmark: 200 turns of edits and generated-file churn against a store budget.

Each turn edits a few source files and rewrites a generated data file with new content, then
snapshots through a real `snapd --stdio`. Every `--gc-every` turns it runs `snapd/gc` and times
it. Prints store bytes per turn; the store must stay under the budget after each collection,
and gc time must stay bounded (it does not grow with the number of turns).

Run: python benchmarks/retention.py [--turns 200] [--budget-mib 6]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import tempfile
import time
from pathlib import Path

from snapd_client import AsyncClient

MIB = 1024 * 1024


def churn(root: Path, turn: int, rng: random.Random) -> None:
    for k in rng.sample(range(40), 5):
        path = root / "src" / f"mod{k:02}.py"
        with path.open("a") as fh:
            fh.write(f"# turn {turn}: edit\n")
    rows = "".join(
        f'{{"turn": {turn}, "row": {i}, "v": {rng.random():.6f}}}\n' for i in range(6000)
    )
    (root / "gen" / "data.jsonl").write_text(rows)


async def run(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="snapd-retention-"))
    root = tmp / "work"
    (root / "src").mkdir(parents=True)
    (root / "gen").mkdir()
    for k in range(40):
        (root / "src" / f"mod{k:02}.py").write_text(f"def f{k}():\n    return {k}\n" * 20)
    rng = random.Random(3)
    budget = int(args.budget_mib * MIB)
    options = {
        "storeBudgetBytes": budget,
        "retainLatest": 10,
        "gcGraceSeconds": 0,
        "autoGc": False,
        "autoSnapshot": False,
    }
    gc_times: list[float] = []
    peak = 0
    async with await AsyncClient.spawn(
        root, store=tmp / "store", log_file=tmp / "snapd.log", options=options
    ) as client:
        first = await client.snapshot(label="baseline")
        await client.pin(first.id)
        print(f"{'turn':>5} {'store KiB':>10} {'snapshots':>10} {'gc ms':>8} {'dropped':>8}")
        for turn in range(1, args.turns + 1):
            churn(root, turn, rng)
            await client.snapshot()
            gc_ms = dropped = None
            if turn % args.gc_every == 0:
                t0 = time.perf_counter()
                report = await client.gc()
                gc_ms = (time.perf_counter() - t0) * 1000
                gc_times.append(gc_ms)
                dropped = len(report.dropped)
                assert report.bytes_after <= budget or report.over_budget
            status = await client.status()
            peak = max(peak, status.store_bytes)
            if turn % args.print_every == 0 or gc_ms is not None:
                kept = (await client.stats()).snapshots if gc_ms is not None else ""
                print(
                    f"{turn:>5} {status.store_bytes / 1024:>10.0f} {kept!s:>10} "
                    f"{'' if gc_ms is None else f'{gc_ms:.0f}':>8} "
                    f"{'' if dropped is None else dropped:>8}"
                )
        stats = await client.stats()
        pinned_alive = first.id in [s.id async for s in client.iter_snapshots()]
    print(
        f"\nbudget {budget / MIB:.1f} MiB; final store {stats.store_bytes / MIB:.2f} MiB "
        f"({stats.snapshots} snapshots kept, {stats.packs} packs, {stats.loose_objects} loose); "
        f"peak before a collection {peak / MIB:.2f} MiB"
    )
    print(
        f"gc time: first {gc_times[0]:.0f} ms, last {gc_times[-1]:.0f} ms, "
        f"max {max(gc_times):.0f} ms over {len(gc_times)} runs"
    )
    print(f"pinned baseline snapshot kept: {pinned_alive}; dedup ratio {stats.dedup_ratio}")
    shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--budget-mib", type=float, default=6.0)
    parser.add_argument("--gc-every", type=int, default=20)
    parser.add_argument("--print-every", type=int, default=20)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
