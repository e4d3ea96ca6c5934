"""Watcher pieces without a real watcher: the dirty set, batches, the filter, reconcile."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from watchfiles import Change

from snapd import protocol, requests
from snapd.watch import inotify
from snapd.watch import watcher as watch
from snapd.watch.dirty import DirtySet
from snapd.watch.filter import SnapdFilter
from snapd.watch.watcher import MAX_RESTARTS, OVERFLOW_BATCH, Watcher
from tests.helpers import eventually, git, make_service, write


def test_dirty_set_take_give_back_and_bound() -> None:
    d = DirtySet()
    assert d.take() is None  # a new set knows nothing: the first snapshot walks everything
    d.add(b"a/b.txt")
    d.add(b"src/.gitignore")
    assert d.take() == frozenset({b"a/b.txt", b"src/.gitignore"})
    assert d.take() == frozenset()
    d.give_back(frozenset({b"x"}))
    assert d.take() == frozenset({b"x"})
    d.invalidate()
    d.add(b"y")
    assert d.count() == -1 and d.take() is None


def test_filter_keeps_everything_capturable() -> None:
    f = SnapdFilter("/w", "/store", "/store/cookies")
    assert f(Change.modified, "/w/.notes.swp")
    assert f(Change.modified, "/w/node_modules/x/index.js")
    assert f(Change.added, "/store/cookies/1-1")
    assert not f(Change.modified, "/w/.git/index")
    assert not f(Change.modified, "/w/sub/.git/HEAD")
    assert not f(Change.added, "/store/objects/ab/cdef")


def test_filter_matches_whole_components_of_the_relative_path() -> None:
    # Issue 13 #6: a store path that is a string prefix of the root, a root below ".git".
    f = SnapdFilter("/x/app-web", "/x/app", "/x/app/cookies")
    assert f(Change.modified, "/x/app-web/src/a.txt")
    assert not f(Change.modified, "/x/app/objects/ab")
    g = SnapdFilter("/x/.git/wt", "/x/store", "/x/store/cookies")
    assert g(Change.modified, "/x/.git/wt/src/a.txt")
    assert not g(Change.modified, "/x/.git/wt/.git/index")


def test_batches_note_paths_and_overflow_invalidates(tmp_path: Path) -> None:
    async def run() -> None:
        dirty = DirtySet()
        dirty.take()
        seen: list[list[bytes]] = []
        w = Watcher(
            str(tmp_path),
            str(tmp_path / "store"),
            dirty,
            on_batch=seen.append,
            backend="watchfiles",
        )
        w._batch({(Change.modified, str(tmp_path / "src" / "a.py"))})
        assert dirty.take() == frozenset({b"src/a.py"}) and seen == [[b"src/a.py"]]
        w._batch({(Change.added, str(tmp_path / f"f{i}")) for i in range(OVERFLOW_BATCH)})
        assert dirty.take() is None  # assume the kernel queue overflowed
        w._batch({(Change.added, str(tmp_path / "bad\ufffdname"))})
        assert dirty.take() is None  # an undecodable name cannot be trusted

    asyncio.run(run())


def test_a_suppressed_watcher_is_corrected_by_reconcile(worktree: Path, store_dir: Path) -> None:
    svc = make_service(worktree, store_dir)
    requests.snapshot(svc, protocol.SnapshotParams())
    write(worktree, "src/missed.txt", "the watcher never reported this\n")
    write(worktree, "src/main.txt", "also missed\n")
    blind = requests.snapshot(svc, protocol.SnapshotParams(label="blind"), dirty=frozenset())
    assert blind.consistency == "exact" and blind.changed == 0  # it trusted an empty set
    fixed = requests.snapshot(svc, protocol.SnapshotParams(label="reconcile"))
    assert fixed.consistency == "reconciled" and fixed.changed == 2
    assert git(store_dir, "show", f"{fixed.id}:src/missed.txt").stdout.startswith("the watcher")
    svc.close()


class ScriptedWatch:
    """Stands in for ``awatch``: each (re)start yields or raises what the test queues."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[set[tuple[Change, str]] | BaseException] = asyncio.Queue()
        self.starts = 0

    def __call__(self, *paths: str, **kwargs: Any) -> AsyncIterator[set[tuple[Change, str]]]:
        self.starts += 1
        return self._run(kwargs["stop_event"])

    async def _run(self, stop: asyncio.Event) -> AsyncIterator[set[tuple[Change, str]]]:
        while True:
            item = await self.queue.get()
            if stop.is_set():
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    async def stop(self, watcher: Watcher, task: asyncio.Task[None]) -> None:
        watcher.stop()
        self.queue.put_nowait(set())
        await asyncio.wait_for(task, 30)


