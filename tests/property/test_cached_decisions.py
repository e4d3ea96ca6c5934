"""A full walk that reuses cached decisions equals a from-scratch walk, whatever input changed.

Each step changes one kind of policy input (a nested ``.gitignore``, ``.gitattributes`` or
``.snapdignore`` written or removed, ``.git/info/exclude`` or ``info/attributes``, the user's
index by ``git add`` or ``git rm --cached``, the options through ``.snapd.toml``, or a plain
file), then compares the full walk of the long-lived worktree (its stat cache, persisted
across restarts) with a walk under a fresh policy and an empty cache: same tree, same skipped
and generated manifests.

The racy window for policy inputs is narrowed to zero here: otherwise every input a test just
wrote would (correctly) make the walk re-decide everything, and the reuse would never be
exercised. Worktree files are back-dated so that the stat cache trusts them; their ctime still
changes on every write, and the signatures include it.
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
from snapd.config import Options
from snapd.worktree import Worktree
from tests.helpers import fresh_capture, make_service, write

DIRS = ["", "src", "src/deep", "docs"]
FILES = [
    "a.txt",
    "src/b.log",
    "src/main.py",
    "src/deep/c.txt",
    "src/deep/d.min.js",
    "docs/readme.md",
    "docs/data.bin",
]
PATTERNS = ["*.log", "*.txt", "!c.txt", "deep/", "*.md", "readme.md", "", "data.*", "/a.txt"]
ATTRS = ["linguist-generated", "-diff", "filter=lfs", "binary", "-linguist-generated", "text"]

STEPS = st.one_of(
    st.tuples(st.just("ignore"), st.sampled_from(DIRS), st.sampled_from(PATTERNS)),
    st.tuples(st.just("snapdignore"), st.sampled_from(DIRS), st.sampled_from(PATTERNS)),
    st.tuples(
        st.just("attributes"),
        st.sampled_from(DIRS),
        st.tuples(st.sampled_from(PATTERNS[:6]), st.sampled_from(ATTRS)).map(" ".join),
    ),
    st.tuples(st.just("exclude"), st.just(""), st.sampled_from(PATTERNS)),
    st.tuples(
        st.just("info-attributes"),
        st.just(""),
        st.tuples(st.sampled_from(PATTERNS[:6]), st.sampled_from(ATTRS)).map(" ".join),
    ),
    st.tuples(st.just("git-add"), st.sampled_from(FILES), st.just("")),
    st.tuples(st.just("git-rm-cached"), st.sampled_from(FILES), st.just("")),
    st.tuples(
        st.just("options"),
        st.just(""),
        st.sampled_from(
            [
                "",
                'forceExclude = ["docs/"]',
                'forceInclude = ["src/b.log"]',
                "contentLimit = 40",
                'disabledRules = ["generated-name"]',
            ]
        ),
    ),
    st.tuples(st.just("edit"), st.sampled_from(FILES), st.sampled_from(["x", "\0bin", "y" * 60])),
    st.tuples(
        st.just("remove"),
        st.sampled_from(DIRS),
        st.sampled_from([".gitignore", ".gitattributes", ".snapdignore"]),
    ),
    st.tuples(st.just("nothing"), st.just(""), st.just("")),
)

OLD = time.time() - 3600


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=root,
        check=True,
        capture_output=True,
        env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(root.parent)},
    )


def _backdate(root: Path) -> None:
    """Every worktree file old by mtime: the stat cache may trust it (ctime still moves)."""
    for dirpath, dirnames, filenames in os.walk(root):
        if ".git" in dirnames:
            dirnames.remove(".git")
        for name in filenames:
            path = os.path.join(dirpath, name)
            if os.lstat(path).st_mtime_ns != int(OLD * 1e9):  # utime moves ctime: only new ones
                os.utime(path, ns=(int(OLD * 1e9), int(OLD * 1e9)))


def _apply(root: Path, kind: str, where: str, text: str) -> bool:
    """Apply one step; True when the options changed (a new worktree service)."""
    base = root / where if where else root
    if kind == "ignore":
        write(root, str((base / ".gitignore").relative_to(root)), text + "\n")
    elif kind == "snapdignore":
        write(root, str((base / ".snapdignore").relative_to(root)), text + "\n")
    elif kind == "attributes":
        write(root, str((base / ".gitattributes").relative_to(root)), text + "\n")
    elif kind == "exclude":
        (root / ".git/info").mkdir(parents=True, exist_ok=True)
        (root / ".git/info/exclude").write_text(text + "\n")
    elif kind == "info-attributes":
        (root / ".git/info").mkdir(parents=True, exist_ok=True)
        (root / ".git/info/attributes").write_text(text + "\n")
    elif kind == "git-add":
        _git(root, "add", "-f", "--", where)
    elif kind == "git-rm-cached":
        _git(root, "rm", "-q", "--cached", "--ignore-unmatch", "--", where)
    elif kind == "options":
        (root / ".snapd.toml").write_text(text + "\n")
        return True
    elif kind == "edit":
        write(root, where, text)
    elif kind == "remove":
        (base / text).unlink(missing_ok=True)
    return False


def _open(root: Path, store: Path) -> Worktree:
    """The worktree service with the options ``.snapd.toml`` gives (as the daemon makes it)."""
    options = Options(dir_new_file_budget=10**6).with_config_file(str(root))
    return make_service(root, store, **attrs.asdict(options, recurse=False))


@pytest.fixture(autouse=True)
def _no_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decisions, "RACY_NS", 0)


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(script=st.lists(STEPS, min_size=1, max_size=6))
def test_cached_full_walk_equals_a_fresh_one(script: list[tuple[str, str, str]]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="snapd-dec-"))
    try:
        root = tmp / "work"
        for rel in FILES:
            write(root, rel, f"{rel}\n" * 3)
        write(root, "src/.gitignore", "*.log\n")
        _git(root, "init", "-q")
        _git(root, "add", "src/main.py")
        _backdate(root)
        svc = _open(root, tmp / "store")
        parent = svc.capturer(None).capture()
        svc.capturer(parent).capture()  # fills the cache with stamped decisions
        for step in script:
            if _apply(root, *step):
                svc.close()  # saves the stat cache; the next service loads it
                svc = _open(root, tmp / "store")
            _backdate(root)
            capturer = svc.capturer(parent)
            cached = capturer.capture()
            assert cached == fresh_capture(svc, parent), step
            if step[0] == "nothing":
                # Nothing changed: every captured file kept its decision.
                assert capturer.reused_decisions == capturer.counts.files, step
        svc.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_an_unchanged_tree_reuses_every_decision_across_a_restart(tmp_path: Path) -> None:
    root = tmp_path / "work"
    for rel in FILES:
        write(root, rel, f"{rel}\n")
    _git(root, "init", "-q")
    _backdate(root)
    svc = _open(root, tmp_path / "store")
    parent = svc.capturer(None).capture()
    svc.close()
    svc = _open(root, tmp_path / "store")
    capturer = svc.capturer(parent)
    assert capturer.capture() == parent
    assert capturer.reused_decisions == len(FILES)


def test_a_rule_file_changed_just_now_reuses_nothing_below_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decisions, "RACY_NS", 2_000_000_000)
    root = tmp_path / "work"
    for rel in FILES:
        write(root, rel, f"{rel}\n")
    _backdate(root)
    svc = _open(root, tmp_path / "store")
    parent = svc.capturer(None).capture()
    write(root, "src/.gitignore", "nothing-matches\n")  # racily new: src/ has no stamp
    capturer = svc.capturer(parent)
    assert capturer.capture() == fresh_capture(svc, parent)
    below = sum(rel.startswith("src/") for rel in FILES)
    assert capturer.reused_decisions == len(FILES) - below


def test_a_new_gitattributes_marks_an_already_hashed_file_generated(tmp_path: Path) -> None:
    root = tmp_path / "work"
    write(root, "src/api.py", "def f():\n    return 1\n")
    _backdate(root)
    svc = _open(root, tmp_path / "store")
    parent = svc.capturer(None).capture()
    write(root, "src/.gitattributes", "api.py linguist-generated\n")
    _backdate(root)
    state = svc.capturer(parent).capture()
    assert state.generated != parent.generated
    assert b"src/api.py" in (svc.store.read_blob(state.generated, 1 << 20) or b"")
    assert state == fresh_capture(svc, parent)


def test_git_rm_cached_of_an_ignored_file_skips_it_on_the_next_full_walk(tmp_path: Path) -> None:
    root = tmp_path / "work"
    for rel in FILES:
        write(root, rel, f"{rel}\n")
    write(root, "src/.gitignore", "*.log\n")
    _git(root, "init", "-q")
    _git(root, "add", "-f", "src/b.log")  # tracked, so captured although ignored
    _backdate(root)
    svc = _open(root, tmp_path / "store")
    parent = svc.capturer(None).capture()
    assert b"src/b.log" not in (svc.store.read_blob(parent.manifest, 1 << 20) or b"")
    _git(root, "rm", "-q", "--cached", "src/b.log")
    state = svc.capturer(parent).capture()
    assert b"src/b.log" in (svc.store.read_blob(state.manifest, 1 << 20) or b"")
    assert state == fresh_capture(svc, parent)
    _git(root, "add", "-f", "src/b.log")
    again = svc.capturer(state).capture()
    assert again.tree == parent.tree
    assert again == fresh_capture(svc, state)
