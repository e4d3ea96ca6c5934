"""Who took a snapshot is recorded with it and read back as it was given."""

from __future__ import annotations

from pathlib import Path

import pytest

from snapd import protocol, requests
from tests.helpers import git, make_service, write


@pytest.mark.parametrize("name", ["editor", "agent: step\nline two", "ünïcode ✓", ""])
def test_the_client_name_round_trips(worktree: Path, store_dir: Path, name: str) -> None:
    svc = make_service(worktree, store_dir)
    write(worktree, "a.txt", "a\n")
    result = requests.snapshot(svc, protocol.SnapshotParams(label="x"), client=name)
    assert result.client == name
    listed = requests.snapshots(svc, protocol.SnapshotsParams()).snapshots
    assert [s.client for s in listed] == [name]
    # One trailer line, whatever the name holds: git still reads the commit.
    message = git(store_dir, "log", "-1", "--format=%B", result.id).stdout
    assert sum(line.startswith("Snapd-Client: ") for line in message.splitlines()) == 1


def test_no_client_name_is_no_client(worktree: Path, store_dir: Path) -> None:
    svc = make_service(worktree, store_dir)
    write(worktree, "a.txt", "a\n")
    result = requests.snapshot(svc, protocol.SnapshotParams())
    assert result.client is None
    assert "Snapd-Client" not in git(store_dir, "log", "-1", "--format=%B", result.id).stdout
