"""Corpus built by real tools: everything they generate is classified generated or skipped,
and no hand-written file (this repository's own, and real projects' sources) is.

Precision and recall are printed (``-s``) for the closing note of the issue.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from snapd.capture.decision import Candidate, Kind
from snapd.capture.policy import Policy
from snapd.config import Options
from snapd.enums import Outcome
from tests.helpers import write

REPO = Path(__file__).resolve().parents[2]


def walk_outcomes(root: Path) -> dict[str, str]:
    """Outcome of every file as a snapshot walk would decide it (skipped dirs cover files)."""
    policy = Policy(os.fsencode(root), Options())
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in list(dirnames):
            full = Path(dirpath, name)
            rel = os.fsencode(full.relative_to(root))
            d = policy.decide(Candidate(rel=rel, st=os.lstat(full)))
            if not d.captured:
                dirnames.remove(name)
                for sub in full.rglob("*"):
                    if sub.is_file() or sub.is_symlink():
                        out[str(sub.relative_to(root))] = f"skipped:{d.rule}"
        for name in filenames:
            full = Path(dirpath, name)
            rel_path = full.relative_to(root)
            d, _st = policy.explain(os.fsencode(rel_path))
            out[str(rel_path)] = f"{d.outcome.value}:{d.rule}"
    return out


def score(root: Path, hand_written: set[str]) -> tuple[float, float, list[str], list[str]]:
    outcomes = walk_outcomes(root)
    flagged = {p for p, o in outcomes.items() if not o.startswith(Outcome.CAPTURED.value)}
    generated = set(outcomes) - hand_written
    missed = sorted(generated - flagged)
    false_pos = sorted(flagged & hand_written)
    recall = len(generated & flagged) / len(generated) if generated else 1.0
    precision = len(flagged - hand_written) / len(flagged) if flagged else 1.0
    print(
        f"\n{root.name}: {len(generated)} generated, recall {recall:.3f}, "
        f"{len(hand_written)} hand-written, precision {precision:.3f}"
    )
    return precision, recall, missed, false_pos


def tree_files(root: Path) -> set[str]:
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if (p.is_file() or p.is_symlink()) and ".git" not in p.relative_to(root).parts
    }


@pytest.mark.slow
@pytest.mark.skipif(
    not (shutil.which("cmake") and shutil.which("ninja")), reason="needs cmake and ninja"
)
def test_cmake_ninja_build_dir(tmp_path: Path) -> None:
    root = tmp_path / "cproj"
    write(
        root,
        "CMakeLists.txt",
        "cmake_minimum_required(VERSION 3.13)\nproject(demo C)\nadd_executable(demo main.c)\n",
    )
    write(root, "main.c", "int main(void) { return 0; }\n")
    hand = tree_files(root)
    env = {**os.environ, "CMAKE_GENERATOR": "Ninja"}
    subprocess.run(
        ["cmake", "-S", str(root), "-B", str(root / "build"), "-G", "Ninja"],
        check=True,
        capture_output=True,
        env=env,
    )
    subprocess.run(["cmake", "--build", str(root / "build")], check=True, capture_output=True)
    precision, recall, missed, false_pos = score(root, hand)
    assert missed == [] and false_pos == []
    assert (precision, recall) == (1.0, 1.0)


@pytest.mark.slow
def test_python_compileall_and_packaging(tmp_path: Path) -> None:
    root = tmp_path / "pyproj"
    write(root, "pkg/__init__.py", "VALUE = 1\n")
    write(root, "pkg/mod.py", "def f():\n    return 2\n")
    write(root, "setup.py", "from setuptools import setup\nsetup(name='pkg', packages=['pkg'])\n")
    hand = tree_files(root)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(root / "pkg")], check=True)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / ".venv")], check=True)
    (root / "dist").mkdir()
    write(root, "dist/pkg-0.1.tar.gz", b"\x1f\x8b fake sdist")
    precision, recall, missed, false_pos = score(root, hand)
    assert missed == [] and false_pos == []
    assert (precision, recall) == (1.0, 1.0)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("npm") is None, reason="needs npm")
def test_npm_install_of_a_local_package(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    write(lib, "package.json", '{"name": "tiny-lib", "version": "1.0.0", "main": "index.js"}\n')
    write(lib, "index.js", "module.exports = 1;\n")
    subprocess.run(
        ["npm", "pack", "--silent", "--pack-destination", str(tmp_path)],
        cwd=lib,
        check=True,
        capture_output=True,
    )
    root = tmp_path / "app"
    write(root, "package.json", '{"name": "app", "version": "1.0.0", "private": true}\n')
    write(root, "index.js", "require('tiny-lib');\n")
    hand = tree_files(root)
    subprocess.run(
        [
            "npm",
            "install",
            "--offline",
            "--no-audit",
            "--no-fund",
            str(tmp_path / "tiny-lib-1.0.0.tgz"),
        ],
        cwd=root,
        check=True,
        capture_output=True,
    )
    hand.discard("package.json")  # npm rewrote it: it is still hand-written (and captured)
    outcomes = walk_outcomes(root)
    assert outcomes["package.json"] == "captured:captured"
    assert outcomes["package-lock.json"] == "generated:lockfile"
    assert all(o.startswith("skipped") for p, o in outcomes.items() if p.startswith("node_modules"))


GENERATED_IN_REPO = {
    "clients/snapd_client/_errors.py": "content-marker",  # scripts/gen_client_errors.py
    "clients/snapd_client/_sync.py": "content-marker",  # scripts/gen_sync_client.py
    "clients/typescript/package-lock.json": "lockfile",
    "docs/reliability.md": "content-marker",  # written by the tests/reliability run
}
"""Files this repository commits that a tool wrote; everything else tracked is hand-written."""


def test_no_hand_written_file_of_this_repository_is_flagged() -> None:
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z"], capture_output=True, check=False
    )
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    files = [f for f in listed.stdout.decode().split("\0") if f]
    policy = Policy(os.fsencode(REPO), Options())
    flagged = {}
    for rel in files:
        d, st = policy.explain(os.fsencode(rel))
        if st is not None and Kind.of(st) is Kind.FILE and d.outcome is not Outcome.CAPTURED:
            flagged[rel] = d.rule
    expected = {k: v for k, v in GENERATED_IN_REPO.items() if k in files}
    assert flagged == expected  # precision and recall of 1 on our own tree
    print(f"\nrepository: {len(files)} tracked files, flagged exactly the {len(flagged)} generated")


def test_real_projects_sources_are_not_flagged() -> None:
    """Hand-written sources of real projects (installed packages) stay plain captures."""
    import attrs
    import dulwich
    import pathspec
    import pygls

    checked = 0
    for mod in (pygls, dulwich, attrs, pathspec):
        assert mod.__file__ is not None
        pkg = Path(mod.__file__).parent
        policy = Policy(os.fsencode(pkg.parent), Options())
        for path in pkg.rglob("*.py"):
            if "__pycache__" in path.parts:
                continue
            d, _st = policy.explain(os.fsencode(path.relative_to(pkg.parent)))
            assert d.outcome is Outcome.CAPTURED, (path, d)
            checked += 1
    assert checked > 100
    print(f"\nreal projects: {checked} hand-written sources, 0 flagged")
