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


async def peak_after_hunks_of(tmp_path: Path, rows: int) -> tuple[int, list[int]]:
    """A tracked JSONL of ``rows`` rows with 20 rows edited: every hunk, then the peak RSS."""
    root = tmp_path / f"j{rows}"
    lines = [b'{"row": %d, "payload": "%s"}\n' % (i, b"p" * (i % 200)) for i in range(rows)]
    write(root, "data/events.jsonl", b"".join(lines))
    opts = {"contentLimit": 256 * MIB}
    async with await AsyncClient.spawn(
        root, store=tmp_path / f"js{rows}", log_file=tmp_path / f"j{rows}.log", options=opts
    ) as client:
        first = await client.snapshot()
        edited = [rows * k // 20 + 7 for k in range(20)]
        for i in edited:
            lines[i] = b'{"row": %d, "edited": true}\n' % i
        write(root, "data/events.jsonl", b"".join(lines))
        snap = await client.snapshot()
        hunks = [h async for h in client.iter_hunks(first.id, "data/events.jsonl", snap.id)]
        changed = [h.old_start + 3 - 1 for h in hunks]  # context 3: the edited row, 0-based
        return peak_rss_kib(pid_of(client)), changed


async def test_hunks_of_a_big_text_file_are_streamed(tmp_path: Path) -> None:
    # The seed's 31 MB JSONL with 20 edited lines: 60 MiB here, over diffMaxBytes (2 MiB), so
    # both sides are streamed through a 1 MiB window instead of being read whole.
    small, small_changed = await peak_after_hunks_of(tmp_path, 8_000)
    big, big_changed = await peak_after_hunks_of(tmp_path, 500_000)
    assert small_changed == [8_000 * k // 20 + 7 for k in range(20)]
    assert big_changed == [500_000 * k // 20 + 7 for k in range(20)]
    # Reading one side whole would cost 60 MiB; the window costs a few.
    assert big - small < 24 * 1024, (small, big)


async def peak_after_revert_of(tmp_path: Path, size: int) -> int:
    """A file of ``size`` bytes changed by a step and still as the step left it, reverted."""
    root = tmp_path / f"r{size}"
    write(root, "src/main.txt", "hello\n")
    with open(root / "big.dat", "wb") as fh:  # sparse: costs little disk, reads as zeros
        fh.truncate(size)
    opts = {"contentLimit": 2048 * MIB}
    async with await AsyncClient.spawn(
        root, store=tmp_path / f"rs{size}", log_file=tmp_path / f"r{size}.log", options=opts
    ) as client:
        before = await client.snapshot("before")
        with open(root / "big.dat", "r+b") as fh:
            fh.write(b"the step wrote this\n")
        after = await client.snapshot("after")
        done = await client.revert(before.id, after.id, dry_run=False)
        assert [(a.path, a.action.value) for a in done.plan] == [("big.dat", "revert")]
        with open(root / "big.dat", "rb") as fh:
            assert fh.read(64) == b"\0" * 64
        return peak_rss_kib(pid_of(client))


async def test_rss_does_not_grow_with_a_reverted_file(tmp_path: Path) -> None:
    # Over diffMaxBytes and still equal to `to`: compared by hash and written, both streamed.
    small = await peak_after_revert_of(tmp_path, 1 * MIB)
    big = await peak_after_revert_of(tmp_path, 300 * MIB)
    assert big - small < 32 * 1024, (small, big)
