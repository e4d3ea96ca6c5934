"""Issue 13 regressions in the restore path, against the real daemon over pipes.

A restore brings back what the target snapshot captured even where the live capture skips it
now (items 2 and 13), never loses an edit that lands while it writes (item 5), treats
``paths`` as literal names (item 10), tells a cancelled client what it really did (item 14),
and restores a tree deeper than Python's recursion limit.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import write
from tests.reliability.harness import RawDaemon

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Any]:
    started: list[RawDaemon] = []

    def start(options: dict[str, Any] | None = None, *extra: str) -> RawDaemon:
        d = RawDaemon.spawn(tmp_path / "work", tmp_path / "store", tmp_path / "d.log", *extra)
        started.append(d)
        assert "result" in d.initialize({"autoSnapshot": False, **(options or {})})
        return d

    (tmp_path / "work").mkdir(exist_ok=True)
    yield start
    for d in started:
        d.kill()
    assert "Traceback" not in (tmp_path / "d.log.stderr").read_text()


def snapshot(d: RawDaemon, label: str | None = None) -> str:
    reply = d.request("snapd/snapshot", {"label": label} if label else {})
    assert "result" in reply, reply
    return str(reply["result"]["id"])


def restore(d: RawDaemon, sid: str, **params: Any) -> dict[str, Any]:
    reply = d.request("snapd/restore", {"from": sid, "dryRun": False, **params})
    assert "result" in reply, reply
    return dict(reply["result"])


# -- item 10: literal paths, separate patterns ----------------------------------------------------


@pytest.mark.fault(
    "#10 restore paths ['app/[id].tsx'] (a Next.js route name): only that file is restored, "
    "app/i.tsx and app/d.tsx are left alone; gitignore patterns go in 'patterns'",
    trials=1,
)
def test_paths_are_literal_and_patterns_are_separate(spawn: Any, tmp_path: Path) -> None:
    root = tmp_path / "work"
    write(root, "app/[id].tsx", "export default 1\n")
    write(root, "docs/a.md", "a\n")
    d = spawn()
    sid = snapshot(d)
    write(root, "app/[id].tsx", "export default 2\n")
    write(root, "app/i.tsx", "the user's own file\n")
    write(root, "app/d.tsx", "another user file\n")
    write(root, "docs/a.md", "edited\n")
    write(root, "docs/b.md", "new\n")

    done = restore(d, sid, paths=["app/[id].tsx"])
    assert (root / "app/[id].tsx").read_text() == "export default 1\n"
    assert (root / "app/i.tsx").read_text() == "the user's own file\n"
    assert (root / "app/d.tsx").read_text() == "another user file\n"
    assert done["written"] == 1 and done["deleted"] == 0, done

    # A pattern is a pattern only in 'patterns'.
    done = restore(d, sid, patterns=["*.md"])
    assert (root / "docs/a.md").read_text() == "a\n"
    assert not (root / "docs/b.md").exists()
    assert (root / "app/i.tsx").exists()
    # A literal '*.md' names a file called '*.md' (there is none): nothing to do.
    write(root, "docs/a.md", "edited again\n")
    done = restore(d, sid, paths=["*.md"])
    assert done["written"] == done["deleted"] == 0, done
    assert (root / "docs/a.md").read_text() == "edited again\n"
    # Empty patterns are refused like empty paths.
    reply = d.request("snapd/restore", {"from": sid, "patterns": []})
    assert reply["error"]["code"] == -32602 and reply["error"]["data"]["field"] == "patterns"


# -- inotify, to await the daemon's writes instead of sleeping -------------------------------------


class Inotify:
    """A minimal inotify watch (ctypes): wait for a named event in one directory."""

    IN_CREATE = 0x100
    IN_MOVED_TO = 0x80
    IN_CLOSE_WRITE = 0x8
    _EVENT = struct.Struct("iIII")

    def __init__(self, directory: Path, mask: int) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self._fd = libc.inotify_init1(os.O_CLOEXEC)
        assert self._fd >= 0, os.strerror(ctypes.get_errno())
        wd = libc.inotify_add_watch(self._fd, os.fsencode(directory), mask)
        assert wd >= 0, os.strerror(ctypes.get_errno())
        self._pending: list[tuple[int, str]] = []

    def wait(self, want: Callable[[int, str], bool], timeout: float = 60.0) -> tuple[int, str]:
        """Block until an event ``want(mask, name)`` accepts arrives (fail after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            while self._pending:
                mask, name = self._pending.pop(0)
                if want(mask, name):
                    return mask, name
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._fd], [], [], max(0.0, left))
            assert ready, "the awaited inotify event never came"
            data = os.read(self._fd, 64 * 1024)
            pos = 0
            while pos < len(data):
                _wd, mask, _cookie, size = self._EVENT.unpack_from(data, pos)
                pos += self._EVENT.size
                name = data[pos : pos + size].rstrip(b"\0").decode()
                pos += size
                self._pending.append((mask, name))

    def close(self) -> None:
        os.close(self._fd)


