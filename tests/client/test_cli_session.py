"""``snapd snapshot --session S`` and ``snapd log --session S`` against a real daemon."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from snapd_client import cli
from tests.helpers import write


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.e2e
@pytest.mark.parametrize("standalone", [False, True])
def test_log_lists_one_session(
    worktree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], standalone: bool
) -> None:
    base = ["--root", str(worktree), "--store", str(tmp_path / "store")]
    if standalone:
        base.append("--standalone")
    ids = []
    for i, session in enumerate(["agent-a", None, "agent-a", "agent-b"]):
        write(worktree, "a.txt", f"{i}\n")
        extra = ["--session", session] if session else []
        code, out, err = run_cli(capsys, *base, "--json", "snapshot", "-m", f"s{i}", *extra)
        assert code == 0, err
        doc = json.loads(out)
        assert doc.get("session") == session
        ids.append(doc["id"])
    code, out, err = run_cli(capsys, *base, "log", "--session", "agent-a")
    assert code == 0, err
    lines = out.splitlines()
    assert [line[:12] for line in lines] == [ids[2][:12], ids[0][:12]]
    assert all("[agent-a]" in line for line in lines)
    code, out, err = run_cli(capsys, *base, "--json", "log", "--session", "agent-b")
    assert [s["id"] for s in json.loads(out)] == [ids[3]]
    code, out, err = run_cli(capsys, *base, "log")
    assert len(out.splitlines()) == 4


@pytest.mark.e2e
def test_undo_prints_the_plan_and_applies_only_with_apply(
    worktree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--root", str(worktree), "--store", str(tmp_path / "store"), "--no-pager"]
    body = "".join(f"line {i}\n" for i in range(20))
    write(worktree, "x.txt", body)
    write(worktree, "c.txt", body)
    assert run_cli(capsys, *base, "snapshot", "--session", "agent")[0] == 0
    write(worktree, "x.txt", body.replace("line 2\n", "agent 2\n"))
    write(worktree, "c.txt", body.replace("line 9\n", "agent 9\n"))
    write(worktree, "new.txt", "agent\n")
    assert run_cli(capsys, *base, "snapshot", "--session", "agent")[0] == 0
    # Another session's step comes after: --session picks the agent's.
    write(worktree, "x.txt", body.replace("line 2\n", "agent 2\n").replace("line 15\n", "me\n"))
    write(worktree, "c.txt", body.replace("line 9\n", "mine 9\n"))
    assert run_cli(capsys, *base, "snapshot", "--session", "user")[0] == 0

    code, out, err = run_cli(capsys, *base, "undo", "--session", "agent")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("undo plan (dry run) of ")
    assert any(line.split()[:2] == ["merge", "x.txt"] for line in lines)
    assert any(line.split()[:2] == ["revert", "new.txt"] for line in lines)
    assert any(line.split()[:2] == ["conflict", "c.txt"] for line in lines)
    assert "      -line 9" in lines and "      +agent 9" in lines  # the step's hunk that stays
    assert "1 path to revert, 1 to merge, 1 in conflict (left alone), 0 kept" in lines
    assert (worktree / "new.txt").exists()

    code, out, err = run_cli(capsys, *base, "--json", "undo", "--session", "agent", "--apply")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["applied"] and doc["safetySnapshot"]
    assert [(a["path"], a["action"]) for a in doc["plan"]] == [
        ("c.txt", "conflict"),
        ("new.txt", "revert"),
        ("x.txt", "merge"),
    ]
    assert (worktree / "x.txt").read_text() == body.replace("line 15\n", "me\n")
    assert (worktree / "c.txt").read_text() == body.replace("line 9\n", "mine 9\n")
    assert not (worktree / "new.txt").exists()

    code, out, err = run_cli(capsys, *base, "undo", "--session", "nobody")
    assert code == 1 and "no snapshot of session nobody: nothing to undo" in err
