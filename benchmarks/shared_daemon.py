"""Shared-daemon benchmark: the `snapd` command line against a warm daemon, and git, per edit.

Builds a synthetic tree (default 100,000 files; :func:`tree_scale.build_tree`) that is also a
real git repository (``git init``, ``add``, ``commit`` in the tree itself), plus a sidecar
GIT_DIR for the ``git add -A && git write-tree`` baseline. Starts the worktree's shared daemon
(``snapd daemon start``) in a private ``XDG_RUNTIME_DIR`` and ``XDG_DATA_HOME`` (the user's
daemons are untouched), takes the first snapshot, then repeats (``--repeat``, default 7):

1. edit one file;
2. ``snapd diff --stat`` then ``snapd snapshot -m x``, each a real ``snapd`` process with stdout
   to a pipe. The daemon keeps its defaults (the watcher on) but for automatic snapshots,
   turned off in the tree's ``.snapd.toml`` (``--auto-snapshots`` keeps them on): one taken
   in the middle of a measurement would share the two cores with it, and record the edit that
   the timed snapshot should;
3. once the daemon is idle again: ``git status --porcelain`` in the tree, and
   ``git add -A && git write-tree`` on the sidecar GIT_DIR;
4. ``snapd log`` (through the console script and through ``python -m snapd_client``) and
   ``git log -1`` for scale.

Then it breaks ``snapd log`` down into phases (interpreter start, imports from ``python -X
importtime``, connect + initialize, the requests, close, timed in-process against the warm
daemon), reads the daemon's VmRSS and VmHWM idle and with 16 connected clients, and stops the
daemon (``snapd daemon stop``).

Targets (issue 15): ``snapd diff --stat`` <= 1.0x ``git status --porcelain``; ``snapd
snapshot -m x`` <= 1.0x ``git add -A && git write-tree``; ``snapd log`` < 0.15 s.

Run from the repository root: python -m benchmarks.shared_daemon [--files N] [--repeat 7]
[--keep] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.big_hunks import reset_peak
from benchmarks.tree_scale import build_tree, git_env
from snapd_client import AsyncClient

CLIENTS = 16
"""Clients connected at once for the RSS figure."""

TARGETS = {"diff": 1.0, "snapshot": 1.0, "log": 0.15}
"""Issue 15: ratios to git for diff and snapshot, seconds for log."""

Command = list[str]


def proc_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (KiB) of ``pid`` from /proc."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key = line.split(":", 1)[0]
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(line.split()[1])
    return found


def cpu_ticks(pid: int) -> int:
    """User + system CPU time of ``pid`` in clock ticks (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def settle(pid: int, *, quiet_s: float = 0.4, limit_s: float = 60.0) -> float:
    """Wait until the daemon burns (almost) no CPU for ``quiet_s``; the seconds waited.

    The daemon takes automatic snapshots and collects in the background; a git baseline timed
    while it works would share the two cores with it.
    """
    t0 = time.monotonic()
    last = cpu_ticks(pid)
    while time.monotonic() - t0 < limit_s:
        time.sleep(quiet_s)
        now = cpu_ticks(pid)
        if now - last <= 1:
            break
        last = now
    return time.monotonic() - t0


def timed(cmd: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, str]:
    """Wall seconds of ``cmd`` (stdout to a pipe) and its stdout; a failure stops the run."""
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed, done.stdout


class Samples:
    """Wall times per case, in seconds, in the order taken."""

    def __init__(self) -> None:
        self.cases: dict[str, list[float]] = defaultdict(list)

    def add(self, case: str, seconds: float) -> None:
        self.cases[case].append(seconds)

    def median(self, case: str) -> float:
        return statistics.median(self.cases[case])

    def min(self, case: str) -> float:
        return min(self.cases[case])

    def summary(self) -> dict[str, dict[str, Any]]:
        return {
            case: {"median": self.median(case), "min": self.min(case), "samples": values}
            for case, values in self.cases.items()
        }


def private_env(tmp: Path) -> tuple[Path, dict[str, str]]:
    """A runtime directory (0700) and an environment that reach no daemon of the user's."""
    runtime = Path(tempfile.mkdtemp(prefix="snapd-rt-"))  # short: a socket path is ~104 bytes
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "XDG_", "SNAPD_"))}
    env |= {
        "XDG_RUNTIME_DIR": str(runtime),
        "XDG_DATA_HOME": str(tmp / "data"),
        "SNAPD_IDLE_TIMEOUT": "1800",  # the first snapshot of a big tree may leave long gaps
        "NO_COLOR": "1",
    }
    return runtime, env


