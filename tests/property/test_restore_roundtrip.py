"""Property: restoring a snapshot brings back every captured file and never touches the rest.

Take snapshot S, apply random edits, creates, deletes, renames, mode changes, file <-> directory
swaps and symlink changes (some files ignored, some over the content limit), then restore S:

* every path whose content S captured equals S byte for byte, with S's exec bit;
* every file skipped in the worktree at restore time is untouched (same bytes, same inode);
* a path S has no content for is left as it was; anything else S lacks is gone;
* a diff from S to the worktree lists only those kept paths;
* restoring the safety snapshot brings back the worktree as it was before the restore.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from snapd import protocol, requests
from tests.helpers import make_service, write

LIMIT = 64
FILES = ["a.txt", "b.txt", "d/c.txt", "d/e/f.txt", "big.dat"]
LOGS = ["k.log", "d/k.log"]  # ignored by .gitignore
SMALL = st.binary(max_size=40)
ANY = st.one_of(SMALL, st.binary(min_size=LIMIT + 1, max_size=LIMIT * 3))

OP = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(FILES), ANY, st.booleans()),
    st.tuples(st.just("write"), st.sampled_from(LOGS), SMALL, st.booleans()),
    st.tuples(st.just("delete"), st.sampled_from(FILES + LOGS)),
    st.tuples(st.just("rename"), st.sampled_from(FILES), st.sampled_from(FILES)),
    st.tuples(st.just("chmod"), st.sampled_from(FILES), st.booleans()),
    st.tuples(st.just("swap"), st.sampled_from(["x", "x/y"]), SMALL),
    st.tuples(st.just("link"), st.sampled_from(["a.txt", "d", "../outside", "/etc/passwd"])),
    st.tuples(st.just("unlink")),
)

Entry = tuple[Any, ...]


def do(root: Path, op: tuple[Any, ...]) -> None:
    kind = op[0]
    if kind == "write":
        _, rel, data, exe = op
        write(root, rel, data)
        os.chmod(root / rel, 0o755 if exe else 0o644)
    elif kind == "delete":
        if (root / op[1]).is_file():
            (root / op[1]).unlink()
    elif kind == "rename":
        src, dst = root / op[1], root / op[2]
        if src.is_file() and src != dst:
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.rename(src, dst)
    elif kind == "chmod":
        if (root / op[1]).is_file():
            os.chmod(root / op[1], 0o755 if op[2] else 0o644)
    elif kind == "swap":
        x = root / "x"
        if x.is_dir():
            shutil.rmtree(x)
        elif x.exists():
            x.unlink()
        write(root, op[1], op[2])
    elif kind == "link":
        if os.path.lexists(root / "ln"):
            os.unlink(root / "ln")
        os.symlink(op[1], root / "ln")
    elif kind == "unlink" and os.path.lexists(root / "ln"):
        os.unlink(root / "ln")


def state(root: Path) -> dict[str, Entry]:
    """Every file and symlink: (kind, content or target, exec bit, inode)."""
    out: dict[str, Entry] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in files + dirs:
            full = os.path.join(dirpath, name)
            st_ = os.lstat(full)
            rel = os.path.relpath(full, root)
            if stat.S_ISLNK(st_.st_mode):
                out[rel] = ("link", os.readlink(full), False, st_.st_ino)
            elif stat.S_ISREG(st_.st_mode):
                data = Path(full).read_bytes()
                out[rel] = ("file", data, bool(st_.st_mode & 0o100), st_.st_ino)
    return out


def skipped(rel: str, entry: Entry | None) -> bool:
    """The capture policy, as far as this test's worktree goes."""
    if entry is None or rel == ".gitignore":
        return False
    return rel.endswith(".log") or (entry[0] == "file" and len(entry[1]) > LIMIT)


def content(entry: Entry | None) -> Entry | None:
    return entry[:3] if entry is not None else None


@given(
    before=st.lists(OP, max_size=12),
    after=st.lists(OP, min_size=1, max_size=12),
    via_token=st.booleans(),
)
def test_restore_brings_back_the_snapshot_and_keeps_the_rest(
    before: list[tuple[Any, ...]], after: list[tuple[Any, ...]], via_token: bool
) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="snapd-restore-prop-"))
    try:
        root = tmp / "work"
        write(root, ".gitignore", "*.log\n")
        for op in before:
            do(root, op)
        svc = make_service(root, tmp / "store", content_limit=LIMIT)
        try:
            s = requests.snapshot(svc, protocol.SnapshotParams(label="S")).id
            at_s = state(root)
            for op in after:
                do(root, op)
            at_r = state(root)
            token = None
            if via_token:
                token = requests.restore(svc, protocol.RestoreParams(from_=s)).plan_token
            done = requests.restore(
                svc, protocol.RestoreParams(from_=s, dry_run=False, plan_token=token)
            )
            assert done.conflicted == 0, done.conflicts
            now = state(root)
            kept: set[str] = set()
            for rel in set(at_s) | set(at_r) | set(now):
                r, s_ = at_r.get(rel), at_s.get(rel)
                if skipped(rel, r):
                    assert now.get(rel) == r, f"{rel}: a skipped file was touched"
                    kept.add(rel)
                elif skipped(rel, s_):
                    assert content(now.get(rel)) == content(r), f"{rel}: no content in S"
                    kept.add(rel)
                else:
                    assert content(now.get(rel)) == content(s_), f"{rel}: not restored"
            changed = {f.path for f in requests.diff(svc, protocol.DiffParams(from_=s)).files}
            assert changed <= kept
            if done.safety_snapshot is not None:
                undo = requests.restore(
                    svc, protocol.RestoreParams(from_=done.safety_snapshot, dry_run=False)
                )
                assert undo.conflicted == 0
                back = state(root)
                assert {k: content(v) for k, v in back.items()} == {
                    k: content(v) for k, v in at_r.items()
                }
            else:
                assert done.written == done.deleted == 0
        finally:
            svc.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
