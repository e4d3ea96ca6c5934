"""Tree-scale benchmark: snapd snapshots vs `git add -A && git write-tree` on a sidecar GIT_DIR.

Builds a synthetic tree (default 100,000 files of 1-8 KiB, ~25 files per directory, 3 levels),
then measures, in the same run and on the same tree:

1. the initial snapshot (snapd) vs the initial `git add -A && git write-tree`, with peak RSS;
2. a snapshot after editing 1 file vs git's incremental add + write-tree;
3. a snapshot after touching 1,000 files (mtime only) and editing 10;
4. a reconcile (full walk) with nothing changed, against git's no-change add;
5. a cold start: a new daemon on the existing store, ``initialize`` + a snapshot + a diff to
   the live worktree, against ``git status --porcelain``.

Run: python benchmarks/tree_scale.py [--files N] [--keep] [--source DIR]

``--source DIR`` runs the same cases on a copy of a real tree instead (e.g. a ``node_modules``
from ``npm install``, or an unpacked source tarball); its ``.git`` directories and ignore files
are left out of the copy, so that every file is captured as in the synthetic tree.

``--profile`` instead runs the no-change reconcile in process (no daemon) under cProfile and
prints its top entries; ``--reconcile-only`` times just that case (the old code can be timed
from a worktree of main with PYTHONPATH=<that worktree>/daemon).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from snapd.config import DISABLEABLE_RULES
from snapd_client import AsyncClient, StdioTransport

MIB = 1024 * 1024


def build_tree(root: Path, files: int, seed: int = 7) -> list[Path]:
    rng = random.Random(seed)
    paths: list[Path] = []
    per_dir = 25
    dirs = max(1, files // per_dir)
    fan = max(2, round(dirs ** (1 / 3)))
    made = 0
    for d in range(dirs):
        a, b, c = d // (fan * fan), (d // fan) % fan, d % fan
        directory = root / f"pkg{a:03}" / f"mod{b:03}" / f"sub{c:03}"
        directory.mkdir(parents=True, exist_ok=True)
        for f in range(per_dir):
            if made >= files:
                break
            size = rng.randint(1024, 8192)
            path = directory / f"file{f:02}.txt"
            line = f"{d}:{f}:".encode()
            path.write_bytes((line * (size // len(line) + 1))[:size])
            paths.append(path)
            made += 1
    return paths


def git_env(git_dir: Path, root: Path) -> dict[str, str]:
    return {
        **os.environ,
        "GIT_DIR": str(git_dir),
        "GIT_WORK_TREE": str(root),
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(git_dir.parent),
    }


def git_snapshot(git_dir: Path, root: Path) -> tuple[float, int]:
    """Seconds and peak RSS (KiB) of `git add -A && git write-tree`."""
    env = git_env(git_dir, root)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    subprocess.run(["git", "add", "-A"], check=True, env=env, cwd=root)
    subprocess.run(["git", "write-tree"], check=True, env=env, cwd=root, capture_output=True)
    elapsed = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(peak, before)


def vmhwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def copy_tree(source: Path, root: Path) -> list[Path]:
    """Copy a real tree's regular files and directories (no .git, no ignore rules)."""
    paths: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(source):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        rel = Path(dirpath).relative_to(source)
        (root / rel).mkdir(parents=True, exist_ok=True)
        for name in filenames:
            src = Path(dirpath) / name
            if name in {".gitignore", ".snapdignore", ".gitattributes"} or not src.is_file():
                continue
            if src.is_symlink():
                continue
            dst = root / rel / name
            shutil.copyfile(src, dst)
            paths.append(dst)
    return paths


