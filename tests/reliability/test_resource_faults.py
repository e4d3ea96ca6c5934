"""Resource faults: a full disk under the store, inotify exhaustion, over-broad roots."""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from snapd import errors, protocol, requests
from snapd.session import Session
from snapd.store.repo import Store
from snapd.store.writers import BlobWriter
from snapd.watch import inotify
from snapd_client import AsyncClient, InvalidParams, ResponseError, StdioTransport, daemon_command
from tests.helpers import eventually, make_service, write
from tests.reliability.harness import (
    MIB,
    assert_fsck_clean,
    assert_snapshots_readable,
    snapshot_ids,
)


@pytest.mark.fault("disk full (ENOSPC) while writing objects, simulated in the Store", trials=3)
def test_enospc_in_the_store_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, store = tmp_path / "work", tmp_path / "store"
    write(root, "a.txt", "a\n")
    service = make_service(root, store, watch=False)
    first = requests.snapshot(service, protocol.SnapshotParams(label="before the disk filled"))

    def full(*_args: Any, **_kw: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device")

    # Three places objects are written: small blobs, streamed blobs, trees/commits (dulwich).
    cases: list[tuple[type, str, bytes]] = [
        (Store, "write_small_blob", b"small change\n"),
        (BlobWriter, "write", b"s" * (400 * 1024)),
        (Store, "write_tree", b"only a rename\n"),
    ]
    for target, name, data in cases:
        write(root, "a.txt", data)
        with monkeypatch.context() as m:
            m.setattr(target, name, full)
            with pytest.raises(errors.StoreFailure) as info:
                requests.snapshot(service, protocol.SnapshotParams())
        data_out = info.value.data
        assert data_out is not None and data_out["errno"] == errno.ENOSPC, data_out
        assert "No space left" in str(info.value)
        assert service.store.refs.head() == first.id  # nothing was committed
    # The disk has room again: the next snapshot works; the earlier one was never touched.
    again = requests.snapshot(service, protocol.SnapshotParams())
    assert again.created and again.id != first.id
    service.close()
    assert_fsck_clean(store)
    assert_snapshots_readable(store, snapshot_ids(store))
    leftovers = [p for p in (store / "objects").rglob("*") if p.name.startswith("tmp_obj_")]
    assert leftovers == []


@pytest.mark.e2e
@pytest.mark.asyncio
@pytest.mark.fault("disk full (ENOSPC): the store on a real 2 MiB tmpfs", trials=2)
async def test_store_on_a_full_tmpfs(tmp_path: Path, tiny_tmpfs: Path) -> None:
    root, store = tmp_path / "work", tiny_tmpfs / "store"
    write(root, "src/a.txt", "a\n")
    async with await AsyncClient.spawn(root, store=store, log_file=tmp_path / "t.log") as c:
        first = await c.snapshot(label="fits")
        # 3 MiB of incompressible content (each file under the 2 MiB content limit).
        for i in range(2):
            write(root, f"blob{i}.bin", os.urandom(3 * MIB // 2))
        for _ in range(2):  # twice: a failed snapshot must not wedge the next one
            with pytest.raises(ResponseError) as info:
                await c.snapshot()
            assert info.value.code == -31007 and info.value.data["errno"] == errno.ENOSPC
        assert (await c.status()).head == first.id
        for i in range(2):
            (root / f"blob{i}.bin").unlink()
        write(root, "src/a.txt", "b\n")
        after = await c.snapshot()
        assert after.created
    assert_fsck_clean(store)
    assert_snapshots_readable(store, snapshot_ids(store))


class _FailingAwatch:
    """Stands in for ``watchfiles.awatch``: raises when called or when iterated."""

    def __init__(self, when: str) -> None:
        self.when = when

    def __call__(self, *_args: Any, **_kw: Any) -> AsyncIterator[set[tuple[Any, str]]]:
        if self.when == "call":
            raise OSError(errno.ENOSPC, "inotify watch limit reached")
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[set[tuple[Any, str]]]:
        yield set()  # the watches seemed to be in place ...
        await asyncio.sleep(0.05)
        raise OSError(errno.ENOSPC, "inotify watch limit reached")  # ... then ran out


class _FailingInotify:
    """Stands in for ``Inotify.add_watch``: the watch limit is reached at start or later."""

    def __init__(self, when: str) -> None:
        self.when = when
        self.real = inotify.Inotify.add_watch
        self.started = False

    def __call__(self, ino: inotify.Inotify, path: bytes, mask: int) -> int:
        if self.when == "call" or self.started:
            raise OSError(errno.ENOSPC, "inotify watch limit reached")
        return self.real(ino, path, mask)


@pytest.mark.parametrize("backend", ["watchfiles", "inotify"])
@pytest.mark.parametrize("when", ["call", "iterate"])
@pytest.mark.fault("inotify watch exhaustion: watcher degrades, snapshots reconcile", trials=1)
def test_inotify_exhaustion_degrades_to_scanning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str, backend: str
) -> None:
    root, store = tmp_path / "work", tmp_path / "store"
    write(root, "a.txt", "a\n")
    failing = _FailingInotify(when)
    if backend == "watchfiles":
        monkeypatch.setattr("snapd.watch.watcher.awatch", _FailingAwatch(when))
    elif not inotify.available():
        pytest.skip("inotify is Linux only")
    else:
        monkeypatch.setattr(inotify.Inotify, "add_watch", lambda ino, p, m: failing(ino, p, m))
    service = make_service(root, store, auto_snapshot=False)

    async def run() -> None:
        session = Session(service, lambda *_: None, force_polling=backend == "watchfiles")
        await session.start()
        if backend == "inotify" and when == "iterate":
            failing.started = True
            (root / "new-dir").mkdir()  # its watch cannot be added
        await eventually(
            lambda: session.watcher is not None and session.watcher.stats.state == "degraded",
            "the watcher degrades",
        )
        status = await asyncio.to_thread(session.status)
        assert status.watcher == "degraded", status
        assert status.watcher_reason and "inotify watch limit" in status.watcher_reason
        first = await session.snapshot(protocol.SnapshotParams())
        write(root, "a.txt", "changed while nobody watched\n")
        second = await session.snapshot(protocol.SnapshotParams())
        assert first.consistency == second.consistency == protocol.Consistency.RECONCILED
        assert second.changed == 1  # the full walk found what no event reported
        await session.close()

    asyncio.run(run())


def pid_alive(client: AsyncClient) -> bool:
    assert isinstance(client.transport, StdioTransport)
    return client.transport.proc.returncode is None


@pytest.mark.e2e
@pytest.mark.asyncio
@pytest.mark.fault("refuse to serve / or $HOME unless allowBroadRoot is set", trials=4)
async def test_broad_roots_are_refused_unless_forced(tmp_path: Path) -> None:
    home = Path(os.environ["HOME"])
    write(home, "notes.txt", "a small home for the test\n")
    cmd = daemon_command(store=tmp_path / "store", log_file=tmp_path / "b.log")
    for root, extra, field in [
        ("/", ["--root", "/"], "root"),
        (str(home), [], "rootUri"),
        (str(home / "."), [], "rootUri"),  # the same directory spelled differently
    ]:
        client = AsyncClient(await StdioTransport.spawn([*cmd, *extra]))
        try:
            with pytest.raises(InvalidParams) as info:
                await client.initialize(root if not extra else None)
            assert info.value.field == field
            assert "allowBroadRoot" in str(info.value)
            assert pid_alive(client)
        finally:
            await client.transport.close()
    assert not (tmp_path / "store").exists()  # refused before the store was created
    # Forced: the home directory is served.
    async with await AsyncClient.spawn(
        home,
        store=tmp_path / "store",
        log_file=tmp_path / "f.log",
        options={"allowBroadRoot": True},
    ) as client:
        assert (await client.snapshot()).files >= 1
