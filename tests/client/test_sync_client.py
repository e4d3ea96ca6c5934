"""The generated blocking Client against an in-memory fake daemon (no subprocess)."""

from __future__ import annotations

import threading
from collections.abc import Generator
from typing import Any

import pytest

from snapd_client import AsyncClient, Client, UnknownSnapshot
from tests.client.fakes import Fail, FakeDaemon, paged
from tests.client.test_client_unit import SNAPSHOT_RESULT, change, hunk

# -- the generated blocking Client ----------------------------------------------------------------


def sync_fake() -> FakeDaemon:
    files = [change(f"f{i}") for i in range(5)]

    def status(params: Any) -> Any:
        raise Fail(-31001, "from: unknown snapshot", {"field": "from"})

    return FakeDaemon(
        {
            "snapd/diff": paged(files, "files", 2),
            "snapd/hunks": paged([hunk(i) for i in range(1, 4)], "hunks", 1),
            "snapd/status": status,
            "snapd/snapshot": lambda p: SNAPSHOT_RESULT,
        }
    )


def test_sync_client_runs_on_a_background_loop() -> None:
    fake = sync_fake()
    with Client(fake) as client:
        client.initialize("/tmp/worktree")
        assert client.protocol_version == "0.1"
        assert [f.path for f in client.iter_diff("latest")] == [f"f{i}" for i in range(5)]
        hunks = client.iter_hunks("latest", "f1")
        assert next(hunks).old_start == 1
        assert isinstance(hunks, Generator)
        hunks.close()  # abandoning an iterator early closes its async generator
        assert client.snapshot("x").created
        with pytest.raises(UnknownSnapshot) as info:
            client.status()
        assert info.value.field == "from"
        threads = {t.name for t in threading.enumerate()}
        assert "snapd-client-loop" in threads
        seen: list[Any] = []
        client.on_notification("window/logMessage", seen.append)
        assert client.next_id() > 0
        assert isinstance(client.async_client, AsyncClient)
        assert client.transport is fake
        assert client.initialize_result is not None
    assert fake.closed
    assert not any(t.name == "snapd-client-loop" for t in threading.enumerate())
    client.close()  # idempotent


def test_sync_client_after_close_raises() -> None:
    client = Client(sync_fake())
    client.close()
    with pytest.raises(RuntimeError, match="closed"):
        client.status()