async def run(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="snapd-tree-"))
    root = tmp / "tree"
    t0 = time.perf_counter()
    if args.source:
        paths = copy_tree(Path(args.source), root)
    else:
        paths = build_tree(root, args.files)
    size = sum(p.stat().st_size for p in paths)
    print(
        f"built {len(paths)} files ({size / MIB:.0f} MiB) in {time.perf_counter() - t0:.1f}s "
        f"under {root}"
    )
    # Make every file "old": nothing is racily clean for either tool.
    old = time.time() - 3600
    for p in paths:
        os.utime(p, (old, old))
    # A real tree has what snapd's rules skip (build output, large files, ...): like git,
    # capture every file there, so both tools do the same work.
    options: dict[str, object] = {"autoSnapshot": False}
    if args.source:
        options["contentLimit"] = 1 << 40
        options["disabledRules"] = sorted(DISABLEABLE_RULES)
    git_dir = tmp / "git"
    subprocess.run(["git", "init", "-q", "--bare", str(git_dir)], check=True)
    rows: list[tuple[str, float, float]] = []

    g_init, g_rss = git_snapshot(git_dir, root)
    async with await AsyncClient.spawn(
        root, store=tmp / "store", log_file=tmp / "snapd.log", options=options
    ) as client:
        assert isinstance(client.transport, StdioTransport)
        pid = client.transport.proc.pid
        t0 = time.perf_counter()
        first = await client.snapshot()
        s_init = time.perf_counter() - t0
        s_rss = vmhwm_kib(pid)
        rows.append(("initial snapshot", s_init, g_init))
        print(
            f"initial: snapd {s_init:.2f}s ({first.files} files, {first.consistency}), "
            f"git {g_init:.2f}s; peak RSS snapd {s_rss / 1024:.1f} MiB, git {g_rss / 1024:.1f} MiB"
        )

        rng = random.Random(11)
        target = rng.choice(paths)
        target.write_bytes(target.read_bytes() + b"one more line\n")
        t0 = time.perf_counter()
        one = await client.snapshot()
        s_one = time.perf_counter() - t0
        g_one, _ = git_snapshot(git_dir, root)
        rows.append(("edit 1 file", s_one, g_one))
        print(
            f"edit 1: snapd {s_one * 1000:.1f} ms ({one.consistency}, changed {one.changed}, "
            f"hashed {one.hashed}), git {g_one * 1000:.1f} ms"
        )

        touched = rng.sample(paths, min(1000, len(paths) // 2))  # a tiny tree: half
        now = time.time()
        for p in touched:
            os.utime(p, (now, now))
        for p in touched[:10]:
            p.write_bytes(p.read_bytes() + b"edited\n")
        t0 = time.perf_counter()
        many = await client.snapshot()
        s_many = time.perf_counter() - t0
        g_many, _ = git_snapshot(git_dir, root)
        rows.append((f"touch {len(touched)}, edit 10", s_many, g_many))
        print(
            f"touch {len(touched)}/edit 10: snapd {s_many * 1000:.1f} ms ({many.consistency}, "
            f"changed {many.changed}, hashed {many.hashed}), git {g_many * 1000:.1f} ms"
        )

        # A reconcile (full walk) with nothing changed: what start-up, a watcher restart and
        # every reconcileInterval cost. git's add here is its no-change case as well. Right
        # after the touches, the files touched within the racy window of that snapshot are
        # looked at again (by design); the second reconcile is the steady state.
        for name in ("reconcile, after touch", "reconcile, no change"):
            t0 = time.perf_counter()
            full = await client.snapshot(reconcile=True)
            s_full = time.perf_counter() - t0
            g_full, _ = git_snapshot(git_dir, root)
            rows.append((name, s_full, g_full))
            print(
                f"{name}: snapd {s_full * 1000:.1f} ms ({full.consistency}, created "
                f"{full.created}, hashed {full.hashed}), git {g_full * 1000:.1f} ms"
            )
        s_rss = max(s_rss, vmhwm_kib(pid))

    # Cold start: what an editor opening the worktree waits for, on a store that exists.
    t0 = time.perf_counter()
    async with await AsyncClient.spawn(
        root, store=tmp / "store", log_file=tmp / "snapd.log", options=options
    ) as client:
        cold = await client.snapshot()
        live = await client.diff(cold.id)
        s_cold = time.perf_counter() - t0
        assert isinstance(client.transport, StdioTransport)
        s_rss = max(s_rss, vmhwm_kib(client.transport.proc.pid))
    env = git_env(git_dir, root)
    t0 = time.perf_counter()
    subprocess.run(["git", "status", "--porcelain"], check=True, env=env, cwd=root, stdout=-3)
    g_cold = time.perf_counter() - t0
    rows.append(("cold start + diff", s_cold, g_cold))
    print(
        f"cold start: snapd {s_cold * 1000:.0f} ms (snapshot {cold.consistency}, diff "
        f"{len(live.files)} files, {live.consistency}), git status {g_cold * 1000:.0f} ms"
    )

    print("\nsummary (git time / snapd time: > 1 means snapd is faster)")
    print(f"{'case':<24} {'snapd':>10} {'git':>10} {'ratio':>8}")
    for name, s, g in rows:
        print(f"{name:<24} {s * 1000:>8.0f}ms {g * 1000:>8.0f}ms {g / s:>7.2f}x")
    print(f"peak RSS: snapd {s_rss / 1024:.1f} MiB (target <= 150 MiB), git {g_rss / 1024:.1f} MiB")
    print(
        "targets (git time / snapd time): initial >= 1.0x; edit 1 file >= 30x; touch 1000 "
        ">= 2.0x; reconcile >= 1.0x; cold start >= 0.5x"
    )
    if args.keep:
        print(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


def reconcile_in_process(args: argparse.Namespace) -> None:
    """Time (or profile) no-change full walks in this process, on a tree built once."""
    import cProfile
    import pstats

    from snapd.config import Options
    from snapd.worktree import Worktree

    tmp = Path(args.tree) if args.tree else Path(tempfile.mkdtemp(prefix="snapd-tree-"))
    root = tmp / "tree"
    if not root.exists():
        paths = build_tree(root, args.files)
        old = time.time() - 3600
        for p in paths:
            os.utime(p, (old, old))
        for d in {p.parent for p in paths}:
            os.utime(d, (old, old))
    store = tmp / f"store-{os.getpid()}"
    wt = Worktree(str(root), str(store), Options(auto_snapshot=False))
    try:
        t0 = time.perf_counter()
        wt.snapshot()
        print(f"initial snapshot {time.perf_counter() - t0:.2f}s")
        wt.snapshot()  # a first reconcile: fills whatever a later walk reuses
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            if args.profile:
                prof = cProfile.Profile()
                prof.runcall(wt.snapshot)
            else:
                wt.snapshot()
            times.append(time.perf_counter() - t0)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(
            f"no-change reconcile: best {min(times) * 1000:.0f} ms, "
            f"median {sorted(times)[len(times) // 2] * 1000:.0f} ms over {len(times)}; "
            f"peak RSS {rss / 1024:.1f} MiB"
        )
        if args.profile:
            stats = pstats.Stats(prof)
            stats.sort_stats("tottime").print_stats(25)
            stats.sort_stats("cumulative").print_stats(30)
    finally:
        wt.close()
        shutil.rmtree(store, ignore_errors=True)
        if not args.tree and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile a no-change reconcile")
    parser.add_argument("--reconcile-only", action="store_true", help="time only that, in process")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tree", help="a directory to build the tree in once and reuse")
    parser.add_argument("--source", help="run on a copy of this real tree instead")
    args = parser.parse_args()
    if args.profile or args.reconcile_only:
        args.repeat = 1 if args.profile else args.repeat
        reconcile_in_process(args)
        return
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