def git_repo(root: Path, home: Path) -> dict[str, str]:
    """Make ``root`` a git repository with one commit (of all it holds); the environment for git."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env |= {"GIT_CONFIG_NOSYSTEM": "1", "HOME": str(home)}
    # No automatic gc after the commit: git would repack 100,000 loose objects in the
    # background while the measurements run.
    ident = ["-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "-c", "gc.auto=0"]
    for args in (["init", "-q"], ["add", "-A"], [*ident, "commit", "-q", "-m", "tree"]):
        subprocess.run(["git", *args], check=True, cwd=root, env=env)
    return env


def importtime_top(stderr: str, n: int = 8) -> dict[str, Any]:
    """Total import seconds, and the ``n`` costliest top-level packages and modules (self time).

    ``python -X importtime`` prints ``import time: self | cumulative | name`` per module, nested
    modules indented under the one importing them.
    """
    per_package: dict[str, int] = defaultdict(int)
    per_module: dict[str, int] = {}
    total = 0
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|", 2)
        if not self_us.strip().isdigit():
            continue  # the header line
        module = name.strip()
        per_package[module.split(".")[0]] += int(self_us)
        per_module[module] = int(self_us)
        if name[1:2] != " ":  # a module imported at top level: its cumulative time counts once
            total += int(cumulative_us)

    def top(costs: dict[str, int]) -> list[tuple[str, float]]:
        return [(k, us / 1e6) for k, us in sorted(costs.items(), key=lambda kv: -kv[1])[:n]]

    return {
        "total": total / 1e6,
        "modules": len(per_module),
        "packages": top(per_package),
        "top_modules": top(per_module),
    }


def snapd_commands() -> dict[str, Command]:
    """The ways to run the command line: the console script (when installed) and ``-m``."""
    ways = {"python -m snapd_client": [sys.executable, "-m", "snapd_client"]}
    script = Path(sys.executable).parent / "snapd"
    if script.exists():
        ways = {"snapd (console script)": [str(script)], **ways}
    return ways


def log_phases(root: Path, repeat: int) -> dict[str, float]:
    """Median seconds of ``snapd log``'s client-side phases, in-process (imports already warm).

    As the command runs them: a blocking session (snapd_client.cli.fast), pages of
    ``snapd/snapshots``, then shutdown.
    """
    from snapd_client._blocking import BlockingSession
    from snapd_client.cli.fast import pages

    phases = Samples()
    for _ in range(repeat):
        t0 = time.perf_counter()
        session = BlockingSession.connect(root, None, env=os.environ, client_name="bench")
        t1 = time.perf_counter()
        for _page in pages(session.request, "snapd/snapshots", {}):
            pass
        t2 = time.perf_counter()
        session.close()
        t3 = time.perf_counter()
        phases.add("connect+initialize", t1 - t0)
        phases.add("snapshots request(s)", t2 - t1)
        phases.add("shutdown+close", t3 - t2)
    return {case: phases.median(case) for case in phases.cases}


async def many_clients(root: Path, pid: int, n: int) -> dict[str, int]:
    """The daemon's VmRSS and VmHWM while ``n`` clients are connected (after their requests)."""

    async def one(i: int) -> AsyncClient:
        client = await AsyncClient.connect(root, client_name=f"bench-{i}")
        await client.status()
        await client.snapshots()
        return client

    clients = await asyncio.gather(*(one(i) for i in range(n)))
    try:
        return proc_kib(pid)
    finally:
        await asyncio.gather(*(c.close() for c in clients))