def poisoned() -> ExceptionGroup:
    # What awatch raises after an event on a non-UTF-8 name (wrapped by anyio's task group).
    return ExceptionGroup("unhandled errors in a TaskGroup", [RuntimeError("Unable to decode")])


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> ScriptedWatch:
    fake = ScriptedWatch()
    monkeypatch.setattr(watch, "awatch", fake)
    return fake


def test_a_snapshot_during_a_restart_leaves_the_next_one_walking(
    tmp_path: Path, scripted: ScriptedWatch
) -> None:
    async def run() -> None:
        dirty = DirtySet()
        w = Watcher(str(tmp_path), str(tmp_path / "store"), dirty, backend="watchfiles")
        task = asyncio.create_task(w.run())
        scripted.queue.put_nowait(set())
        assert await w.wait_ready(30)
        assert dirty.take() is None  # the start-up walk
        scripted.queue.put_nowait(poisoned())
        await eventually(lambda: w.stats.state == "starting")
        assert w.stats.restarts == 1 and scripted.starts == 2
        # A snapshot in the gap walks everything and consumes the mark; changes made before
        # the new watches are in place go unreported, so the mark must come back...
        assert dirty.take() is None
        assert dirty.take() == frozenset()
        scripted.queue.put_nowait(set())
        await eventually(lambda: w.stats.state == "watching")
        # ...once they are: the next snapshot walks again, later ones are incremental.
        assert dirty.take() is None
        scripted.queue.put_nowait({(Change.modified, str(tmp_path / "a.txt"))})
        await eventually(lambda: dirty.count() == 1)
        assert dirty.take() == frozenset({b"a.txt"})
        await scripted.stop(w, task)

    asyncio.run(run())


def test_a_restart_releases_waiting_syncs(tmp_path: Path, scripted: ScriptedWatch) -> None:
    async def run() -> None:
        w = Watcher(str(tmp_path), str(tmp_path / "store"), DirtySet(), backend="watchfiles")
        task = asyncio.create_task(w.run())
        scripted.queue.put_nowait(set())
        assert await w.wait_ready(30)
        # The scripted watcher never reports the cookie; only the restart can end this sync
        # (its own timeout is far beyond the test's).
        sync = asyncio.create_task(w.sync(within_s=3600))
        await eventually(lambda: bool(w._cookie_waiters))
        scripted.queue.put_nowait(poisoned())
        assert await asyncio.wait_for(sync, 30) is False
        assert not w._cookie_waiters and not list((tmp_path / "store" / "cookies").iterdir())
        await scripted.stop(w, task)

    asyncio.run(run())


def test_a_restart_storm_degrades_then_the_watcher_comes_back(
    tmp_path: Path, scripted: ScriptedWatch
) -> None:
    async def run() -> None:
        dirty = DirtySet()
        w = Watcher(str(tmp_path), str(tmp_path / "store"), dirty, backend="watchfiles")
        w.restart_backoff_s = 0.2
        task = asyncio.create_task(w.run())
        scripted.queue.put_nowait(set())
        assert await w.wait_ready(30)
        dirty.take()
        for _ in range(MAX_RESTARTS + 1):
            scripted.queue.put_nowait(poisoned())
        await eventually(lambda: w.stats.state == "degraded")
        assert w.stats.reason is not None and "failed 11 times" in w.stats.reason
        assert not w.healthy and dirty.take() is None
        # After the back-off it starts again (one more start than failures so far).
        await eventually(lambda: scripted.starts == MAX_RESTARTS + 2)
        scripted.queue.put_nowait(set())
        await eventually(lambda: w.stats.state == "watching")
        assert w.stats.reason is None and dirty.take() is None
        await scripted.stop(w, task)

    asyncio.run(run())


def test_events_of_a_path_a_restore_is_writing_are_not_news(
    worktree: Path, store_dir: Path
) -> None:
    from snapd.restore.apply import RestoreEvent
    from snapd.session import Session

    session = Session(make_service(worktree, store_dir), lambda method, params: None)
    path = b"src/x.txt"
    session._on_restore(RestoreEvent("pending", path))
    write(worktree, "src/x.txt", "written by the restore, not reported yet\n")
    assert session._own_restore_write(path)  # its event may come before the report
    session._on_restore(RestoreEvent("write", path, os.lstat(worktree / "src/x.txt")))
    assert session._own_restore_write(path)
    write(worktree, "src/x.txt", "and then edited by someone else\n")
    assert not session._own_restore_write(path)
    session._on_restore(RestoreEvent("pending", b"src/y.txt"))
    session._on_restore(RestoreEvent("failed", b"src/y.txt"))  # left as it was
    assert not session._own_restore_write(b"src/y.txt")


# -- review of the issue-13 watcher change -----------------------------------------------------


