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