def run(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="snapd-shared-"))
    runtime, env = private_env(tmp)
    # In-process clients (the phases, the 16 clients) find the daemon through os.environ.
    os.environ.clear()
    os.environ.update(env)
    root = (tmp / "tree").resolve()
    ways = snapd_commands()
    snapd = next(iter(ways.values()))
    result: dict[str, Any] = {"files": args.files, "repeat": args.repeat, "cpus": os.cpu_count()}
    pid: int | None = None
    try:
        t0 = time.perf_counter()
        paths = build_tree(root, args.files)
        old = time.time() - 3600  # nothing racily clean for either tool
        for p in paths:
            os.utime(p, (old, old))
        print(f"built {len(paths)} files in {time.perf_counter() - t0:.1f}s under {root}")
        if not args.auto_snapshots:
            (root / ".snapd.toml").write_text("autoSnapshot = false\n")
        result["auto_snapshots"] = args.auto_snapshots
        t0 = time.perf_counter()
        in_tree = git_repo(root, tmp)
        sidecar = tmp / "sidecar.git"
        subprocess.run(["git", "init", "-q", "--bare", str(sidecar)], check=True)
        side = git_env(sidecar, root)
        subprocess.run(["git", "add", "-A"], check=True, cwd=root, env=side)
        print(f"git init/add/commit and the sidecar's first add: {time.perf_counter() - t0:.1f}s")

        started, out = timed([*snapd, "daemon", "start", "--json"], root, env)
        pid = result["daemon_pid"] = int(json.loads(out)["pid"])
        first, _ = timed([*snapd, "snapshot", "-m", "first"], root, env)
        result["daemon_start_s"], result["first_snapshot_s"] = started, first
        print(f"daemon {pid} started in {started:.2f}s; first snapshot {first:.1f}s")
        settle(pid)
        result["rss_after_first_snapshot_kib"] = proc_kib(pid)

        samples = Samples()
        rng = random.Random(5)
        for i in range(args.repeat):
            settle(pid)
            target = rng.choice(paths)
            with target.open("ab") as fh:
                fh.write(f"edit {i}\n".encode())
            samples.add("snapd diff --stat", timed([*snapd, "diff", "--stat"], root, env)[0])
            elapsed, out = timed([*snapd, "snapshot", "-m", "x"], root, env)
            samples.add("snapd snapshot -m x", elapsed)
            result["last_snapshot_output"] = out.strip()
            changed = re.search(r"\bchanged (\d+)", out)
            result.setdefault("snapshot_changed", []).append(int(changed[1]) if changed else -1)
            settle(pid)
            git_status = ["git", "status", "--porcelain"]
            samples.add("git status --porcelain", timed(git_status, root, in_tree)[0])
            t0 = time.perf_counter()
            timed(["git", "add", "-A"], root, side)
            timed(["git", "write-tree"], root, side)
            samples.add("git add -A && git write-tree", time.perf_counter() - t0)
            for way, cmd in ways.items():
                samples.add(f"snapd log [{way}]", timed([*cmd, "log"], root, env)[0])
            samples.add("git log -1", timed(["git", "log", "-1"], root, in_tree)[0])
            print(f"repeat {i + 1}/{args.repeat} done")
        result["cases"] = samples.summary()
        result["loadavg_after_repeats"] = os.getloadavg()
        diff_ratio = samples.median("snapd diff --stat") / samples.median("git status --porcelain")
        snap_ratio = samples.median("snapd snapshot -m x") / samples.median(
            "git add -A && git write-tree"
        )
        result["ratios"] = {"diff/status": diff_ratio, "snapshot/add+write-tree": snap_ratio}

        # Where `snapd log`'s time goes.
        start = [timed([sys.executable, "-c", "pass"], root, env)[0] for _ in range(args.repeat)]
        traced = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "snapd_client", "log"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        imports = importtime_top(traced.stderr)
        phases = {"interpreter start (python -c pass)": statistics.median(start)}
        phases["imports (-X importtime total)"] = imports["total"]
        phases |= log_phases(root, args.repeat)
        result["log_phases"], result["log_imports"] = phases, imports

        settle(pid)
        result["rss_idle_kib"] = proc_kib(pid)
        reset = reset_peak(pid)
        result["rss_clients_kib"] = asyncio.run(many_clients(root, pid, CLIENTS))
        result["rss_clients_peak_reset"] = reset
        report(result, ways)
    finally:
        if pid is not None:
            stop = subprocess.run(
                [*snapd, "daemon", "stop", "--json"],
                cwd=root,
                env=env,
                capture_output=True,
                text=True,
            )
            print(f"daemon stop: {stop.stdout.strip() or stop.stderr.strip()}")
            if stop.returncode == 0:
                result["daemon_stopped"] = json.loads(stop.stdout)["stopped"]
        shutil.rmtree(runtime, ignore_errors=True)
        result["tmp"] = str(tmp)
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return result


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def mib(kib: int) -> str:
    return f"{kib / 1024:.1f} MiB"


