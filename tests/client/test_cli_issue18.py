"""Issue 18 on the command line: ``log`` marks, ``explain`` in skipped directories, forced
restores. The real ``snapd`` runs in a real worktree."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from snapd_client.cli.fast import log_marks
from tests.helpers import write


def snapd(root: Path, store: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "snapd_client", "--root", str(root), "--store", str(store)]
    cmd += ["--standalone", "--no-pager", "--color", "never"]
    return subprocess.run([*cmd, *argv], capture_output=True, text=True, check=False)


def test_log_marks() -> None:
    assert log_marks({"id": "a"}) == []
    assert log_marks({"auto": True, "pinned": True}) == ["pinned", "auto"]
    assert log_marks({"label": "turn 3"}) == ["labelled"]
    assert log_marks({"label": "before restore from 0123456789ab", "safety": True}) == ["safety"]


@pytest.mark.e2e
def test_log_marks_pinned_safety_and_labelled_snapshots(worktree: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert snapd(worktree, store, "snapshot", "-m", "base").returncode == 0
    write(worktree, "src/main.txt", "edited\n")
    assert snapd(worktree, store, "snapshot").returncode == 0
    write(worktree, "src/main.txt", "edited again\n")
    proc = snapd(worktree, store, "restore", "base", "--apply")
    assert proc.returncode == 0, proc.stderr
    assert (worktree / "src" / "main.txt").read_text() == "hello\n"
    assert snapd(worktree, store, "pin", "latest~1").returncode == 0
    summaries = json.loads(snapd(worktree, store, "--json", "log").stdout)
    assert [s.get("safety", False) for s in summaries] == [True, False, False]
    assert [s.get("pinned", False) for s in summaries] == [False, True, False]
    lines = snapd(worktree, store, "log").stdout.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(f"{summaries[0]['id'][:12]} (safety)  ")
    assert lines[0].endswith(f"before restore from {summaries[2]['id'][:12]}")
    assert lines[1].startswith(f"{summaries[1]['id'][:12]} (pinned)  ")
    assert lines[2].startswith(f"{summaries[2]['id'][:12]} (labelled)  ")
    assert lines[2].endswith("base")


@pytest.mark.e2e
def test_explain_inside_a_skipped_directory_says_it_exists(worktree: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    subprocess.run(["git", "init", "-q", str(worktree)], check=True)
    write(worktree, "build/CMakeCache.txt", "CMAKE_BUILD_TYPE:STRING=Debug\n")
    write(worktree, "build/CMakeFiles/deep/log.yaml", "x: 1\n")
    outside = tmp_path / "outside"
    write(outside, "secret.txt", "s\n")
    (worktree / "build" / "link").symlink_to(outside)
    proc = snapd(worktree, store, "explain", "build/CMakeCache.txt")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "build/CMakeCache.txt: skipped"
    assert "  rule      build-dir" in lines
    assert "  inside    build/ (skipped directory)" in lines
    assert "  exists    yes (file, 30 B)" in lines
    assert not any("judged by its name" in line for line in lines)
    proc = snapd(worktree, store, "explain", ".git/config")
    assert "  rule      git-dir" in proc.stdout and "  exists    yes (file, " in proc.stdout
    assert "  inside    .git/ (skipped directory)" in proc.stdout

    def explained(path: str) -> dict[str, object]:
        proc = snapd(worktree, store, "--json", "explain", path)
        assert proc.returncode == 0, proc.stderr
        result: dict[str, object] = json.loads(proc.stdout)
        return result

    deep = explained("build/CMakeFiles/deep/log.yaml")
    assert deep["exists"] is True and deep["kind"] == "file" and deep["size"] == 5
    assert deep["skippedAncestor"] == "build" and deep["rule"] == "build-dir"
    missing = explained("build/nothere.txt")
    assert missing["exists"] is False and missing["skippedAncestor"] == "build"
    assert "judged by its name" not in snapd(worktree, store, "explain", "build/no").stdout
    through_link = explained("build/link/secret.txt")  # never looked at through a symlink
    assert through_link["exists"] is False and "size" not in through_link
    plain = explained("build")
    assert plain["exists"] is True and "skippedAncestor" not in plain


@pytest.mark.e2e
def test_a_forced_restore_says_before_apply_that_the_content_is_lost_for_good(
    worktree: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    write(worktree, ".snapd.toml", "contentLimit = 1000\n")
    write(worktree, "big.txt", "small at first\n")
    assert snapd(worktree, store, "snapshot", "-m", "base").returncode == 0
    write(worktree, "big.txt", "x" * 5000)  # over the limit: never captured
    write(worktree, "src/main.txt", "edited\n")
    proc = snapd(worktree, store, "restore", "base")
    assert proc.returncode == 0, proc.stderr
    assert "lost for good" not in proc.stdout  # nothing forced: the safety snapshot has it all
    proc = snapd(worktree, store, "restore", "base", "--force", "big.txt")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    big = next(line for line in lines if "big.txt" in line)
    assert big.split()[:2] == ["write", "big.txt"]
    assert big.endswith("(forced: its current content was never captured: lost for good)")
    main = next(line for line in lines if "src/main.txt" in line)
    assert "forced" not in main and "lost" not in main
    assert (
        "warning: 1 forced path: content never captured, which no snapshot holds: the safety "
        "snapshot cannot bring it back, it is lost for good" in lines
    )
    assert lines[-1] == "run again with --apply to apply it"
    assert (worktree / "big.txt").read_text() == "x" * 5000  # the plan wrote nothing
    help_text = snapd(worktree, store, "restore", "--help").stdout
    assert "lost for good" in " ".join(help_text.split())


@pytest.mark.e2e
def test_undo_takes_snapshot_names_within_its_session(worktree: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    ids = []
    for i, (label, session) in enumerate(
        [("start", "agent"), ("turn", "agent"), ("turn", "agent"), ("mine", "user")]
    ):
        write(worktree, f"f{i}.txt", f"{i}\n")
        proc = snapd(worktree, store, "--json", "snapshot", "-m", label, "--session", session)
        assert proc.returncode == 0, proc.stderr
        ids.append(json.loads(proc.stdout)["id"])

    def step(*argv: str) -> tuple[str, str]:
        proc = snapd(worktree, store, "--json", "undo", *argv)
        assert proc.returncode == 0, proc.stderr
        paths = [a["path"] for a in json.loads(proc.stdout)["plan"]]
        assert len(paths) == 1
        return paths[0], proc.stdout

    assert step("mine")[0] == "f3.txt"  # a label
    assert step("latest~1")[0] == "f2.txt"  # the one before the newest
    assert step("latest~1", "--session", "agent")[0] == "f1.txt"  # within the session
    assert step(ids[1][:10])[0] == "f1.txt"  # an id prefix
    proc = snapd(worktree, store, "undo", "turn", "--session", "agent")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "'turn' is ambiguous: 2 snapshots of session agent have this label: " in proc.stderr
    assert ids[1][:12] in proc.stderr and ids[2][:12] in proc.stderr
    proc = snapd(worktree, store, "undo", "latest~3", "--session", "agent")
    assert proc.returncode == 1
    assert "no snapshot latest~3 of session agent: nothing to undo" in proc.stderr
    proc = snapd(worktree, store, "undo", "start", "--session", "agent")
    assert proc.returncode == 1 and "is the first of session agent" in proc.stderr