def contents(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".snapd-restore-")
    }


# -- item 14: a cancelled restore says what it did and stops -----------------------------------


@pytest.mark.fault(
    "#14 $/cancelRequest after a restore's first write: the answer is the real outcome "
    "(cancelled, remaining, safety snapshot), and nothing is written after it",
    trials=1,
)
def test_cancel_after_the_first_write_reports_what_was_done(spawn: Any, tmp_path: Path) -> None:
    root = tmp_path / "work"
    n = 60
    for i in range(n):
        write(root, f"many/{i:03}.txt", f"original {i}\n")
    # --test-restore-delay (hidden, test only): the restore sleeps after each file, so a cancel
    # lands with most of the plan still to do.
    d = spawn(None, "--test-restore-delay", "0.05")
    sid = snapshot(d)
    for i in range(n):
        write(root, f"many/{i:03}.txt", f"edited {i}\n")
    watch = Inotify(root / "many", Inotify.IN_MOVED_TO)
    try:
        rid = d.next_id()
        d.send(
            {
                "jsonrpc": "2.0",
                "id": rid,
                "method": "snapd/restore",
                "params": {"from": sid, "dryRun": False},
            }
        )
        watch.wait(lambda mask, name: not name.startswith(".snapd-restore-"))  # 1st rename
    finally:
        watch.close()
    d.send({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": rid}})
    while (reply := d.receive()).get("id") != rid:
        pass
    assert "result" in reply, reply  # not -32800: the restore had started writing
    res = reply["result"]
    at_answer = contents(root)
    restored = sum(v.startswith("original") for v in at_answer.values())
    assert res["applied"] is True and res["cancelled"] is True, res
    assert res["written"] == n and 0 < res["remaining"] < n, res
    assert restored == n - res["remaining"] - res.get("conflicted", 0), (restored, res)
    assert res["safetySnapshot"]
    # Nothing is written after the answer: a snapshot (which waits for the writer lock) and
    # the worktree agree with what the answer said.
    after = d.request("snapd/snapshot", {})["result"]
    assert contents(root) == at_answer
    assert after["changed"] == restored
    # The safety snapshot undoes the part that was done.
    undo = restore(d, res["safetySnapshot"])
    assert undo.get("conflicted", 0) == 0
    assert all(v.startswith("edited") for v in contents(root).values())


# -- item 5: an edit between the restore's check and its rename is never lost --------------------


@pytest.mark.fault(
    "#5 a user edit lands while the restore writes its temporary file (inotify-triggered, "
    "daemon stopped mid-write): the edit is kept and the path reported as a conflict",
    trials=1,
)
def test_an_edit_while_the_restore_writes_is_not_lost(spawn: Any, tmp_path: Path) -> None:
    root = tmp_path / "work"
    line = b"0123456789abcdef" * 4 + b"\n"
    original = line * (24 * 1024 * 1024 // len(line))  # 24 MiB: writing it takes a while
    write(root, "big.txt", original)
    write(root, "small.txt", "v1\n")
    d = spawn({"contentLimit": 64 * 1024 * 1024})
    sid = snapshot(d)
    write(root, "big.txt", b"the agent's version\n")
    write(root, "small.txt", "v2\n")
    watch = Inotify(root, Inotify.IN_CREATE)
    try:
        rid = d.next_id()
        params = {"from": sid, "dryRun": False, "paths": ["big.txt"]}
        d.send({"jsonrpc": "2.0", "id": rid, "method": "snapd/restore", "params": params})
        watch.wait(lambda mask, name: name.startswith(".snapd-restore-"))
        # The restore checked big.txt and is writing the new content to its temporary file:
        # stop it there, and edit big.txt the way an editor saving in place does.
        os.kill(d.pid, signal.SIGSTOP)
        try:
            assert (root / "big.txt").read_bytes() == b"the agent's version\n", "race lost"
            with open(root / "big.txt", "ab") as fh:
                fh.write(b"the user's edit\n")
        finally:
            os.kill(d.pid, signal.SIGCONT)
    finally:
        watch.close()
    while (reply := d.receive()).get("id") != rid:
        pass
    res = reply["result"]
    assert (root / "big.txt").read_bytes() == b"the agent's version\nthe user's edit\n"
    assert res.get("conflicted") == 1, res
    assert "changed" in res["conflicts"][0]["reason"], res
    assert not [p.name for p in root.iterdir() if p.name.startswith(".snapd-restore-")]
    # Without an edit the same restore goes through.
    done = restore(d, sid, paths=["big.txt"])
    assert done.get("conflicted", 0) == 0 and (root / "big.txt").read_bytes() == original


# -- items 2 and 13: content the target captured comes back, whatever the live capture skips ------


def diff_paths(d: RawDaemon, a: str, b: str | None = None) -> dict[str, str]:
    params: dict[str, Any] = {"from": a, "limit": 5000}
    if b is not None:
        params["to"] = b
    out: dict[str, str] = {}
    while True:
        page = d.request("snapd/diff", params)["result"]
        out.update({f["path"]: f["status"] for f in page["files"]})
        if not page.get("nextCursor"):
            return out
        params["cursor"] = page["nextCursor"]


@pytest.mark.fault(
    "#2 an agent adds 2,100 files to data/ (over dirNewFileBudget) and clobbers the 100 "
    "originals: restoring the earlier snapshot brings all 100 back, keeps the new files, and "
    "the clobbered content is in the safety snapshot",
    trials=1,
)
def test_restore_brings_back_files_in_a_directory_the_live_capture_skips(
    spawn: Any, tmp_path: Path
) -> None:
    root = tmp_path / "work"
    for i in range(100):
        write(root, f"data/{i:03}.txt", f"original {i}\n")
    write(root, "README.md", "readme\n")
    d = spawn()
    sid = snapshot(d, "A")
    for i in range(100):
        write(root, f"data/{i:03}.txt", f"clobbered {i}\n")
    for i in range(2100):
        write(root, f"data/new-{i:04}.txt", f"new {i}\n")
    dry = d.request("snapd/restore", {"from": sid})["result"]
    assert dry["written"] == 100, dry
    first = next(a for a in dry["plan"] if a["path"] == "data/000.txt")
    assert first["action"] == "write" and "safety snapshot keeps" in first["reason"], first

    done = restore(d, sid)
    assert done.get("conflicted", 0) == 0, done
    now = contents(root)
    assert sum(v.startswith("original") for v in now.values()) == 100
    assert sum(v.startswith("clobbered") for v in now.values()) == 0
    assert sum(k.startswith("data/new-") for k in now) == 2100  # uncaptured: kept
    # The clobbered content is recoverable: it is in the safety snapshot.
    safety = done["safetySnapshot"]
    changed = diff_paths(d, sid, safety)
    assert {f"data/{i:03}.txt" for i in range(100)} <= set(changed), changed
    undo = restore(d, safety)
    assert undo.get("conflicted", 0) == 0, undo
    now = contents(root)
    assert sum(v.startswith("clobbered") for v in now.values()) == 100
    assert sum(k.startswith("data/new-") for k in now) == 2100


@pytest.mark.fault(
    "#13 the agent adds src/ to .gitignore and rewrites src/: one whole-tree restore brings "
    "back .gitignore and every file of src/ the snapshot captured (the rewrite stays in the "
    "safety snapshot)",
    trials=1,
)
def test_restore_plans_against_the_targets_rules(spawn: Any, tmp_path: Path) -> None:
    root = tmp_path / "work"
    write(root, ".gitignore", "*.log\n")
    for i in range(5):
        write(root, f"src/m{i}.py", f"print({i})\n")
    write(root, "src/app.log", "a log line\n")
    d = spawn()
    sid = snapshot(d, "A")
    write(root, ".gitignore", "*.log\nsrc/\n")
    for i in range(5):
        write(root, f"src/m{i}.py", f"rewritten({i})\n")
    write(root, "src/extra.py", "the agent's new file\n")
    write(root, "src/app.log", "more log lines\n")

    done = restore(d, sid)
    assert done.get("conflicted", 0) == 0, done
    assert (root / ".gitignore").read_text() == "*.log\n"
    for i in range(5):
        assert (root / f"src/m{i}.py").read_text() == f"print({i})\n"
    # Not captured by the snapshot (ignored then too): left alone.
    assert (root / "src/app.log").read_text() == "more log lines\n"
    # Every file the snapshot captured is back: a second restore writes nothing. (The agent's
    # new src/extra.py was never captured, so the first restore kept it; now that src/ is
    # captured again, a second restore would delete it like any file the snapshot lacks.)
    assert (root / "src/extra.py").exists()
    again = d.request("snapd/restore", {"from": sid})["result"]
    assert again["written"] == 0, again
    assert [a["path"] for a in again["plan"] if a["action"] != "keep"] == ["src/extra.py"]
    # The rewrite is in the safety snapshot.
    undo = restore(d, done["safetySnapshot"])
    assert undo.get("conflicted", 0) == 0, undo
    assert (root / ".gitignore").read_text() == "*.log\nsrc/\n"
    for i in range(5):
        assert (root / f"src/m{i}.py").read_text() == f"rewritten({i})\n"
