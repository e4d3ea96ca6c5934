"""One worktree's live session: worktree + watcher + snapshot scheduling + notifications.

The server creates a :class:`Session` at ``initialize``. Every snapshot, requested or
automatic, goes through :meth:`Session.snapshot`, which decides between an incremental capture
(watcher synced, dirty set known: ``exact``) and a full walk (``reconciled``), hands back the
dirty set if the capture fails, and announces the result. All methods run on the event loop;
blocking work goes to threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from snapd import errors, protocol, requests
from snapd.capture.decision import Decision
from snapd.capture.policy import Policy
from snapd.capture.statcache import StatCache
from snapd.capture.walk import RESCAN_NAMES, Cancelled
from snapd.paths import to_wire
from snapd.requests.common import map_errors
from snapd.requests.snapshots import Watching
from snapd.requests.wire import did_snapshot
from snapd.restore.apply import RestoreEvent
from snapd.restore.fs import TMP_PREFIX as RESTORE_TMP_PREFIX
from snapd.store.history import State
from snapd.watch.dirty import DirtySet
from snapd.watch.watcher import Watcher
from snapd.worktree import ProgressFn, Worktree

logger = logging.getLogger(__name__)

Notify = Callable[[str, Any], None]

SAMPLE_PATHS = 50
DEGRADED_SCAN_INTERVAL = 60.0
"""Seconds between full-walk snapshots while the watcher is degraded (with autoSnapshot)."""

RESTORED_TTL = 60.0
"""Seconds a restore's writes stay known, so that late watcher events on them are not news."""

PENDING = "pending"
"""Marks a path a restore is writing right now."""

CLASSIFY_MAX = 5000
"""A batch with more paths than this counts as a captured change without checking each."""

GC_CHECK_INTERVAL = 60.0
"""Seconds between two checks whether retention has work (a check measures the store)."""


