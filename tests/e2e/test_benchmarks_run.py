"""The benchmarks still run: each on a tiny input, through the real daemon, so none can rot."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from asyncio.subprocess import PIPE
from pathlib import Path

import pytest

from tests.helpers import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]

REPO = Path(__file__).resolve().parents[2]


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")  # exited, not yet reaped by its parent (init)


async def test_shared_daemon_benchmark_runs_and_stops_its_daemon(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    cmd = [sys.executable, "-m", "benchmarks.shared_daemon", "--files", "300", "--repeat", "1"]
    proc = await asyncio.create_subprocess_exec(
        *cmd, "--json", str(out), cwd=REPO, stdout=PIPE, stderr=PIPE
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, stderr.decode()
    figures = json.loads(out.read_text())

    cases = figures["cases"]
    for case in (
        "snapd diff --stat",
        "git status --porcelain",
        "snapd snapshot -m x",
        "git add -A && git write-tree",
        "snapd log [python -m snapd_client]",
        "git log -1",
    ):
        match = [name for name in cases if case in name]
        assert match, f"no figures for {case}: {sorted(cases)}"
        assert all(cases[name]["samples"] and cases[name]["median"] > 0 for name in match)
    assert set(figures["ratios"]) == {"diff/status", "snapshot/add+write-tree"}
    assert "files 301" in figures["last_snapshot_output"]  # and the tree's .snapd.toml
    # The timed snapshot recorded the edit (no automatic snapshot took it first).
    assert figures["snapshot_changed"] == [1]
    phases = figures["log_phases"]
    assert {"connect+initialize", "snapshots request(s)"} <= set(phases)
    assert figures["log_imports"]["modules"] > 0
    assert any(name == "snapd_client" for name, _ in figures["log_imports"]["packages"])
    for key in ("rss_idle_kib", "rss_clients_kib"):
        assert figures[key]["VmRSS"] > 0 and figures[key]["VmHWM"] > 0

    # It stopped the daemon it started, and left nothing behind.
    assert figures["daemon_stopped"] == figures["daemon_pid"]
    await eventually(lambda: gone(figures["daemon_pid"]), "the benchmark's daemon to exit")
    assert not os.path.exists(figures["tmp"])
    assert "snapd diff --stat / git status --porcelain" in stdout.decode()


@pytest.mark.parametrize("source", [None, "clients/snapd_client"])
async def test_tree_scale_benchmark_runs_every_case(source: str | None) -> None:
    cmd = [sys.executable, "benchmarks/tree_scale.py", "--files", "300"]
    if source is not None:
        cmd += ["--source", str(REPO / source)]
    proc = await asyncio.create_subprocess_exec(*cmd, cwd=REPO, stdout=PIPE, stderr=PIPE)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=300)
    assert proc.returncode == 0, stderr.decode()
    text = stdout.decode()
    for case in (
        "initial snapshot",
        "edit 1 file",
        "touch ",
        "reconcile, after touch",
        "reconcile, no change",
        "cold start + diff",
    ):
        assert f"\n{case}" in text, text
    assert "peak RSS: snapd" in text
    # The no-change reconcile recorded nothing, and the cold start's diff was empty.
    assert "reconciled, created False" in text, text
    assert "diff 0 files" in text, text


async def test_revert_benchmark_runs_and_both_reverts_give_the_tree_back(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    cmd = [sys.executable, "-m", "benchmarks.revert_scale", "--files", "200", "--changed", "20"]
    proc = await asyncio.create_subprocess_exec(
        *cmd, "--big-mib", "2", "--json", str(out), cwd=REPO, stdout=PIPE, stderr=PIPE
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, stderr.decode()
    figures = json.loads(out.read_text())
    # Both reverts were checked against the `from` tree with git before these were written.
    assert figures["snapd"]["reverted"] == 20 and figures["snapd"]["failed"] == 0
    for side in ("snapd", "git_apply_R"):
        assert figures[side]["revert_s"] > 0 and figures[side]["peak_rss_kib"] > 0
    big = figures["big"]
    assert big["actions"] == ["revert"] and big["restored"] is True
    assert not os.path.exists(figures["tmp"])
    assert "git apply -R" in stdout.decode()
