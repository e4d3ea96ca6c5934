"""A snapshot's session is recorded with it, read back as given, and filters the listing."""

from __future__ import annotations

from pathlib import Path

import pytest

from snapd import errors, protocol, requests
from tests.helpers import git, make_service, write


@pytest.mark.parametrize("name", ["agent-a", "turn 3\nline two", "ünïcode ✓", ""])
def test_the_session_round_trips(worktree: Path, store_dir: Path, name: str) -> None:
    svc = make_service(worktree, store_dir)
    write(worktree, "a.txt", "a\n")
    result = requests.snapshot(svc, protocol.SnapshotParams(label="x", session=name), client="ed")
    assert (result.session, result.client) == (name, "ed")
    listed = requests.snapshots(svc, protocol.SnapshotsParams(session=name)).snapshots
    assert [(s.id, s.session) for s in listed] == [(result.id, name)]
    message = git(store_dir, "log", "-1", "--format=%B", result.id).stdout
    assert sum(line.startswith("Snapd-Session: ") for line in message.splitlines()) == 1


def test_no_session_is_no_session(worktree: Path, store_dir: Path) -> None:
    svc = make_service(worktree, store_dir)
    write(worktree, "a.txt", "a\n")
    result = requests.snapshot(svc, protocol.SnapshotParams())
    assert result.session is None
    assert "Snapd-Session" not in git(store_dir, "log", "-1", "--format=%B", result.id).stdout


def test_the_filter_pages_one_session_newest_first(worktree: Path, store_dir: Path) -> None:
    svc = make_service(worktree, store_dir)
    taken: dict[str | None, list[str]] = {"a": [], "b": [], None: []}
    for i in range(7):
        write(worktree, "a.txt", f"{i}\n")
        session = ("a", "b", None)[i % 3]
        params = protocol.SnapshotParams(label=str(i), session=session)
        taken[session].append(requests.snapshot(svc, params).id)
    for session in ("a", "b"):
        seen: list[str] = []
        cursor = None
        while True:
            page = requests.snapshots(
                svc, protocol.SnapshotsParams(session=session, limit=1, cursor=cursor)
            )
            seen += [s.id for s in page.snapshots]
            assert all(s.session == session for s in page.snapshots)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == list(reversed(taken[session]))
    everything = requests.snapshots(svc, protocol.SnapshotsParams()).snapshots
    assert len(everything) == 7
    # A cursor of one session's listing is refused by another's: it would skip its snapshots.
    first = requests.snapshots(svc, protocol.SnapshotsParams(session="a", limit=1))
    assert first.next_cursor is not None
    with pytest.raises(errors.BadCursor):
        requests.snapshots(svc, protocol.SnapshotsParams(session="b", cursor=first.next_cursor))
