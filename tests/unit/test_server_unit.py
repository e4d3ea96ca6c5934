"""The server's protocol class without a subprocess: what it refuses to keep."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pygls.workspace import Workspace

from snapd.server import SnapdProtocol, SnapdServer


def test_documents_a_client_sends_are_never_held(tmp_path: Path) -> None:
    async def run() -> None:
        server = SnapdServer(root=None, store=None, data_home=str(tmp_path))
        proto = server.protocol
        assert isinstance(proto, SnapdProtocol)
        proto._workspace = Workspace(None)  # as after initialize
        doc = {"uri": "file:///w/big.txt", "languageId": "plaintext", "version": 1}
        messages = [
            ("textDocument/didOpen", {"textDocument": {**doc, "text": "x" * 100_000}}),
            (
                "textDocument/didChange",
                {
                    "textDocument": {"uri": doc["uri"], "version": 2},
                    "contentChanges": [{"text": "y" * 100_000}],
                },
            ),
            ("textDocument/didClose", {"textDocument": {"uri": doc["uri"]}}),
            (
                "workspace/didChangeWorkspaceFolders",
                {"event": {"added": [{"uri": "file:///elsewhere", "name": "x"}], "removed": []}},
            ),
        ]
        for method, params in messages[:2]:
            proto.handle_message(
                proto.structure_message({"jsonrpc": "2.0", "method": method, "params": params})
            )
            await asyncio.sleep(0)
            assert not proto.workspace.text_documents, method
        for method, params in messages[2:]:
            proto.handle_message(
                proto.structure_message({"jsonrpc": "2.0", "method": method, "params": params})
            )
        await asyncio.sleep(0)
        assert not proto.workspace.folders

    asyncio.run(run())


def test_test_hooks_are_off_the_wire() -> None:
    """testRestoreDelay is a hidden command-line flag: initializationOptions cannot set it."""
    import pytest

    from snapd.cli import parser
    from snapd.config import Options, wire_option_names

    assert "testRestoreDelay" not in wire_option_names()
    with pytest.raises(ValueError, match="unknown option 'testRestoreDelay'"):
        Options().with_wire({"testRestoreDelay": 1.0})
    server = SnapdServer(
        root=None,
        store=None,
        data_home="/nonexistent",
        overrides={"testRestoreDelay": 0.25},
    )
    assert server.options.test_restore_delay == 0.25
    assert parser().parse_args(["--stdio", "--test-restore-delay", "0.5"]).test_restore_delay == 0.5
    assert "--test-restore-delay" not in parser().format_help()


def test_a_cancel_that_comes_after_the_snapshot_is_recorded_gets_the_snapshot(
    tmp_path: Path,
) -> None:
    """A client is never told "cancelled" (-32800) about a snapshot that exists."""
    import threading
    from typing import Any

    from snapd import protocol
    from snapd.handlers import build_server

    answer = protocol.SnapshotResult(
        id="a" * 40,
        created=True,
        time=0,
        files=1,
        bytes=1,
        skipped=0,
        skipped_bytes=0,
        changed=1,
        hashed=1,
    )

    async def run() -> None:
        server = build_server(root=None, store=None, data_home=str(tmp_path))
        handler = server.protocol.fm.features[protocol.SNAPD_SNAPSHOT]
        recorded, release = asyncio.Event(), asyncio.Event()
        seen: list[threading.Event] = []

        class Recording:
            async def snapshot(self, params: Any, *, cancel: Any, **_: Any) -> Any:
                seen.append(cancel)
                recorded.set()  # the ref is moved: the snapshot exists from here on
                await release.wait()
                return answer

        server.session = Recording()  # type: ignore[assignment]
        task = asyncio.ensure_future(handler(protocol.SnapshotParams()))
        await recorded.wait()
        task.cancel()  # $/cancelRequest arrives while the result is on its way
        release.set()
        assert await task == answer
        assert seen[0].is_set()  # the worker was still told to stop

    asyncio.run(run())