def test_a_failing_batch_callback_still_answers_the_syncs_of_its_batch(tmp_path: Path) -> None:
    class OneBatch:
        def read(self) -> inotify.Batch:
            return inotify.Batch(paths=[b"src/a.txt"], cookies=[b"1-1"], events=2)

    def broken(paths: list[bytes]) -> None:
        raise RuntimeError("the policy could not be built")

    async def run() -> None:
        dirty = DirtySet()
        dirty.take()
        w = Watcher(str(tmp_path), str(tmp_path / "store"), dirty, on_batch=broken)
        waiter = asyncio.Event()
        w._cookie_waiters["1-1"] = waiter
        w._readable(OneBatch(), asyncio.Event())  # type: ignore[arg-type]
        assert waiter.is_set()  # the sync waiting for this cookie is answered
        assert dirty.take() == frozenset({b"src/a.txt"})

    asyncio.run(run())


@pytest.mark.skipif(not inotify.available(), reason="inotify only")
def test_an_index_that_cannot_be_read_fails_no_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import struct
    import threading

    gate = threading.Event()
    calls: list[bytes] = []

    def tracked_paths(root: bytes) -> frozenset[bytes]:
        calls.append(root)
        if len(calls) == 1:
            return frozenset({b"a.txt"})
        gate.wait(30)
        # What dulwich raises on a truncated index (tracked_paths does not catch it).
        raise struct.error("unpack requires a buffer of 8 bytes")

    monkeypatch.setattr(watch, "tracked_paths", tracked_paths)

    async def run() -> None:
        root = tmp_path / "wt"
        (root / ".git").mkdir(parents=True)
        dirty = DirtySet()
        w = Watcher(str(root), str(tmp_path / "store"), dirty, backend="inotify")
        task = asyncio.create_task(w.run())
        assert await w.wait_ready(30)
        dirty.take()
        generation = w.policy_generation
        (root / ".git" / "index").write_bytes(b"DIRC")
        await eventually(lambda: len(calls) == 2)
        sync = asyncio.create_task(w.sync(within_s=30))
        await eventually(lambda: bool(w._cookie_waiters))
        await eventually(lambda: not w._cookie_waiters)  # the cookie came: it waits for the re-read
        gate.set()
        assert await asyncio.wait_for(sync, 30) is True
        # The index is unknown now: every decision may have changed.
        assert dirty.take() is None and w.policy_generation != generation
        # A later sync is not poisoned by the failed re-read either.
        assert await w.sync(within_s=30) is True
        w.stop()
        await asyncio.wait_for(task, 30)

    asyncio.run(run())


@pytest.mark.skipif(not inotify.available(), reason="inotify only")
def test_a_deleted_store_is_not_recreated_by_the_watcher(tmp_path: Path) -> None:
    import shutil

    async def run() -> None:
        root, store = tmp_path / "wt", tmp_path / "store"
        root.mkdir()
        w = Watcher(str(root), str(store), DirtySet(), backend="inotify")
        task = asyncio.create_task(w.run())
        assert await w.wait_ready(30)
        shutil.rmtree(store)
        await eventually(lambda: w.stats.restarts >= 1 and w.stats.state != "starting")
        assert not store.exists()  # "never re-created": another snapd may open a new store there
        assert w.stats.state == "degraded" and not w.healthy
        assert w.stats.reason is not None and "snapshots walk the whole tree" in w.stats.reason
        w.stop()
        await asyncio.wait_for(task, 30)

    asyncio.run(run())


@pytest.mark.skipif(not inotify.available(), reason="inotify only")
def test_a_restart_makes_the_event_policy_read_the_index_again(tmp_path: Path) -> None:
    async def run() -> None:
        root, store = tmp_path / "wt", tmp_path / "store"
        root.mkdir()
        w = Watcher(str(root), str(store), DirtySet(), backend="inotify")
        task = asyncio.create_task(w.run())
        assert await w.wait_ready(30)
        generation = w.policy_generation
        os.rmdir(store / "cookies")  # the kernel drops that watch: the watcher starts afresh
        await eventually(lambda: w.stats.restarts == 1 and w.stats.state == "watching")
        assert w.policy_generation != generation  # the index was read again
        w.stop()
        await asyncio.wait_for(task, 30)

    asyncio.run(run())


