"""Issue 18, defect 2: ``snapd`` run from a subdirectory serves the worktree that holds it.

The real ``snapd`` runs in a real git worktree, from a subdirectory, with no ``--root``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from snapd_client.cli.where import find_root, pattern_to_root, prefix_of, shown, to_root
from tests.helpers import write


def test_find_root_prefers_git_then_snapd_toml_then_cwd(tmp_path: Path) -> None:
    write(tmp_path, "repo/.snapd.toml", "")
    write(tmp_path, "repo/a/.snapd.toml", "")
    (tmp_path / "repo" / ".git").mkdir()
    deep = tmp_path / "repo" / "a" / "b"
    deep.mkdir()
    assert find_root(str(deep)) == str(tmp_path / "repo")  # .git wins over a nearer toml
    (tmp_path / "repo" / ".git").rmdir()
    assert find_root(str(deep)) == str(tmp_path / "repo" / "a")
    lone = tmp_path / "lone"
    lone.mkdir()
    assert find_root(str(lone)) in (str(lone), "/")  # "/" only if the machine's root has one


def test_paths_typed_in_a_subdirectory() -> None:
    assert to_root("x.md", "/w", "docs") == "docs/x.md"
    assert to_root("../src", "/w", "docs") == "src"
    assert to_root("..", "/w", "docs") == ""
    assert to_root("/w/src/a.py", "/w", "docs") == "src/a.py"
    for outside in ("../..", "/etc/passwd"):
        with pytest.raises(ValueError, match="outside the worktree /w"):
            to_root(outside, "/w", "docs")
    assert shown("docs/x.md", "docs") == "x.md"
    assert shown("src/a.py", "docs/api") == "../../src/a.py"
    assert shown("src/a.py", "") == "src/a.py"
    assert pattern_to_root("*.md", "docs") == "/docs/**/*.md"
    assert pattern_to_root("api/*.md", "docs") == "/docs/api/*.md"
    assert pattern_to_root("!/keep.md", "d[1]") == "!/d\\[1\\]/keep.md"
    assert pattern_to_root("*.md", "") == "*.md"
    assert prefix_of("/", "/") == ""


def _run(cwd: Path, env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "snapd_client", "--no-pager", "--color", "never", *argv]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "work"
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    write(root, "docs/api/x.md", "one\n")
    write(root, "src/l.py", "print(1)\n")
    # The root's .snapd.toml applies from a subdirectory too: *.log is never captured.
    write(root, ".snapd.toml", 'forceExclude = ["*.log"]\n')
    write(root, "docs/run.log", "noise\n")
    (tmp_path / "run").mkdir(mode=0o700)
    env = {
        **os.environ,
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_RUNTIME_DIR": str(tmp_path / "run"),
    }
    return root, env


@pytest.mark.e2e
def test_a_subdirectory_is_the_worktree_that_holds_it(repo: tuple[Path, dict[str, str]]) -> None:
    root, env = repo
    docs = root / "docs"
    try:
        assert _run(root, env, "snapshot", "-m", "base").returncode == 0
        proc = _run(docs, env, "--json", "log")
        assert proc.returncode == 0, proc.stderr
        assert [s["label"] for s in json.loads(proc.stdout)] == ["base"]
        stores = list((root.parent / "data" / "snapd" / "stores").iterdir())
        assert len(stores) == 1  # no stray store for docs/
        write(root, "docs/api/x.md", "two\n")
        write(root, "src/l.py", "print(2)\n")
        # Paths relative to where the user stands, in and out; absolute ones inside the root.
        proc = _run(docs, env, "explain", "run.log")
        assert proc.stdout.splitlines()[0] == "run.log: skipped", proc.stderr
        assert "force-exclude" in proc.stdout
        proc = _run(docs, env, "explain", str(root / "src" / "l.py"))
        assert proc.stdout.splitlines()[0] == "../src/l.py: captured", proc.stderr
        proc = _run(docs, env, "restore", "--", "api/x.md")
        assert "  write   api/x.md  " in proc.stdout and "l.py" not in proc.stdout, proc.stderr
        proc = _run(docs, env, "restore", "--pattern", "*.md")
        assert "  write   api/x.md  " in proc.stdout and "l.py" not in proc.stdout, proc.stderr
        proc = _run(docs / "api", env, "restore", "--", "../../src")
        assert "  write   ../../src/l.py  " in proc.stdout, proc.stderr
        # diff headers stay root-relative, as git's, so `git apply` takes them from the root.
        proc = _run(docs, env, "diff", "--", "api")
        assert "+++ b/docs/api/x.md" in proc.stdout and "l.py" not in proc.stdout, proc.stderr
        proc = _run(docs, env, "diff", "--", "/etc")
        assert (proc.returncode, proc.stdout) == (1, "")
        assert proc.stderr == f"snapd: /etc: outside the worktree {root}\n"
        assert _run(docs, env, "restore", "--apply", "--", "x/../api").returncode == 0
        assert (root / "docs" / "api" / "x.md").read_text() == "one\n"
        assert (root / "src" / "l.py").read_text() == "print(2)\n"
    finally:
        _run(root, env, "daemon", "stop")
