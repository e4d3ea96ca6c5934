"""Issue 18, defect 8: the daemon's flags on the command line, its log kept, Ctrl-C, an empty
``log`` and a ``--root`` that is a file. The real ``snapd`` runs in a real worktree."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import write


def snapd(root: Path, store: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "snapd_client", "--root", str(root), "--store", str(store)]
    cmd += ["--no-pager", "--color", "never"]
    return subprocess.run([*cmd, *argv], capture_output=True, text=True, check=False)


@pytest.mark.e2e
def test_daemon_flags_before_and_after_the_command(worktree: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    write(worktree, "big.bin", b"x" * 4096)
    log = tmp_path / "logs" / "daemon.log"
    log.parent.mkdir()
    proc = snapd(worktree, store, "--content-limit", "0.001", "--standalone", "explain", "big.bin")
    assert proc.returncode == 0, proc.stderr
    assert "big.bin: skipped" in proc.stdout and "size" in proc.stdout
    after = ["--standalone", "-vv", "--log-file", str(log)]
    proc = snapd(worktree, store, "explain", "big.bin", *after)
    assert proc.returncode == 0, proc.stderr
    assert "big.bin: captured" in proc.stdout
    assert "DEBUG" in log.read_text()  # -vv reached the daemon, and its log is still there
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    cmd = [sys.executable, "-m", "snapd_client", "--root", str(worktree), "--store", str(store)]
    proc = subprocess.run(
        [*cmd, "--standalone", "-v", "status"], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    kept = list((runtime / "snapd").glob("*.standalone.log"))  # without --log-file: kept
    assert len(kept) == 1 and "INFO" in kept[0].read_text()


@pytest.mark.e2e
def test_log_without_snapshots_says_so(worktree: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    proc = snapd(worktree, store, "--standalone", "log")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "no snapshots yet\n", "")
    proc = snapd(worktree, store, "--standalone", "log", "--session", "s1")
    assert proc.stdout == "no snapshots yet in session s1\n"
    assert json.loads(snapd(worktree, store, "--standalone", "--json", "log").stdout) == []


def test_root_that_is_a_file_is_a_sentence(worktree: Path, tmp_path: Path) -> None:
    proc = snapd(worktree / "src" / "main.txt", tmp_path / "store", "log")
    assert proc.returncode == 1
    assert proc.stderr == f"snapd: --root: not a directory: {worktree / 'src' / 'main.txt'}\n"
    proc = snapd(worktree / "nowhere", tmp_path / "store", "log")
    assert proc.stderr == f"snapd: --root: no such directory: {worktree / 'nowhere'}\n"


def _initialize(proc: subprocess.Popen[bytes], root: Path) -> None:
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"processId": None, "rootUri": root.as_uri(), "capabilities": {}},
        }
    ).encode()
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    proc.stdin.flush()
    length = 0
    while (line := proc.stdout.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    answer = json.loads(proc.stdout.read(length))
    assert answer["id"] == 1 and "result" in answer, answer


@pytest.mark.e2e
@pytest.mark.parametrize("mode", [["--standalone"], []], ids=["standalone", "forwarding"])
def test_ctrl_c_on_stdio_exits_quietly(worktree: Path, tmp_path: Path, mode: list[str]) -> None:
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path / "run")}
    (tmp_path / "run").mkdir(mode=0o700)
    cmd = [sys.executable, "-m", "snapd_client", "--stdio", "--store", str(tmp_path / "store")]
    proc = subprocess.Popen(
        [*cmd, *mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=worktree,
        env=env,
        # As at a terminal: a shell starts background jobs (CI's, say) with SIGINT ignored,
        # and the child would inherit that.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        _initialize(proc, worktree)  # serving: the signal lands in the loop, not at start-up
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    assert "Traceback" not in err.decode() and "KeyboardInterrupt" not in err.decode()
    if not mode:
        where = ["--root", str(worktree), "--store", str(tmp_path / "store")]
        subprocess.run(
            [*cmd[:3], *where, "daemon", "stop"],
            env=env,
            capture_output=True,
            check=False,
        )