def test_a_failed_manual_snapshot_re_arms_the_automatic_one(
    worktree: Path, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from snapd import errors
    from snapd.session import Session

    async def run() -> None:
        service = make_service(worktree, store_dir)
        session = Session(service, lambda method, params: None)
        session._loop = asyncio.get_running_loop()
        session._auto_handle = session._loop.call_later(3600, session._auto_fire)

        def fail(*args: Any, **kwargs: Any) -> protocol.SnapshotResult:
            raise errors.StoreFailure("the disk is full")

        monkeypatch.setattr(service, "snapshot", fail)
        with pytest.raises(errors.StoreFailure):
            await session.snapshot(protocol.SnapshotParams())
        # The changes that armed the automatic snapshot are still unsaved: it is armed again.
        assert session._auto_handle is not None
        session._auto_handle.cancel()
        service.close()

    asyncio.run(run())


def test_an_unrecorded_full_walk_of_a_synced_watcher_keeps_the_next_snapshot_exact(
    worktree: Path, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from snapd.session import Session

    class Synced:
        async def sync(self, within_s: float) -> bool:
            return True

    async def run() -> None:
        service = make_service(worktree, store_dir)
        requests.snapshot(service, protocol.SnapshotParams())
        session = Session(service, lambda method, params: None)
        session.watcher = Synced()  # type: ignore[assignment]
        real = service.snapshot

        def unrecorded(*args: Any, **kwargs: Any) -> Any:
            result = real(*args, **kwargs)
            kwargs["on_unrecorded"]()  # only a skipped file's metadata changed
            return result

        monkeypatch.setattr(service, "snapshot", unrecorded)
        session.dirty.take()
        session.dirty.add(b"build/out.log")
        result = await session.snapshot(protocol.SnapshotParams(reconcile=True))
        assert result.consistency == "reconciled"
        # The watcher vouched for what changed: look at that path again, not at everything.
        assert session.dirty.take() == frozenset({b"build/out.log"})
        service.close()

    asyncio.run(run())


def test_classifying_a_batch_runs_off_the_event_loop(
    worktree: Path, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from snapd.session import Session

    async def run() -> None:
        service = make_service(worktree, store_dir)
        session = Session(service, lambda method, params: None)
        threads: list[int] = []

        def classify(paths: list[bytes]) -> bool:
            threads.append(threading.get_ident())  # lstat and a Policy per batch: blocking
            return True

        monkeypatch.setattr(session, "_any_captured", classify)
        session._on_batch([b"src/a.txt"])
        await eventually(lambda: session._auto_handle is not None)
        assert threads and threads[0] != threading.get_ident()
        for handle in (session._auto_handle, session._notify_handle):
            if handle is not None:
                handle.cancel()
        service.close()

    asyncio.run(run())


def test_a_batch_that_cannot_be_classified_arms_the_automatic_snapshot(
    worktree: Path, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from snapd.session import Session

    async def run() -> None:
        service = make_service(worktree, store_dir)
        session = Session(service, lambda method, params: None)

        def classify(paths: list[bytes]) -> bool:
            raise RuntimeError("the policy could not be built")

        monkeypatch.setattr(session, "_any_captured", classify)
        session._on_batch([b"src/a.txt"])
        await eventually(lambda: session._auto_handle is not None)  # it may be captured
        for handle in (session._auto_handle, session._notify_handle):
            if handle is not None:
                handle.cancel()
        service.close()

    asyncio.run(run())


def test_classifying_decides_a_path_as_explain_does(worktree: Path, store_dir: Path) -> None:
    import attrs

    from snapd.capture.policy import Policy
    from snapd.session import _maybe_captured

    write(worktree, ".gitignore", "build/\n")
    write(worktree, "build/keep.txt", "forced\n")
    write(worktree, "build/out.o", "not forced\n")
    service = make_service(worktree, store_dir)
    options = attrs.evolve(service.options, force_include=("build/keep.txt",))
    service.close()
    policy = Policy(os.fsencode(worktree), options)
    dirs: dict[Any, Any] = {}
    # A forced path opens its skipped directory for itself only, not for its siblings.
    for rel in (b"build/keep.txt", b"build/out.o", b"gone/a.txt", b"build/gone.txt"):
        assert _maybe_captured(policy, rel, dirs) is policy.explain(rel)[0].captured, rel
    assert not _maybe_captured(policy, b"build/out.o", dirs)


@pytest.mark.skipif(not inotify.available(), reason="inotify only")
def test_a_store_with_a_problem_stops_the_watcher_restarting(tmp_path: Path) -> None:
    problem: list[str] = []

    async def run() -> None:
        root, store = tmp_path / "wt", tmp_path / "store"
        root.mkdir()
        w = Watcher(
            str(root),
            str(store),
            DirtySet(),
            backend="inotify",
            store_problem=lambda: problem[0] if problem else None,
        )
        task = asyncio.create_task(w.run())
        assert await w.wait_ready(30)
        # The store was replaced (another snapd may own it now): no cookie directory of ours.
        problem.append("the store was replaced")
        os.rmdir(store / "cookies")
        await eventually(lambda: w.stats.restarts >= 1 and w.stats.state != "starting")
        assert w.stats.state == "degraded" and not (store / "cookies").exists()
        assert w.stats.reason is not None and "see storeError" in w.stats.reason
        w.stop()
        await asyncio.wait_for(task, 30)

    asyncio.run(run())
