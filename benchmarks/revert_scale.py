"""Revert benchmark: snapd/revert of one step against `git apply -R` of the step's patch.

Builds a synthetic tree (default 100,000 files, as ``tree_scale.py``), snapshots it (``from``),
edits 1,000 files (the step: a line changed near the top of each), snapshots again (``to``)
and commits both states to a sidecar GIT_DIR for the baseline. Then, in the same run and on the
same tree:

1. ``snapd/revert`` of the step (dry run, then applied with its token): time, and the daemon's
   peak RSS during the revert (``VmHWM`` reset through ``/proc/PID/clear_refs`` first);
2. the tree is put back to ``to`` with ``git apply`` of the patch (``git diff from to``), and
   ``git apply -R`` of that patch is timed, with its peak RSS;
3. a file of ``--big-mib`` MiB (``contentLimit`` raised to hold it) changed by a step and still
   equal to ``to`` is reverted: the daemon's peak RSS during it does not grow with the file
   (the hash comparison and the write are streamed).

Both reverts must give back exactly the ``from`` tree (checked with git). Run:
``python -m benchmarks.revert_scale [--files N] [--changed N] [--big-mib N] [--json FILE]``;
``tests/e2e/test_benchmarks_run.py`` runs it on a tiny tree so it cannot rot.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.tree_scale import build_tree, git_env, vmhwm_kib
from snapd_client import AsyncClient, StdioTransport

MIB = 1024 * 1024


def reset_peak(pid: int) -> None:
    """Reset the process's ``VmHWM`` to its current RSS (Linux ``clear_refs`` value 5)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def git(git_dir: Path, root: Path, *args: str, stdout: Any = None) -> str:
    done = subprocess.run(
        ["git", *args],
        check=True,
        env=git_env(git_dir, root),
        cwd=root,
        stdout=stdout if stdout is not None else subprocess.PIPE,
        text=stdout is None,
    )
    return done.stdout if stdout is None else ""


