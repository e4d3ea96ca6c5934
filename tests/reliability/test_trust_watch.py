"""Issue 13 regressions: the watcher never lets an ``exact`` snapshot miss a change.

Each test drives the real daemon over pipes and checks a snapshot against the live worktree
(``snapd/diff`` from the snapshot to the live tree lists nothing when the snapshot is right).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import git, write
from tests.reliability.harness import RawDaemon

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/sys/fs/inotify"), reason="Linux only")


def _live_diff(daemon: RawDaemon, snapshot: str) -> list[dict[str, Any]]:
    """Every change between ``snapshot`` and the live worktree (all pages)."""
    files: list[dict[str, Any]] = []
    params: dict[str, Any] = {"from": snapshot, "limit": 10_000}
    while True:
        page = daemon.request("snapd/diff", params, timeout=120)["result"]
        files += page["files"]
        if not page.get("nextCursor"):
            return files
        params = {**params, "cursor": page["nextCursor"]}


def _snapshot(daemon: RawDaemon, **params: Any) -> dict[str, Any]:
    reply = daemon.request("snapd/snapshot", params, timeout=240)
    assert "result" in reply, reply
    result: dict[str, Any] = reply["result"]
    return result


def _consistency(result: dict[str, Any]) -> str:
    value: str = result.get("consistency", "reconciled")  # the default is left out
    return value


def _git(cwd: Path, *args: str) -> None:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(cwd.parent)}
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Any]:
    """Start daemons on demand (``spawn(root, store, options)``); all are killed afterwards."""
    started: list[RawDaemon] = []

    def start(root: Path, store: Path, options: dict[str, Any]) -> RawDaemon:
        daemon = RawDaemon.spawn(root, store, tmp_path / f"snapd{len(started)}.log")
        started.append(daemon)
        reply = daemon.initialize(options)
        assert "result" in reply, reply
        return daemon

    yield start
    for daemon in started:
        with_cont = daemon.proc.poll() is None
        if with_cont:
            os.kill(daemon.pid, signal.SIGCONT)
        daemon.kill()


# -- #3 ---------------------------------------------------------------------------------------


def _queue_limit() -> int:
    with open("/proc/sys/fs/inotify/max_queued_events") as fh:
        return int(fh.read())


@pytest.mark.fault(
    "#3 the kernel's inotify queue overflows while the daemon is stopped (SIGSTOP, more "
    "rewrites than max_queued_events): the next snapshot is not 'exact', it misses nothing",
    trials=1,
)
def test_an_inotify_queue_overflow_is_never_an_exact_snapshot(tmp_path: Path, spawn: Any) -> None:
    limit = _queue_limit()
    if limit > 200_000:
        pytest.skip(f"max_queued_events is {limit}: too many files to overflow it here")
    count = limit + 2_000  # each rewrite queues at least one event: the queue must overflow
    wt, store = tmp_path / "wt", tmp_path / "store"
    for i in range(count):
        write(wt, f"d{i % 40}/f{i}.txt", f"v1 {i}\n")
    daemon = spawn(wt, store, {"autoSnapshot": False})
    first = _snapshot(daemon)
    assert first["files"] == count
    os.kill(daemon.pid, signal.SIGSTOP)
    try:
        for i in range(count):
            (wt / f"d{i % 40}" / f"f{i}.txt").write_bytes(f"v2 {i}\n".encode())
    finally:
        os.kill(daemon.pid, signal.SIGCONT)
    second = _snapshot(daemon)
    assert _consistency(second) == "reconciled", second  # events were lost: it had to walk
    assert second["changed"] == count, second
    assert _live_diff(daemon, second["id"]) == []
    # The overflow is behind us: a later change is seen by an exact snapshot again.
    write(wt, "d0/f0.txt", "v3\n")
    third = _snapshot(daemon)
    assert (_consistency(third), third["changed"]) == ("exact", 1), third
    assert _live_diff(daemon, third["id"]) == []


# -- #6 ---------------------------------------------------------------------------------------


@pytest.mark.fault(
    "#6 a worktree whose path merely starts with the store's path, or that lies under a "
    "directory named .git: its events are seen and exact snapshots miss no change",
    trials=1,
)
@pytest.mark.parametrize("layout", ["store-prefix", "under-dot-git"])
def test_watcher_ignores_by_worktree_relative_component(
    tmp_path: Path, spawn: Any, layout: str
) -> None:
    if layout == "store-prefix":
        wt, store = tmp_path / "app-web", tmp_path / "app"
    else:
        wt, store = tmp_path / ".git" / "wt", tmp_path / "store"
    write(wt, "src/a.txt", "a\n")
    daemon = spawn(wt, store, {"autoSnapshot": False})
    _snapshot(daemon)
    write(wt, "src/a.txt", "edited\n")
    write(wt, "src/b.txt", "new\n")
    snap = _snapshot(daemon)
    assert snap["changed"] == 2, snap
    assert _consistency(snap) == "exact", snap
    assert _live_diff(daemon, snap["id"]) == []
    status = daemon.request("snapd/status")["result"]
    assert status["watchEvents"] >= 2, status


# -- #16 --------------------------------------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    wt = tmp_path / "wt"
    write(wt, ".gitignore", "*.log\nnotes.txt\n")
    write(wt, "src/main.py", "print('hi')\n")
    write(wt, "src/keep.log", "tracked although ignored\n")
    write(wt, "src/debug.log", "ignored, untracked\n")
    write(wt, "src/other.txt", "plain\n")
    _git(wt, "init", "-q")
    _git(wt, "add", ".gitignore", "src/main.py", "src/other.txt")
    _git(wt, "add", "-f", "src/keep.log")
    _git(wt, "commit", "-q", "-m", "init")
    return wt


def _paths(daemon: RawDaemon, a: str, b: str) -> dict[str, str]:
    files = daemon.request("snapd/diff", {"from": a, "to": b})["result"]["files"]
    return {f["path"]: f["status"] + ("/skipped" if f.get("skipped") else "") for f in files}


@pytest.mark.fault(
    "#16 git rm --cached / git add -f change what .gitignore ignores (tracked files are "
    "captured): the watcher reports .git/index changes, so exact snapshots follow them",
    trials=1,
)
def test_index_changes_are_policy_inputs(tmp_path: Path, repo: Path, spawn: Any) -> None:
    daemon = spawn(repo, tmp_path / "store", {"autoSnapshot": False})
    a = _snapshot(daemon)["id"]
    _git(repo, "rm", "-q", "--cached", "src/keep.log")  # now ignored: no longer captured
    _git(repo, "add", "-f", "src/debug.log")  # now tracked: captured
    b = _snapshot(daemon)
    assert _live_diff(daemon, b["id"]) == []
    assert set(_paths(daemon, a, b["id"])) == {"src/debug.log", "src/keep.log"}
    store = tmp_path / "store"
    assert git(store, "cat-file", "-e", f"{b['id']}:src/debug.log").returncode == 0
    assert git(store, "cat-file", "-e", f"{b['id']}:src/keep.log").returncode != 0
    # A later exact snapshot that lists src/ again must not resurrect a stale decision.
    write(repo, "src/other.txt", "edited\n")
    c = _snapshot(daemon)
    assert (_consistency(c), c["changed"]) == ("exact", 1), c
    assert _live_diff(daemon, c["id"]) == []
    assert _paths(daemon, b["id"], c["id"]) == {"src/other.txt": "modified"}


@pytest.mark.fault(
    "#16 an edit of .git/info/exclude changes what is ignored: the next snapshot follows it",
    trials=1,
)
def test_info_exclude_is_a_policy_input(tmp_path: Path, repo: Path, spawn: Any) -> None:
    write(repo, "src/scratch.txt", "captured until excluded\n")
    daemon = spawn(repo, tmp_path / "store", {"autoSnapshot": False})
    a = _snapshot(daemon)["id"]
    write(repo, ".git/info/exclude", "scratch.txt\n")
    b = _snapshot(daemon)
    assert _live_diff(daemon, b["id"]) == []
    assert "src/scratch.txt" in _paths(daemon, a, b["id"])
    write(repo, "src/other.txt", "edited\n")
    c = _snapshot(daemon)
    assert (_consistency(c), c["changed"]) == ("exact", 1), c
    assert _live_diff(daemon, c["id"]) == []


# -- #9 ---------------------------------------------------------------------------------------

QUIET_MS = 300


def _next_snapshot(daemon: RawDaemon, within_s: float) -> dict[str, Any] | None:
    """The next ``snapd/didSnapshot`` within ``within_s`` seconds, or None."""
    try:
        while True:
            msg = daemon.receive(within_s)
            if msg.get("method") == "snapd/didSnapshot":
                params: dict[str, Any] = msg["params"]
                return params
    except queue.Empty:
        return None


@pytest.mark.fault(
    "#9 an ignored log appended faster than the quiet period: the automatic snapshot of a "
    "real change still comes after one quiet period",
    trials=1,
)
def test_ignored_writes_do_not_delay_automatic_snapshots(tmp_path: Path, spawn: Any) -> None:
    wt = tmp_path / "wt"
    write(wt, ".gitignore", "*.log\n")
    write(wt, "src/app.py", "v1\n")
    write(wt, "app.log", "start\n")
    daemon = spawn(wt, tmp_path / "store", {"quietMs": QUIET_MS})
    _snapshot(daemon)
    write(wt, "src/app.py", "v2: the change an automatic snapshot must hold\n")
    snapped = None
    for i in range(40):  # 40 appends, each well inside the quiet period: 4 quiet periods
        with open(wt / "app.log", "a") as fh:
            fh.write(f"line {i}\n")
        snapped = _next_snapshot(daemon, QUIET_MS / 3 / 1000)
        if snapped is not None:
            break
    assert snapped is not None, "the ignored log kept postponing the automatic snapshot"
    assert snapped["auto"] is True and snapped["changed"] >= 1, snapped


@pytest.mark.fault(
    "#9 an ignored log appended after each quiet period: no automatic snapshot for it (no "
    "history flood that retention would pay for with real snapshots)",
    trials=1,
)
def test_ignored_writes_alone_take_no_automatic_snapshot(tmp_path: Path, spawn: Any) -> None:
    wt = tmp_path / "wt"
    write(wt, ".gitignore", "*.log\nbuild/\n")
    write(wt, "src/app.py", "v1\n")
    write(wt, "app.log", "start\n")
    write(wt, "build/out.o", "object\n")
    daemon = spawn(wt, tmp_path / "store", {"quietMs": QUIET_MS})
    _snapshot(daemon)
    for i in range(3):
        with open(wt / "app.log", "a") as fh:
            fh.write(f"line {i}\n")
        write(wt, "build/out.o", f"object {i}\n")
        snapped = _next_snapshot(daemon, 4 * QUIET_MS / 1000)
        assert snapped is None, f"an automatic snapshot of ignored files only: {snapped}"
    # A captured change next to them is snapshotted as usual, with them in its manifest.
    write(wt, "src/app.py", "v2\n")
    snapped = _next_snapshot(daemon, 30)
    assert snapped is not None and snapped["auto"] is True, snapped
    history = daemon.request("snapd/snapshots")["result"]["snapshots"]
    assert len(history) == 2, history
    assert _live_diff(daemon, snapped["id"]) == []
