"""A full walk driven by the directory map equals a from-scratch walk, whatever changed.

Each step changes the worktree in one way a full walk must notice (a file edited, touched,
added, removed, renamed or swapped for a directory or a symlink; a directory made, removed or
renamed; a file written inside an ignored directory, whose summary must follow; an ignore
rule that makes a captured directory skipped or a skipped one captured; ``git add``; the
options), then takes a reconciling snapshot through the long-lived worktree service (its map
persisted across restarts) and compares the head with a walk under a fresh policy and an empty
stat cache from the same parent: same tree, same skipped and generated manifests.

Worktree files and directories are back-dated so that the map trusts their signatures; their
ctime still moves on every change, and the signatures include it. The racy window for policy
inputs is narrowed to zero, as in ``test_cached_decisions``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snapd.capture import decisions
from snapd.capture.decision import RACY_NS
from snapd.capture.dirmap import Check, DirMap
from snapd.config import Options
from snapd.worktree import Worktree
from tests.helpers import fresh_capture, make_service, write

FILES = ["a.txt", "src/main.py", "src/deep/c.txt", "docs/readme.md", "out/gen.o", "out/sub/x.o"]
PATHS = [*FILES, "new.txt", "src/new.py", "src/deep/new/n.txt", "docs", "src/deep", "out/sub"]

STEPS = st.one_of(
    st.tuples(
        st.sampled_from(["edit", "touch", "remove", "to-dir", "to-link"]), st.sampled_from(PATHS)
    ),
    st.tuples(st.just("rename"), st.sampled_from(PATHS)),
    st.tuples(st.just("rmtree"), st.sampled_from(["docs", "src/deep", "out", "out/sub"])),
    st.tuples(st.just("ignore"), st.sampled_from(["out/", "src/deep/", "", "*.md"])),
    st.tuples(st.just("git-add"), st.sampled_from(FILES)),
    st.tuples(st.just("options"), st.sampled_from(["", 'forceExclude = ["docs/"]'])),
    st.tuples(st.just("nothing"), st.just("")),
)
"""(step kind, path or text); ``.gitignore`` starts as ``out/``: ``out`` is skipped."""

OLD_NS = int((time.time() - 3600) * 1e9)
WORKTREE_ONLY = {"edit", "touch", "remove", "to-dir", "to-link", "rename", "rmtree", "nothing"}


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", *args],
        cwd=root,
        check=True,
        capture_output=True,
        env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(root.parent)},
    )


def _backdate(root: Path) -> None:
    """Every file and directory old by mtime (utime moves ctime: only those not yet old)."""
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        if ".git" in Path(dirpath).parts:
            continue
        for name in [*filenames, *dirnames]:
            path = os.path.join(dirpath, name)
            st_ = os.lstat(path)
            if st_.st_mtime_ns != OLD_NS:
                os.utime(path, ns=(OLD_NS, OLD_NS), follow_symlinks=False)
        if os.lstat(dirpath).st_mtime_ns != OLD_NS:
            os.utime(dirpath, ns=(OLD_NS, OLD_NS))


def _clear(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.is_symlink() or path.exists():
        path.unlink()


def _apply(root: Path, kind: str, arg: str) -> bool:
    """Apply one step; True when the options changed (a new worktree service)."""
    path = root / arg
    if kind == "edit":
        _clear(path) if path.is_dir() else None
        write(root, arg, f"edited {time.monotonic_ns()}\n")
    elif kind == "touch" and path.exists():
        os.utime(path, ns=(OLD_NS + 1, OLD_NS + 1))
    elif kind == "remove" and not path.is_dir():
        path.unlink(missing_ok=True)
    elif kind == "to-dir":
        _clear(path)
        write(root, f"{arg}/inside.txt", "now a directory\n")
    elif kind == "to-link":
        _clear(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to("a.txt")
    elif kind == "rename" and path.exists():
        path.rename(path.with_name(path.name + ".moved"))
    elif kind == "rmtree":
        _clear(path)
    elif kind == "ignore":
        write(root, ".gitignore", f"{arg}\n")
    elif kind == "git-add":
        if path.is_file():
            _git(root, "add", "-f", "--", arg)
    elif kind == "options":
        (root / ".snapd.toml").write_text(arg + "\n")
        return True
    return False


def _open(root: Path, store: Path) -> Worktree:
    options = Options(dir_new_file_budget=10**6, watch=False).with_config_file(str(root))
    return make_service(root, store, **attrs.asdict(options, recurse=False))


@pytest.fixture(autouse=True)
def _no_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decisions, "RACY_NS", 0)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(script=st.lists(STEPS, min_size=1, max_size=6))
def test_a_map_driven_full_walk_equals_a_fresh_one(
    script: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[Check] = []
    check = DirMap.check

    def counted(self: DirMap, root: bytes, *, trust_mtime: bool, racy_ns: int) -> Check:
        checks.append(result := check(self, root, trust_mtime=trust_mtime, racy_ns=racy_ns))
        return result

    monkeypatch.setattr(DirMap, "check", counted)
    tmp = Path(tempfile.mkdtemp(prefix="snapd-map-"))
    try:
        root = tmp / "work"
        for rel in FILES:
            write(root, rel, f"{rel}\n")
        write(root, ".gitignore", "out/\n")
        _git(root, "init", "-q")
        _backdate(root)
        svc = _open(root, tmp / "store")
        svc.snapshot(label="first")
        svc.snapshot(label="second")  # the map now describes the head
        for step in script:
            if _apply(root, *step):
                svc.close()  # saves the map; the next service loads it
                svc = _open(root, tmp / "store")
            _backdate(root)
            head = svc.head()
            assert head is not None
            checks.clear()
            recorded = svc.snapshot(label=repr(step))
            assert recorded.info.state == fresh_capture(svc, head.state), step
            if step[0] in WORKTREE_ONLY:
                assert checks, f"{step}: the walk did not use the directory map"
            if step[0] == "nothing":
                # Nothing changed: only skipped directories are looked at again.
                skipped = [p for p in checks[0].dirty if p not in svc.dirmap.records]
                assert skipped == list(checks[0].dirty), checks[0]
                assert all((root / os.fsdecode(p)).is_dir() for p in skipped), checks[0]
        svc.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_a_file_added_in_a_racily_listed_directory_is_found(tmp_path: Path) -> None:
    """A directory listed within the racy window is listed again, whatever its signature."""
    root = tmp_path / "work"
    write(root, "src/a.txt", "a\n")
    svc = _open(root, tmp_path / "store")
    svc.cache.racy_ns = RACY_NS  # as on a file system with coarse timestamps
    svc.snapshot()
    assert svc.dirmap.records[b"src"][0] is None  # made just now: recorded as unknown
    write(root, "src/b.txt", "b\n")
    head = svc.head()
    assert head is not None
    assert svc.snapshot().info.state == fresh_capture(svc, head.state)


def test_a_damaged_map_costs_one_full_walk(tmp_path: Path) -> None:
    root = tmp_path / "work"
    write(root, "src/a.txt", "a\n")
    _backdate(root)
    svc = _open(root, tmp_path / "store")
    svc.snapshot()
    svc.close()
    data = Path(svc.dirmap_path).read_bytes()
    Path(svc.dirmap_path).write_bytes(data[:-5] + b"xxxxx")
    again = _open(root, tmp_path / "store")
    assert again.dirmap.state is None  # the digest refused it
    write(root, "src/b.txt", "b\n")
    head = again.head()
    assert head is not None
    assert again.snapshot().info.state == fresh_capture(again, head.state)
    assert again.dirmap.state == again.snapshot().info.state