def report(result: dict[str, Any], ways: dict[str, Command]) -> None:
    cases: dict[str, dict[str, Any]] = result["cases"]
    print(
        f"\n{result['files']} files, {result['repeat']} repeats, {result['cpus']} CPUs; "
        "wall time of each process, stdout to a pipe; automatic snapshots "
        + ("on" if result["auto_snapshots"] else "off")
        + "; load average after the repeats "
        + " ".join(f"{x:.1f}" for x in result["loadavg_after_repeats"])
    )
    print(f"{'case':<44} {'median':>10} {'min':>10}")
    for case, row in cases.items():
        print(f"{case:<44} {ms(row['median']):>10} {ms(row['min']):>10}")

    def ratio(a: str, b: str, target: float) -> None:
        med = cases[a]["median"] / cases[b]["median"]
        low = cases[a]["min"] / cases[b]["min"]
        verdict = "MET" if med <= target else "MISSED"
        print(f"  {a} / {b}: {med:.2f}x (mins {low:.2f}x), target <= {target}x: {verdict}")

    print("\nsame-run ratios (snapd / git: < 1 means snapd is faster)")
    ratio("snapd diff --stat", "git status --porcelain", TARGETS["diff"])
    ratio("snapd snapshot -m x", "git add -A && git write-tree", TARGETS["snapshot"])
    for way in ways:
        med = cases[f"snapd log [{way}]"]["median"]
        verdict = "MET" if med < TARGETS["log"] else "MISSED"
        print(f"  snapd log [{way}]: {ms(med)}, target < {ms(TARGETS['log'])}: {verdict}")

    print("\nsnapd log, by phase (medians; the last three in-process against the warm daemon)")
    for phase, seconds in result["log_phases"].items():
        print(f"  {phase:<42} {seconds * 1000:>8.1f} ms")
    wall = cases["snapd log [python -m snapd_client]"]["median"]
    rest = wall - sum(result["log_phases"].values())
    print(f"  {'the rest (asyncio.run, output, exit...)':<42} {rest * 1000:>8.1f} ms")
    print(f"  {'= wall of python -m snapd_client log':<42} {wall * 1000:>8.1f} ms")
    imports = result["log_imports"]
    print(f"  imports: {imports['modules']} modules (one -X importtime run of `snapd log`)")
    for title, key in (("package", "packages"), ("module", "top_modules")):
        print(f"  import self time by {title}, top {len(imports[key])}:")
        for name, seconds in imports[key]:
            print(f"    {name:<40} {seconds * 1000:>8.1f} ms")

    idle, busy = result["rss_idle_kib"], result["rss_clients_kib"]
    print("\ndaemon memory (/proc/PID/status)")
    print(
        f"  idle:            VmRSS {mib(idle['VmRSS'])}, VmHWM {mib(idle['VmHWM'])} (since start)"
    )
    since = "since the reset" if result["rss_clients_peak_reset"] else "since start"
    who = f"{CLIENTS} clients:"
    print(f"  {who:<16} VmRSS {mib(busy['VmRSS'])}, VmHWM {mib(busy['VmHWM'])} ({since})")
    print(f"\nlast `snapd snapshot -m x` said: {result['last_snapshot_output']}")
    print(
        f"files changed per timed snapshot: {result['snapshot_changed']} (1: it recorded the "
        "edit; 0: an automatic snapshot had taken it first)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the tree and the store")
    parser.add_argument(
        "--auto-snapshots", action="store_true", help="leave the daemon's automatic snapshots on"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the figures here")
    args = parser.parse_args()
    # `kill PID` stops the daemon and removes the temp dirs too (run()'s finally).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    result = run(args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
