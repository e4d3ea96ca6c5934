"""Issue 18, defect 3: one path syntax for diff, hunks and restore, and no silent nothing.

The real ``snapd`` runs in a real git worktree; ``snapd/diff`` takes ``patterns`` on the wire.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import write


def snapd(root: Path, store: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "snapd_client", "--root", str(root), "--store", str(store)]
    cmd += ["--standalone", "--no-pager", "--color", "never"]
    return subprocess.run([*cmd, *argv], capture_output=True, text=True, check=False)


@pytest.fixture
def edited(worktree: Path, tmp_path: Path) -> tuple[Path, Path]:
    subprocess.run(["git", "init", "-q", str(worktree)], check=True)
    for rel in ("src/a/l1.py", "src/b/m.py", "app/[id].tsx", "app/i.tsx", "docs/x.md"):
        write(worktree, rel, "one\n")
    store = tmp_path / "store"
    assert snapd(worktree, store, "snapshot").returncode == 0
    for rel in ("src/a/l1.py", "src/b/m.py", "app/[id].tsx", "app/i.tsx"):
        write(worktree, rel, "two\n")
    return worktree, store


def _listed(root: Path, store: Path, *argv: str) -> list[str]:
    proc = snapd(root, store, "--json", *argv)
    assert proc.returncode == 0, proc.stderr
    return [f["path"] for f in json.loads(proc.stdout)]


@pytest.mark.e2e
def test_diff_and_restore_take_the_same_paths(edited: tuple[Path, Path]) -> None:
    root, store = edited
    # A glob after -- (it names nothing), as restore takes it; a literal name that exists.
    for cmd in (["diff"], ["diff", "--stat"]):
        assert _listed(root, store, *cmd, "--", "src/*/l*.py") == ["src/a/l1.py"]
        assert _listed(root, store, *cmd, "--", "app/[id].tsx") == ["app/[id].tsx"]
        assert _listed(root, store, *cmd, "--pattern", "*.tsx") == ["app/[id].tsx", "app/i.tsx"]
        assert _listed(root, store, *cmd, "--", "src") == ["src/a/l1.py", "src/b/m.py"]
    proc = snapd(root, store, "restore", "--", "src/*/l*.py")
    assert "  write   src/a/l1.py  " in proc.stdout and "m.py" not in proc.stdout, proc.stderr
    proc = snapd(root, store, "restore", "--", "app/[id].tsx")
    assert "  write   app/[id].tsx  " in proc.stdout and "i.tsx  " not in proc.stdout
    proc = snapd(root, store, "diff", "--", "src/*/l*.py")
    assert "+++ b/src/a/l1.py" in proc.stdout and "m.py" not in proc.stdout


@pytest.mark.e2e
def test_paths_that_match_nothing_say_so(edited: tuple[Path, Path]) -> None:
    root, store = edited
    for cmd in (["diff"], ["diff", "--stat"]):
        proc = snapd(root, store, *cmd, "--", "nope")
        assert (proc.returncode, proc.stdout) == (1, "")
        assert proc.stderr == "snapd: nope: no such path in the worktree or in latest\n"
        proc = snapd(root, store, *cmd, "--", "docs")
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "no changes under docs\n")
        proc = snapd(root, store, *cmd, "--", "*.rs")
        assert (proc.returncode, proc.stderr) == (0, "no changes under *.rs\n")
    proc = snapd(root, store, "hunks", "src")
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr == (
        "snapd: src: a directory: hunks shows one file ('snapd diff -- src' lists its changes)\n"
    )
    proc = snapd(root, store, "hunks", "nope.py")
    assert proc.returncode == 1
    assert proc.stderr == "snapd: nope.py: no such file in the worktree or in latest\n"
    proc = snapd(root, store, "hunks", "docs/x.md")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "no changes in docs/x.md\n")
    proc = snapd(root, store, "hunks", "src/a/l1.py")
    assert proc.returncode == 0 and "+two" in proc.stdout


@pytest.mark.e2e
def test_diff_patterns_on_the_wire(edited: tuple[Path, Path]) -> None:
    from snapd_client._sync import Client

    root, store = edited
    with Client.spawn(root, store=store) as client:
        page = client.diff("latest", patterns=["src/**/*.py", "!m.py"], paths=["docs", "app"])
        assert [f.path for f in page.files] == ["app/[id].tsx", "app/i.tsx", "src/a/l1.py"]
        page = client.diff("latest", patterns=["*.py"], limit=1)
        assert [f.path for f in page.files] == ["src/a/l1.py"] and page.next_cursor
        rest = client.diff("latest", patterns=["*.py"], cursor=page.next_cursor)
        assert [f.path for f in rest.files] == ["src/b/m.py"]
