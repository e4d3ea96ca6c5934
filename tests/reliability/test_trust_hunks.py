"""Hunk-level restore applies only what the client saw, and only from a complete diff.

Against the real daemon over pipes: a diff cut at ``diffMaxLines`` lists no hunk that exists
only because of the cut and is never applied hunk by hunk (issue 13, item 4); hunks are named
by their digest, so a selection made before the worktree changed is refused (or still means
the same change) instead of reverting whatever hunk now has that position (item 11).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import write
from tests.reliability.harness import RawDaemon

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Any]:
    started: list[RawDaemon] = []

    def start(options: dict[str, Any] | None = None) -> RawDaemon:
        d = RawDaemon.spawn(tmp_path / "work", tmp_path / "store", tmp_path / "d.log")
        started.append(d)
        assert "result" in d.initialize(options)
        return d

    (tmp_path / "work").mkdir()
    yield start
    for d in started:
        d.kill()
    assert "Traceback" not in (tmp_path / "d.log.stderr").read_text()


def snapshot(d: RawDaemon) -> str:
    reply = d.request("snapd/snapshot", {})
    assert "result" in reply, reply
    return str(reply["result"]["id"])


def list_hunks(d: RawDaemon, sid: str, path: str) -> tuple[list[dict[str, Any]], set[str]]:
    """Every hunk of ``path`` from ``sid`` to the worktree, and the truncation reasons said."""
    hunks: list[dict[str, Any]] = []
    reasons: set[str] = set()
    params: dict[str, Any] = {"from": sid, "path": path}
    while True:
        reply = d.request("snapd/hunks", params)
        assert "result" in reply, reply
        page = reply["result"]
        hunks += page["hunks"]
        if page.get("truncatedReason"):
            reasons.add(page["truncatedReason"])
        if not page.get("nextCursor"):
            return hunks, reasons
        params = {**params, "cursor": page["nextCursor"]}


def restore_hunks(d: RawDaemon, sid: str, path: str, digests: list[str]) -> dict[str, Any]:
    sel = {"path": path, "digests": digests}
    return d.request("snapd/restore", {"from": sid, "hunks": sel, "dryRun": False})


@pytest.mark.fault(
    "#4 a diff cut at diffMaxLines (10-line header deleted above 250,000 lines): no hunk "
    "at the cut, and hunk restore is refused (restore by path instead)",
    trials=1,
)
def test_line_capped_diff_is_never_applied(spawn: Any, tmp_path: Path) -> None:
    root = tmp_path / "work"
    header = "".join(f"header {i}\n" for i in range(10))
    body = "".join(f"l{i}\n" for i in range(250_000))  # 1.75 MB: within diffMaxBytes
    write(root, "big.txt", header + body)
    d = spawn()
    sid = snapshot(d)
    write(root, "big.txt", body)  # the agent deletes the header
    hunks, reasons = list_hunks(d, sid, "big.txt")
    assert reasons == {"line-cap"}
    # Only the real change: the header's deletion. Nothing pretends lines near the cut
    # (line 200,000) were inserted.
    assert [(h["oldStart"], h["oldLines"], h["newStart"], h["newLines"]) for h in hunks] == [
        (1, 13, 1, 3)
    ]
    assert [line[0] for line in hunks[0]["lines"]] == ["-"] * 10 + [" "] * 3
    reply = restore_hunks(d, sid, "big.txt", [h["digest"] for h in hunks])
    assert reply["error"]["code"] == -32602, reply
    assert reply["error"]["data"]["field"] == "hunks.path"
    assert "diffMaxLines" in reply["error"]["message"]
    assert "restore the file by path" in reply["error"]["message"]
    assert (root / "big.txt").read_text() == body  # untouched
    # By path it comes back whole.
    done = d.request("snapd/restore", {"from": sid, "paths": ["big.txt"], "dryRun": False})
    assert done["result"]["applied"], done
    assert (root / "big.txt").read_text() == header + body


@pytest.mark.fault(
    "#4 a diff that ran out of diffTimeout: its hunks are still exact and restore the file",
    trials=1,
)
def test_time_budget_hunks_restore_exactly(spawn: Any, tmp_path: Path) -> None:
    root = tmp_path / "work"
    rng = random.Random(13)
    old = [f"v{rng.randrange(20)}\n" for _ in range(600)]
    new = list(old)
    rng.shuffle(new)
    write(root, "f.txt", "".join(old))
    d = spawn({"diffTimeout": 0.0001})
    sid = snapshot(d)
    write(root, "f.txt", "".join(new))
    hunks, reasons = list_hunks(d, sid, "f.txt")
    assert reasons == {"time-budget"}
    reply = restore_hunks(d, sid, "f.txt", [h["digest"] for h in hunks])
    assert reply["result"]["applied"], reply
    assert (root / "f.txt").read_text() == "".join(old)


@pytest.mark.fault(
    "#4 a file over diffMaxBytes (streamed hunks): hunk restore is refused, not half-applied",
    trials=1,
)
def test_streamed_hunks_are_not_restored(spawn: Any, tmp_path: Path) -> None:
    root = tmp_path / "work"
    old = "".join(f"row {i}\n" for i in range(20_000))
    write(root, "big.txt", old)
    d = spawn({"diffMaxBytes": 64 * 1024, "diffWindowBytes": 16 * 1024})
    sid = snapshot(d)
    new = old.replace("row 5\n", "agent 5\n").replace("row 19000\n", "agent 19000\n")
    write(root, "big.txt", new)
    hunks, _reasons = list_hunks(d, sid, "big.txt")
    assert len(hunks) == 2
    reply = restore_hunks(d, sid, "big.txt", [hunks[0]["digest"]])
    assert reply["error"]["code"] == -32602, reply
    assert reply["error"]["data"]["field"] == "hunks.path"
    assert "diffMaxBytes" in reply["error"]["message"]
    assert (root / "big.txt").read_text() == new


@pytest.mark.fault(
    "#11 the user edits the file after the client listed its hunks: the selected hunk is "
    "the one restored (by digest), never the user's edit that took its index",
    trials=2,
)
def test_hunk_selection_names_its_content(spawn: Any, tmp_path: Path) -> None:
    root = tmp_path / "work"
    lines = [f"line {i}\n" for i in range(1, 41)]
    write(root, "f.txt", "".join(lines))
    d = spawn()
    sid = snapshot(d)
    agent = list(lines)
    agent[29] = "agent's line 30\n"
    write(root, "f.txt", "".join(agent))
    listed, _ = list_hunks(d, sid, "f.txt")
    assert len(listed) == 1  # the agent's change, hunk 0
    # The user edits line 2 (above it): the agent's change is now the second hunk.
    user = list(agent)
    user[1] = "user's line 2\n"
    user.insert(5, "user's new line\n")
    write(root, "f.txt", "".join(user))
    now, _ = list_hunks(d, sid, "f.txt")
    assert len(now) == 2 and now[1]["digest"] == listed[0]["digest"]
    reply = restore_hunks(d, sid, "f.txt", [listed[0]["digest"]])
    assert reply["result"]["applied"], reply
    expect = list(user)
    expect[30] = "line 30\n"  # the agent's change undone (one line lower now)
    assert (root / "f.txt").read_text() == "".join(expect)  # the user's edits stay

    # The user edits inside a listed hunk: its digest names nothing now, and it is refused.
    write(root, "f.txt", "".join(agent))
    listed, _ = list_hunks(d, sid, "f.txt")
    changed = list(agent)
    changed[30] = "user's line 31\n"
    write(root, "f.txt", "".join(changed))
    reply = restore_hunks(d, sid, "f.txt", [listed[0]["digest"]])
    assert reply["error"]["code"] == -31009, reply
    assert reply["error"]["data"] == {"field": "hunks.digests", "digest": listed[0]["digest"]}
    assert listed[0]["digest"] in reply["error"]["message"]
    assert (root / "f.txt").read_text() == "".join(changed)  # untouched


@pytest.mark.fault("#11 a hunk selection by index (no digest) is refused", trials=1)
def test_index_selection_is_refused(spawn: Any, tmp_path: Path) -> None:
    root = tmp_path / "work"
    write(root, "f.txt", "a\nb\n")
    d = spawn()
    sid = snapshot(d)
    write(root, "f.txt", "a\nB\n")
    sel = {"path": "f.txt", "indexes": [0]}
    reply = d.request("snapd/restore", {"from": sid, "hunks": sel, "dryRun": False})
    assert reply["error"]["code"] == -32602, reply
    assert "digests" in reply["error"]["message"]
    assert (root / "f.txt").read_text() == "a\nB\n"
