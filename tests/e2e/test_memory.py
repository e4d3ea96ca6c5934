"""Invariant 1: the daemon's memory is bounded by configuration, never by file size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from snapd_client import AsyncClient, StdioTransport
from tests.helpers import peak_rss_kib, write

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio, pytest.mark.slow]

MIB = 1024 * 1024


def pid_of(client: AsyncClient) -> int:
    assert isinstance(client.transport, StdioTransport)
    return client.transport.proc.pid


async def peak_after_snapshot_of(
    tmp_path: Path, size: int, options: dict[str, Any]
) -> tuple[int, int]:
    root = tmp_path / f"w{size}"
    write(root, "src/main.txt", "hello\n")
    async with await AsyncClient.spawn(
        root, store=tmp_path / f"s{size}", log_file=tmp_path / f"{size}.log", options=options
    ) as client:
        first = await client.snapshot()
        with open(root / "huge.dat", "wb") as fh:  # sparse: costs no disk, reads as zeros
            fh.truncate(size)
        snap = await client.snapshot()
        files = [f async for f in client.iter_diff(first.id, snap.id)]
        assert [f.path for f in files] == ["huge.dat"] and files[0].new_size == size
        hunks = await client.hunks(first.id, "huge.dat", snap.id)
        assert hunks.hunks == []
        assert hunks.truncated or hunks.binary or hunks.skipped
        return peak_rss_kib(pid_of(client)), snap.files


async def test_rss_does_not_grow_with_a_skipped_file(tmp_path: Path) -> None:
    small, _ = await peak_after_snapshot_of(tmp_path, 3 * MIB, {})
    big, _ = await peak_after_snapshot_of(tmp_path, 1024 * MIB, {})
    assert big - small < 16 * 1024, (small, big)


async def test_rss_does_not_grow_with_a_captured_file(tmp_path: Path) -> None:
    # Raise the content limit so a 400 MiB file is captured: it must be streamed in chunks.
    opts = {"contentLimit": 2048 * MIB}
    small, files_small = await peak_after_snapshot_of(tmp_path, 1 * MIB, opts)
    big, files_big = await peak_after_snapshot_of(tmp_path, 400 * MIB, opts)
    assert files_small == files_big == 2  # both captured, not skipped
    assert big - small < 32 * 1024, (small, big)
