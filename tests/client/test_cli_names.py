"""Snapshot names on the command line (issue 18): the real ``snapd`` in a real worktree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import write


def snapd(root: Path, store: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "snapd_client", "--root", str(root), "--store", str(store)]
    cmd += ["--standalone", "--no-pager", "--color", "never"]
    return subprocess.run([*cmd, *argv], capture_output=True, text=True, check=False)


@pytest.mark.e2e
def test_labels_and_latest_n_name_snapshots_in_the_cli(worktree: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    ids = []
    for i, label in enumerate(["turn 1", "turn 2", "again", "again"]):
        write(worktree, "src/main.txt", f"version {i}\n")
        proc = snapd(worktree, store, "--json", "snapshot", "-m", label)
        assert proc.returncode == 0, proc.stderr
        ids.append(proc.stdout.split('"id": "')[1][:40])
    proc = snapd(worktree, store, "diff", "turn 1", "turn 2")
    assert proc.returncode == 0, proc.stderr
    assert "-version 0\n+version 1\n" in proc.stdout
    proc = snapd(worktree, store, "hunks", "src/main.txt", "--from", "latest~3", "--to", "turn 2")
    assert proc.returncode == 0 and "-version 0\n+version 1" in proc.stdout, proc.stderr
    proc = snapd(worktree, store, "--json", "pin", "latest~2")
    assert proc.returncode == 0 and ids[1] in proc.stdout, proc.stderr
    proc = snapd(worktree, store, "restore", "turn 1", "--", "src/main.txt")
    assert proc.returncode == 0 and "src/main.txt" in proc.stdout, proc.stderr
    proc = snapd(worktree, store, "diff", "again")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "ambiguous" in proc.stderr
    assert ids[2][:12] in proc.stderr and ids[3][:12] in proc.stderr