def commit(git_dir: Path, root: Path, message: str) -> str:
    git(git_dir, root, "add", "-A")
    git(git_dir, root, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", message)
    return git(git_dir, root, "rev-parse", "HEAD").strip()


def timed_child(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int]:
    """Seconds and peak RSS (KiB) of one command, measured by a fresh Python parent."""
    probe = (
        "import resource, subprocess, sys, time\n"
        "t0 = time.perf_counter()\n"
        "subprocess.run(sys.argv[1:], check=True)\n"
        "print(time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, *cmd], check=True, env=env, cwd=cwd, capture_output=True
    )
    seconds, kib = out.stdout.split()
    return float(seconds), int(kib)


def file_sha1(path: Path) -> str:
    h = hashlib.sha1()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="snapd-revert-"))
    root = tmp / "tree"
    figures: dict[str, Any] = {"files": args.files, "changed": args.changed, "tmp": str(tmp)}
    try:
        paths = build_tree(root, args.files)
        git_dir = tmp / "git"
        subprocess.run(["git", "init", "-q", "--bare", str(git_dir)], check=True)
        options = {"autoSnapshot": False, "contentLimit": max(args.big_mib * 2, 4) * MIB}
        async with await AsyncClient.spawn(
            root, store=tmp / "store", log_file=tmp / "snapd.log", options=options
        ) as client:
            assert isinstance(client.transport, StdioTransport)
            pid = client.transport.proc.pid
            before = await client.snapshot("from")
            git_from = commit(git_dir, root, "from")
            for path in random.Random(5).sample(paths, args.changed):
                lines = path.read_bytes().split(b":", 2)
                path.write_bytes(b"step edit:" + lines[-1])
            after = await client.snapshot("to")
            git_to = commit(git_dir, root, "to")
            patch = tmp / "step.patch"
            with patch.open("w") as fh:
                git(git_dir, root, "diff", "--binary", git_from, git_to, stdout=fh)

            reset_peak(pid)
            rss_before = vmhwm_kib(pid)
            t0 = time.perf_counter()
            plan = await client.revert(before.id, after.id)
            t_plan = time.perf_counter() - t0
            done = await client.revert(
                before.id, after.id, dry_run=False, plan_token=plan.plan_token
            )
            t_revert = time.perf_counter() - t0
            figures["snapd"] = {
                "plan_s": t_plan,
                "revert_s": t_revert,
                "rss_before_kib": rss_before,
                "peak_rss_kib": vmhwm_kib(pid),
                "reverted": plan.reverted,
                "failed": done.failed,
            }
            assert _same(git_dir, root, git_from), "snapd's revert did not give back the tree"

            # The baseline on the same tree: back to `to`, then git apply -R of the patch.
            git(git_dir, root, "apply", str(patch))
            env = git_env(git_dir, root)
            g_s, g_kib = timed_child(["git", "apply", "-R", str(patch)], env, root)
            figures["git_apply_R"] = {"revert_s": g_s, "peak_rss_kib": g_kib}
            assert _same(git_dir, root, git_from), "git apply -R did not give back the from tree"

            # A big file still as the step left it: reverted by hash, streamed.
            big = root / "big.bin"
            block = b"".join(b"big line %07d\n" % i for i in range(MIB // 17 + 1))[:MIB]
            with big.open("wb") as fh:
                for _ in range(args.big_mib):
                    fh.write(block)
            big_from = await client.snapshot("big from")
            want = file_sha1(big)
            with big.open("r+b") as fh:
                fh.seek(0)
                fh.write(b"the step rewrote the first line\n")
            big_to = await client.snapshot("big to")
            reset_peak(pid)
            rss0 = vmhwm_kib(pid)
            t0 = time.perf_counter()
            big_done = await client.revert(big_from.id, big_to.id, dry_run=False)
            figures["big"] = {
                "mib": args.big_mib,
                "revert_s": time.perf_counter() - t0,
                "rss_before_kib": rss0,
                "peak_rss_kib": vmhwm_kib(pid),
                "actions": [a.action.value for a in big_done.plan],
                "restored": file_sha1(big) == want,
            }
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return figures


def _same(git_dir: Path, root: Path, commit_id: str) -> bool:
    """True when the work tree has exactly ``commit_id``'s files (its tree read into the index)."""
    git(git_dir, root, "read-tree", commit_id)
    git(git_dir, root, "update-index", "-q", "--refresh")
    changed = git(git_dir, root, "diff-files", "--name-only").strip()
    return changed == "" and git(git_dir, root, "ls-files", "--others").strip() == ""


def report(f: dict[str, Any]) -> None:
    s, g, b = f["snapd"], f["git_apply_R"], f["big"]
    print(f"revert of a step changing {f['changed']} files in a {f['files']}-file tree")
    print(f"{'':<16} {'time':>10} {'peak RSS':>12}")
    print(
        f"{'snapd/revert':<16} {s['revert_s'] * 1000:>8.0f}ms {s['peak_rss_kib'] / 1024:>9.1f}MiB"
    )
    print(
        f"{'git apply -R':<16} {g['revert_s'] * 1000:>8.0f}ms {g['peak_rss_kib'] / 1024:>9.1f}MiB"
    )
    print(
        f"  (snapd: plan alone {s['plan_s'] * 1000:.0f} ms; reverted {s['reverted']}; daemon RSS "
        f"{s['rss_before_kib'] / 1024:.1f} MiB before the revert)"
    )
    grew = (b["peak_rss_kib"] - b["rss_before_kib"]) / 1024
    print(
        f"big file: {b['mib']} MiB {'/'.join(b['actions'])} in {b['revert_s'] * 1000:.0f} ms, "
        f"daemon peak RSS {b['peak_rss_kib'] / 1024:.1f} MiB (+{grew:.1f} MiB during it), "
        f"content back: {b['restored']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--changed", type=int, default=1000)
    parser.add_argument("--big-mib", type=int, default=100)
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    figures = asyncio.run(run(args))
    report(figures)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