class Session:
    """The live state of one served worktree."""

    def __init__(self, worktree: Worktree, notify: Notify, *, force_polling: bool = False) -> None:
        self.worktree = worktree
        self.options = worktree.options
        self.notify = notify
        # A new set starts as "walk everything": changes made while no daemon ran are unknown.
        self.dirty = DirtySet()
        self._snapshots_running = 0
        self.watcher: Watcher | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._auto_handle: asyncio.TimerHandle | None = None
        self._auto_task: asyncio.Task[None] | None = None
        self._notify_handle: asyncio.TimerHandle | None = None
        self._changed: set[bytes] = set()
        self._changed_count = 0
        self._last_notify = 0.0
        self._last_full = time.monotonic()
        self._force_polling = force_polling
        self._closed = False
        self._gc_task: asyncio.Task[None] | None = None
        self._last_gc_check = 0.0
        self._poll_task: asyncio.Task[None] | None = None
        # Paths a restore is writing or wrote: (signature after the write, PENDING while it
        # is under way; when it was recorded). Events on them are not news (see _on_batch).
        self._restored: dict[bytes, tuple[tuple[int, ...] | str | None, float]] = {}
        self._restored_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event_policy: Policy | None = None
        self._event_policy_gen = 0
        self._classify_lock = threading.Lock()
        self._classify_tasks: set[asyncio.Task[None]] = set()
        worktree.on_restore.append(self._on_restore)

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the watcher (if enabled) and wait until its watches are in place."""
        self._loop = asyncio.get_running_loop()
        if not self.options.watch:
            return
        self.watcher = Watcher(
            self.worktree.root,
            self.worktree.store_path,
            self.dirty,
            on_batch=self._on_batch,
            force_polling=self._force_polling,
            store_problem=self.worktree.store.problem,
        )
        self._watch_task = asyncio.get_running_loop().create_task(self.watcher.run())
        if not await self.watcher.wait_ready(10.0):
            logger.warning("the watcher is not ready; snapshots walk the whole tree")
        if self.options.auto_snapshot:
            self._poll_task = asyncio.get_running_loop().create_task(self._poll_when_degraded())

    async def _poll_when_degraded(self) -> None:
        """Without trustworthy events, look for changes with a periodic full walk instead."""
        while not self._closed:
            await asyncio.sleep(DEGRADED_SCAN_INTERVAL)
            if self._closed or (self.watcher is not None and self.watcher.healthy):
                continue
            try:
                await self.snapshot(protocol.SnapshotParams(), auto=True)
            except (errors.SnapdError, Cancelled) as exc:
                logger.warning("periodic snapshot failed: %s", exc)

    async def close(self) -> None:
        """Stop the watcher and timers, wait for an automatic snapshot, release the store."""
        self._closed = True
        for handle in (self._auto_handle, self._notify_handle):
            if handle is not None:
                handle.cancel()
        if self._poll_task is not None:
            self._poll_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poll_task
        for pending in list(self._classify_tasks):
            pending.cancel()
        if self.watcher is not None:
            self.watcher.stop()
        if self._watch_task is not None:
            # The Rust watcher notices the stop event within its 200 ms timeout; if it does
            # not, the timeout cancels the task (awaited here) rather than holding the shutdown.
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                async with asyncio.timeout(5.0):
                    await self._watch_task
        for task in (self._auto_task, self._gc_task):
            if task is not None:
                with contextlib.suppress(errors.SnapdError, Cancelled):
                    await task
        await asyncio.to_thread(self.worktree.close)

    # -- snapshots -----------------------------------------------------------------------------

    async def snapshot(
        self,
        params: protocol.SnapshotParams,
        *,
        client: str | None = None,
        auto: bool = False,
        cancel: threading.Event | None = None,
        progress: ProgressFn | None = None,
    ) -> protocol.SnapshotResult:
        """Take a snapshot: incremental when the watcher can vouch for its dirty set.

        ``client`` names the client that asked (recorded with the snapshot).
        """
        synced, stale = await self._synced(), self._stale()
        self._snapshots_running += 1  # from taking the dirty set until the head holds it
        try:
            return await self._snapshot(
                params,
                synced=synced,
                stale=stale,
                client=client,
                auto=auto,
                cancel=cancel,
                progress=progress,
            )
        finally:
            self._snapshots_running -= 1

    async def _synced(self) -> bool:
        """True once the watcher delivered every event before this call, none lost.

        Its dirty set is then complete. False without a watcher.
        """
        return self.watcher is not None and await self.watcher.sync(
            self.options.sync_timeout_ms / 1000
        )

    def _stale(self) -> bool:
        """True when a full walk is due (``reconcileInterval`` since the last one)."""
        return time.monotonic() - self._last_full > self.options.reconcile_interval

    async def live_state(self) -> tuple[State, protocol.Consistency]:
        """The live worktree (a diff's ``to`` when none is given), read like a snapshot.

        When the watcher can vouch for its dirty set, only the paths it saw change since the
        latest snapshot are looked at (the same ``exact`` capture a snapshot makes); otherwise,
        or when a snapshot or restore runs meanwhile (its paths may have left the dirty set
        before its head is written), the whole tree is walked.
        """
        generation = self.worktree.generation
        dirty: frozenset[bytes] | None = None
        if (
            not self._snapshots_running
            and await self._synced()
            and not self._stale()
            and not self._snapshots_running  # one may have started during the sync
        ):
            dirty = self.dirty.peek()
        return await asyncio.to_thread(self.worktree.live_state, dirty, generation)

    async def _snapshot(
        self,
        params: protocol.SnapshotParams,
        *,
        synced: bool,
        stale: bool,
        client: str | None,
        auto: bool,
        cancel: threading.Event | None,
        progress: ProgressFn | None,
    ) -> protocol.SnapshotResult:
        dirty: frozenset[bytes] | None = None
        taken = self.dirty.take()
        armed = None if auto else self._auto_handle
        if armed is not None:
            # This snapshot holds every change seen so far: an automatic one armed by them
            # would only repeat it (later changes arm the timer again; a failure re-arms it).
            armed.cancel()
            self._auto_handle = None
        if self._notify_handle is not None:
            # Announce the changes this snapshot holds before the snapshot itself.
            self._notify_handle.cancel()
            self._flush_changes()
        if synced and not stale and not params.reconcile:
            dirty = taken
        unrecorded: list[bool] = []
        try:
            result: protocol.SnapshotResult = await asyncio.to_thread(
                lambda: requests.snapshot(
                    self.worktree,
                    params,
                    client=client,
                    dirty=dirty,
                    auto=auto,
                    cancel=cancel,
                    progress=progress,
                    on_unrecorded=lambda: unrecorded.append(True),
                )
            )
        except BaseException:
            self.dirty.give_back(taken)
            if armed is not None and self._auto_handle is None and not self._closed:
                # The changes that armed the automatic snapshot are still unsaved.
                self._auto_handle = asyncio.get_running_loop().call_later(
                    self.options.quiet_ms / 1000, self._auto_fire
                )
            if self.worktree.root_error is not None:
                self.root_lost()
            raise
        if unrecorded:
            # Only skipped files' metadata changed and nothing was recorded: the next snapshot
            # must look at those paths again. A synced watcher vouches that they are among the
            # paths taken, even when this snapshot walked everything (stale, reconcile).
            self.dirty.give_back(taken if synced else None)
        if result.consistency is protocol.Consistency.RECONCILED:
            self._last_full = time.monotonic()
        with self._restored_lock:
            # The snapshot holds what a restore wrote; its entries only wait for late events.
            horizon = time.monotonic() - RESTORED_TTL
            for path in [p for p, (_, at) in self._restored.items() if at < horizon]:
                del self._restored[path]
        if result.created:
            self._schedule_gc()
            self.notify(
                protocol.SNAPD_DID_SNAPSHOT,
                protocol.DidSnapshotParams(
                    id=result.id,
                    changed=result.changed,
                    consistency=result.consistency,
                    auto=auto,
                    parent=result.parent,
                    label=result.label,
                    client=result.client,
                    session=result.session,
                ),
            )
        return result

    def _schedule_gc(self) -> None:
        """Collect in the background when retention has work (checked at most once a minute)."""
        if not self.options.auto_gc or self._closed:
            return
        if self._gc_task is not None and not self._gc_task.done():
            return
        if time.monotonic() - self._last_gc_check < GC_CHECK_INTERVAL:
            return
        self._last_gc_check = time.monotonic()
        self._gc_task = asyncio.get_running_loop().create_task(self._auto_gc())

    async def _auto_gc(self) -> None:
        try:
            if await asyncio.to_thread(self._gc_due):
                report = await asyncio.to_thread(requests.gc, self.worktree, protocol.GcParams())
                logger.info("automatic gc dropped %d snapshots", len(report.dropped))
        except errors.SnapdError as exc:
            # A sentence (store damage, a full disk): no traceback every minute in the log.
            logger.warning("automatic gc failed: %s", exc)

    def _gc_due(self) -> bool:
        with map_errors():
            return self.worktree.gc_due()

    def status(self) -> protocol.StatusResult:
        """The worktree's status with the watcher's (call from a thread: it walks the store)."""
        return requests.status(self.worktree, self._watching)

    def _watching(self, worktree_error: str | None) -> Watching:
        auto = self.options.auto_snapshot and self.options.watch
        dirty = self.dirty.count()
        if worktree_error is not None:
            self.root_lost()
            return Watching(
                reason="the worktree is no longer served (see worktreeError)",
                dirty_paths=dirty,
                auto_snapshot=auto,
            )
        if self.watcher is None:
            return Watching(
                reason="disabled by the watch option", dirty_paths=dirty, auto_snapshot=auto
            )
        stats = self.watcher.stats
        return Watching(
            state=stats.state,
            reason=stats.reason,
            events=stats.events,
            dirty_paths=dirty,
            auto_snapshot=auto,
        )

    def root_lost(self) -> None:
        """Stop watching a worktree whose path now leads elsewhere (thread-safe).

        Its events no longer describe the directory the path names, and no automatic
        snapshot must be attempted; requests fail with ``WorktreeFailure``.
        """
        if self._loop is None or self._closed:
            return
        self._loop.call_soon_threadsafe(self._stop_watching)

    def _stop_watching(self) -> None:
        for handle in (self._auto_handle, self._notify_handle):
            if handle is not None:
                handle.cancel()
        self._auto_handle = self._notify_handle = None
        if self._poll_task is not None:
            self._poll_task.cancel()
        if self.watcher is not None:
            self.watcher.stop()

    # -- watcher callbacks ---------------------------------------------------------------------

    def _on_restore(self, event: RestoreEvent) -> None:
        """Remember what a restore wrote (runs in the restore's worker thread)."""
        if event.phase == "begin" and event.safety_snapshot and self._loop is not None:
            self._loop.call_soon_threadsafe(self._announce, event.safety_snapshot)
        if event.path is None:
            return
        with self._restored_lock:
            if event.phase == "pending":
                self._restored[event.path] = (PENDING, time.monotonic())
            elif event.phase in ("write", "delete"):
                sig = StatCache.signature(event.st) if event.st is not None else None
                self._restored[event.path] = (sig, time.monotonic())
            elif event.phase == "failed":
                self._restored.pop(event.path, None)

    def _announce(self, snapshot: str) -> None:
        """``snapd/didSnapshot`` for a snapshot taken outside :meth:`snapshot` (a restore's)."""
        with map_errors():
            info = self.worktree.resolve(snapshot, "id")
        self.notify(protocol.SNAPD_DID_SNAPSHOT, did_snapshot(info))

    def _own_restore_write(self, path: bytes) -> bool:
        """True if ``path`` still is exactly as a restore left it (its event is the restore's)."""
        name = path.rsplit(b"/", 1)[-1]
        if name.startswith(RESTORE_TMP_PREFIX) and name.endswith(b".tmp"):
            return True  # a restore's temporary file, already renamed into place
        with self._restored_lock:
            if path not in self._restored:
                return False
            expected = self._restored[path][0]
        if expected == PENDING:
            return True  # being written: its event can come before the restore reports it
        try:
            current: tuple[int, ...] | None = StatCache.signature(
                os.lstat(os.path.join(self.worktree.root_b, path))
            )
        except FileNotFoundError:
            current = None
        except OSError:
            return False
        return current == expected

    def _on_batch(self, paths: list[bytes]) -> None:
        if self._closed or self.worktree.root_error is not None:
            return
        # A restore's own writes are in the dirty set (the next snapshot must see them) but
        # are not news: they neither trigger an automatic snapshot nor a didChange.
        paths = [p for p in paths if not self._own_restore_write(p)]
        if not paths:
            return
        loop = asyncio.get_running_loop()
        self._changed_count += len(paths)
        for path in paths:
            if len(self._changed) < SAMPLE_PATHS:
                self._changed.add(path)
        if self._notify_handle is None:
            wait = max(
                0.0, self._last_notify + self.options.notify_interval_ms / 1000 - time.monotonic()
            )
            self._notify_handle = loop.call_later(wait, self._flush_changes)
        if self.options.auto_snapshot:
            task = loop.create_task(self._arm_if_captured(paths))
            self._classify_tasks.add(task)
            task.add_done_callback(self._classify_tasks.discard)

    async def _arm_if_captured(self, paths: list[bytes]) -> None:
        """(Re)start the quiet period if the batch may hold captured content.

        Only a change to captured content does: an ignored log written every second must
        neither postpone nor cause automatic snapshots. Deciding takes ``lstat`` calls and
        perhaps a new :class:`Policy`, so it runs in a thread.
        """
        try:
            captured = await asyncio.to_thread(self._any_captured, paths)
        except Exception:
            logger.exception("cannot tell whether changed paths are captured; assuming they are")
            captured = True
        if not captured or self._closed or self.worktree.root_error is not None:
            return
        if self._auto_handle is not None:
            self._auto_handle.cancel()
        self._auto_handle = asyncio.get_running_loop().call_later(
            self.options.quiet_ms / 1000, self._auto_fire
        )

    def _any_captured(self, paths: list[bytes]) -> bool:
        """True if the policy may capture one of ``paths`` (or they are too many to check).

        Decided from the path and ``lstat`` alone, ancestors included (a file inside a skipped
        directory is not captured); content rules are not run, so a file they would skip still
        counts. Only a watcher that vouches for its events (inotify) keeps the policy's inputs
        current; with the fallback every change counts. Runs in a worker thread, one at a time
        (the event policy is shared).
        """
        watcher = self.watcher
        if watcher is None or not watcher.vouches or len(paths) > CLASSIFY_MAX:
            return True
        with self._classify_lock:
            return self._classify(watcher, paths)

    def _classify(self, watcher: Watcher, paths: list[bytes]) -> bool:
        unique = set(paths)
        if any(p.rsplit(b"/", 1)[-1] in RESCAN_NAMES for p in unique):
            self._event_policy = None  # a rule file changed: read the rules again
        if self._event_policy is None or self._event_policy_gen != watcher.policy_generation:
            self._event_policy = Policy(self.worktree.root_b, self.options, tracked=watcher.tracked)
            self._event_policy_gen = watcher.policy_generation
        policy = self._event_policy
        dirs: dict[bytes, Decision | None] = {}
        return any(_maybe_captured(policy, p, dirs) for p in unique)

    def _flush_changes(self) -> None:
        self._notify_handle = None
        self._last_notify = time.monotonic()
        if not self._changed_count:
            return
        paths = sorted(to_wire(p) for p in self._changed)
        self.notify(
            protocol.SNAPD_DID_CHANGE,
            protocol.DidChangeParams(
                count=self._changed_count,
                paths=paths,
                truncated=len(paths) < self._changed_count,
            ),
        )
        self._changed.clear()
        self._changed_count = 0

    def _auto_fire(self) -> None:
        self._auto_handle = None
        if self._closed:
            return
        if self._auto_task is not None and not self._auto_task.done():
            # One automatic snapshot at a time; try again after another quiet period.
            self._auto_handle = asyncio.get_running_loop().call_later(
                self.options.quiet_ms / 1000, self._auto_fire
            )
            return
        self._auto_task = asyncio.get_running_loop().create_task(self._auto_snapshot())

    async def _auto_snapshot(self) -> None:
        try:
            await self.snapshot(protocol.SnapshotParams(), auto=True)
        except (errors.SnapdError, Cancelled) as exc:
            logger.warning("automatic snapshot failed: %s", exc)


def _maybe_captured(policy: Policy, rel: bytes, dirs: dict[bytes, Decision | None]) -> bool:
    """True unless the policy surely skips ``rel`` (or a directory above it).

    ``dirs`` caches the ancestors' decisions for one batch. A path that cannot be ``lstat``-ed
    counts as captured.
    """
    try:
        decision, _st = policy.decide_path(rel, dirs)
    except OSError:
        return True
    return decision.captured
