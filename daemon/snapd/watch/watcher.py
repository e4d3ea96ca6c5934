"""The watcher: file system events turned into a dirty-path set, treated as hints only.

Correctness never rests on events. On Linux the watcher reads inotify itself
(:mod:`snapd.watch.inotify`), so a queue overflow or a watch the kernel dropped is *seen*: the
set is then "walk everything" and the watches are set up afresh. Elsewhere (and with
``force_polling``) watchfiles is the fallback; it drops overflows silently, so its events only
prompt automatic snapshots and every snapshot walks the whole tree. Either way the watcher only
narrows where a snapshot looks, and falls back to a full walk ("reconciled") whenever it cannot
vouch for its set: at start-up, after an error or an overflow, when the set grows past its
bound, periodically, when a sync times out, and when a policy input outside the worktree's
files changes (``.git/info/exclude``, ``.git/info/attributes``). A change of the user's git
index is turned into the paths whose tracked state changed (``git rm --cached``, ``git add -f``
change what ``.gitignore`` ignores), which are then dirty like edited files.

Read-your-writes uses watchman's cookie technique without touching the worktree: the watcher
also watches ``<store>/cookies``, and a snapshot writes a cookie file there and waits for that
file's own event. All watched paths share one inotify queue, whose events are delivered in
order, so once the cookie is seen every earlier worktree write has been seen too.

Layering: this module knows the store path and the worktree, not JSON-RPC; the server wires
its callbacks to notifications and auto-snapshots.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import itertools
import logging
import os
import time
from collections.abc import Callable
from typing import Final

import attrs
from watchfiles import Change, awatch

from snapd.capture.rules import tracked_paths
from snapd.watch import inotify
from snapd.watch.dirty import DirtySet
from snapd.watch.filter import SnapdFilter

logger = logging.getLogger(__name__)


COOKIE_DIR: Final = "cookies"


OVERFLOW_BATCH: Final = 20_000
"""watchfiles only: a single batch this large suggests the kernel queue may have overflowed
(the fallback never vouches for an exact snapshot anyway)."""


MAX_RESTARTS: Final = 10


RESTART_WINDOW: Final = 60.0
"""More than MAX_RESTARTS watcher failures within RESTART_WINDOW seconds degrade it..."""


RESTART_BACKOFF: Final = 60.0
"""...for this many seconds (snapshots walk the whole tree), after which it starts again."""


@attrs.define
class WatchStats:
    """What the watcher has done (reported by ``snapd/status``)."""

    state: str = "starting"
    """``starting``, ``watching``, ``degraded`` (events not trusted) or ``off``."""
    reason: str | None = None
    """Why the watcher is degraded or off."""
    batches: int = 0
    events: int = 0
    syncs: int = 0
    overflows: int = 0
    """Times the kernel said events were lost (inotify only)."""
    sync_timeouts: int = 0
    full_scans_forced: int = 0
    restarts: int = 0


BatchCallback = Callable[[list[bytes]], None]


class Watcher:
    """Runs ``awatch`` on the worktree and the store's cookie directory in the event loop."""

    def __init__(
        self,
        root: str,
        store: str,
        dirty: DirtySet,
        *,
        debounce_ms: int = 10,
        step_ms: int = 5,
        on_batch: BatchCallback | None = None,
        force_polling: bool = False,
        backend: str = "auto",
        store_problem: Callable[[], str | None] | None = None,
    ) -> None:
        """Set up (nothing runs until :meth:`run`).

        Args:
            root: The worktree.
            store: The store (its ``cookies`` directory is watched for syncs).
            dirty: Where changed paths go.
            debounce_ms: watchfiles only: how long a batch collects events.
            step_ms: watchfiles only: how often it looks.
            on_batch: Called on the event loop with each batch's changed paths.
            force_polling: Use watchfiles' polling (never vouches for an exact snapshot).
            backend: ``inotify``, ``watchfiles`` or ``auto`` (inotify where available).
            store_problem: Why the store can no longer be written (``Store.problem``): the
                watcher then does not start again (it would re-create the cookie directory).
        """
        self.root = os.path.realpath(root)
        self.root_b = os.fsencode(self.root)
        self.store = os.path.realpath(store)
        self.cookies = os.path.join(self.store, COOKIE_DIR)
        self.dirty = dirty
        self.debounce_ms = debounce_ms
        self.step_ms = step_ms
        self.on_batch = on_batch
        self.force_polling = force_polling
        self.store_problem = store_problem
        self.stats = WatchStats()
        self._stop = asyncio.Event()
        self._ready = asyncio.Event()
        self._cookie_waiters: dict[str, asyncio.Event] = {}
        self._cookie_ids = itertools.count(1)
        self.restart_backoff_s = RESTART_BACKOFF
        if backend == "auto":
            backend = "inotify" if inotify.available() and not force_polling else "watchfiles"
        self.backend = backend
        self.vouches = backend == "inotify"
        """True when a synced watcher can vouch that no event was lost (inotify only)."""
        self.tracked: frozenset[bytes] = frozenset()
        """The user's git index as last read (inotify only)."""
        self.policy_generation = 0
        """Bumped when a policy input outside the worktree's files changed (index, info/)."""
        self._index_task: asyncio.Task[None] | None = None
        self._index_again = False

    @property
    def healthy(self) -> bool:
        """True while events can be trusted as hints (a sync can make a snapshot exact)."""
        return self.stats.state == "watching"

    async def run(self) -> None:
        """Watch until :meth:`stop`, restarting after errors; degrade when it cannot watch."""
        os.makedirs(self.cookies, exist_ok=True)
        for name in os.listdir(self.cookies):  # leftovers of a killed daemon
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self.cookies, name))
        failures: list[float] = []
        try:
            if self.backend == "inotify":
                await self._run_inotify()
                return
            watch_filter = SnapdFilter(self.root, self.store, self.cookies)
            while not self._stop.is_set():
                try:
                    await self._watch(watch_filter)
                    return
                except (OSError, RuntimeError) as exc:
                    # watchfiles raises these when inotify watches run out or the root goes.
                    self._degrade(f"watcher failed: {exc}")
                    return
                except ExceptionGroup as group:
                    # awatch runs the Rust watcher in an anyio task group, which wraps its
                    # errors. The usual one is "Unable to decode path": watchfiles cannot name
                    # a non-UTF-8 path, and any event on one (even a read of the file, ours
                    # included) poisons the Rust watcher for good. Events of the restart's gap
                    # are lost, so the next snapshot walks everything (see _watch).
                    reason = "; ".join(str(e) for e in group.exceptions)
                    self._wake_syncs()
                    logger.info("watcher restarted after: %s", reason)
                    failures = await self._count_restart(
                        failures, functools.partial(_failed_times, reason)
                    )
                    self.stats.full_scans_forced += 1
                    self.stats.state = "starting"
                    self.dirty.invalidate()
        finally:
            if self.stats.state != "degraded":
                self.stats.state = "off"
            self._ready.set()
            self._wake_syncs()

    async def _watch(self, watch_filter: SnapdFilter) -> None:
        changes_iter = awatch(
            self.root,
            self.cookies,
            watch_filter=watch_filter,
            debounce=self.debounce_ms,
            step=self.step_ms,
            stop_event=self._stop,
            rust_timeout=200,
            yield_on_timeout=True,
            force_polling=self.force_polling,
            ignore_permission_denied=True,
        )
        async for changes in changes_iter:
            if self.stats.state != "watching":
                # The first (possibly empty) yield comes once the watches are in place. A
                # snapshot taken before this point (during a restart) may have consumed the
                # "walk everything" mark while changes could still slip by unwatched, so the
                # mark is set again now that nothing can.
                self.dirty.invalidate()
                self.stats.state = "watching"
                self.stats.reason = None
                self._ready.set()
            if changes:
                self._batch(changes)

    # -- inotify -------------------------------------------------------------------------------

    async def _run_inotify(self) -> None:
        """Watch with our own inotify reader; start afresh whenever events may have been lost."""
        loop = asyncio.get_running_loop()
        failures: list[float] = []
        while not self._stop.is_set():
            problem = self.store_problem() if self.store_problem is not None else None
            if problem is not None:
                # Re-creating the cookie directory would re-create the store (Store.problem).
                logger.warning("%s", problem)
                self._degrade(_STORE_GONE)
                return
            tree = inotify.Tree(self.root_b, os.fsencode(self.cookies))
            try:
                await asyncio.to_thread(_mkdir, self.cookies)
                await asyncio.to_thread(tree.start)
                self.tracked = await asyncio.to_thread(tracked_paths, self.root_b)
            except OSError as exc:
                tree.close()
                self._degrade(_STORE_GONE if _gone(exc, self.store) else _watch_failure(exc))
                return
            # The index was read again: the event policy must not keep deciding with the old one.
            self.policy_generation += 1
            lost = asyncio.Event()
            loop.add_reader(tree.fd, self._readable, tree, lost)
            # Changes made before the watches were in place (or lost with the old instance)
            # are unknown: the next snapshot walks everything.
            self.dirty.invalidate()
            self.stats.state = "watching"
            self.stats.reason = None
            self._ready.set()
            stopped = asyncio.ensure_future(self._stop.wait())
            restart = asyncio.ensure_future(lost.wait())
            try:
                await asyncio.wait({stopped, restart}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for fut in (stopped, restart):
                    fut.cancel()
                loop.remove_reader(tree.fd)
                tree.close()
            if self._stop.is_set():
                return
            failures = await self._count_restart(
                failures, lambda n: f"events were lost {n} times in a row"
            )
            self.stats.state = "starting"

    async def _count_restart(
        self, failures: list[float], storm: Callable[[int], str]
    ) -> list[float]:
        """Count a restart; a storm of them degrades the watcher for a back-off period.

        Args:
            failures: When the restarts of the last :data:`RESTART_WINDOW` seconds happened.
            storm: The degraded reason, given how many restarts made the storm.

        Returns:
            The restart times to keep counting with.
        """
        now = time.monotonic()
        failures = [t for t in failures if now - t < RESTART_WINDOW] + [now]
        self.stats.restarts += 1
        if len(failures) <= MAX_RESTARTS:
            return failures
        # Failing faster than the watches can be set up again: stop paying for restarts for a
        # while (snapshots walk the whole tree meanwhile), then try again.
        self._degrade(storm(len(failures)))
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
        # lands as the event arrives (cpython gh-86296), and a stopping session waits on us.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.restart_backoff_s):
                await self._stop.wait()
        return []

    def _readable(self, tree: inotify.Tree, lost: asyncio.Event) -> None:
        """Read the queue (called by the event loop when the inotify fd is readable)."""
        if lost.is_set():
            return
        try:
            batch = tree.read()
        except OSError as exc:  # a new directory could not be watched (the watch limit)
            self._lose(lost, _watch_failure(exc))
            return
        self.stats.batches += 1
        self.stats.events += batch.events
        if batch.doubt is not None:
            self.stats.overflows += 1
            self._lose(lost, batch.doubt)
            return
        if batch.rules:
            logger.info("a git info file changed: the next snapshot walks everything")
            self.stats.full_scans_forced += 1
            self.policy_generation += 1
            self.dirty.invalidate()
        if batch.index:
            self._index_changed()
        for path in batch.paths:
            self.dirty.add(path)
        # The paths are noted: the syncs this batch answers are answered before anything else
        # runs, so that a failing callback cannot make them time out.
        for name in batch.cookies:
            waiter = self._cookie_waiters.get(os.fsdecode(name))
            if waiter is not None:
                waiter.set()
        if batch.paths:
            self._report(batch.paths)

    def _lose(self, lost: asyncio.Event, reason: str) -> None:
        """Events may be lost: walk everything next, fail pending syncs, start afresh."""
        logger.info("%s: the next snapshot walks everything and the watches start afresh", reason)
        self.stats.full_scans_forced += 1
        self.stats.state = "starting"
        self.stats.reason = reason
        self.dirty.invalidate()
        self._ready.clear()
        self._wake_syncs()
        lost.set()

    def _index_changed(self) -> None:
        """Re-read the git index (in a thread) and mark paths whose tracked state changed."""
        if self._index_task is not None and not self._index_task.done():
            self._index_again = True
            return
        self._index_task = asyncio.get_running_loop().create_task(self._reread_index())

    async def _reread_index(self) -> None:
        while True:
            self._index_again = False
            try:
                tracked = await asyncio.to_thread(tracked_paths, self.root_b)
            except Exception as exc:
                # dulwich raises more than tracked_paths expects (struct.error on a truncated
                # index). Which paths changed their tracked state is unknown: walk everything,
                # and let the event policy read the index again.
                logger.warning(
                    "cannot read the git index (%s): the next snapshot walks everything", exc
                )
                self.stats.full_scans_forced += 1
                self.policy_generation += 1
                self.dirty.invalidate()
                if not self._index_again:
                    return
                continue
            changed = sorted(tracked.symmetric_difference(self.tracked))
            self.tracked = tracked
            if changed:
                # Tracked files are not ignored by .gitignore: their decisions may flip.
                self.policy_generation += 1
                for path in changed:
                    self.dirty.add(path)
                self._report(changed)
            if not self._index_again:
                return

    # -- syncs -------------------------------------------------------------------------------

    def _wake_syncs(self) -> None:
        """Release every waiting sync: the watcher that would answer it is gone."""
        for event in self._cookie_waiters.values():
            event.set()

    async def wait_ready(self, within_s: float) -> bool:
        """Wait until the watches are in place (or the watcher gave up)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within_s):  # not wait_for: see _count_restart
                await self._ready.wait()
        return self.healthy

    def stop(self) -> None:
        """Stop watching (the run task ends shortly after)."""
        self._stop.set()

    def _degrade(self, reason: str) -> None:
        logger.warning("watcher degraded: %s; snapshots walk the whole tree", reason)
        self.stats.state = "degraded"
        self.stats.reason = reason
        self.dirty.invalidate()
        self._ready.set()

    def _batch(self, changes: set[tuple[Change, str]]) -> None:
        self.stats.batches += 1
        self.stats.events += len(changes)
        if len(changes) >= OVERFLOW_BATCH:
            logger.info(
                "a batch of %d events: assuming overflow, next snapshot walks all", len(changes)
            )
            self.stats.full_scans_forced += 1
            self.dirty.invalidate()
        seen: list[bytes] = []
        for _change, path in changes:
            if path.startswith(self.cookies):
                waiter = self._cookie_waiters.get(os.path.basename(path))
                if waiter is not None:
                    waiter.set()
                continue
            rel = os.path.relpath(path, self.root)
            if rel == "." or rel.startswith(".." + os.sep) or rel == "..":
                continue
            if "\ufffd" in rel:
                # A name the watcher could not decode: its event cannot name the path.
                self.stats.full_scans_forced += 1
                self.dirty.invalidate()
                continue
            raw = os.fsencode(rel).replace(os.sep.encode(), b"/")
            self.dirty.add(raw)
            seen.append(raw)
        if seen:
            self._report(seen)

    def _report(self, paths: list[bytes]) -> None:
        """Hand changed paths (already in the dirty set) to the callback; its errors are logged.

        What the callback does (notifications, automatic snapshots) must not stop the watcher
        or keep a sync from being answered.
        """
        if self.on_batch is None:
            return
        try:
            self.on_batch(paths)
        except Exception:
            logger.exception("handling a batch of %d changed paths failed", len(paths))

    async def sync(self, within_s: float) -> bool:
        """Wait until every worktree event before this call has been delivered.

        Returns:
            True when the cookie's own event arrived in time and the watcher can vouch that
            no event was lost (inotify); False otherwise (the caller must then walk everything).
        """
        if self.stats.state == "starting":
            # Setting the watches up afresh (after lost events): a snapshot that waits for
            # them walks once, and the ones after it can be exact again.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(within_s):
                    await self._ready.wait()
        if not self.healthy:
            return False
        self.stats.syncs += 1
        name = f"{os.getpid()}-{next(self._cookie_ids)}"
        event = asyncio.Event()
        self._cookie_waiters[name] = event
        path = os.path.join(self.cookies, name)
        started = time.monotonic()
        try:
            await asyncio.to_thread(_touch, path)
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation
            # that lands as the event arrives (cpython gh-86296), and a snapshot cancelled
            # then (``$/cancelRequest`` right after its begin) ran on to the end.
            async with asyncio.timeout(within_s):
                await event.wait()
        except TimeoutError:
            self.stats.sync_timeouts += 1
            logger.info("watcher sync timed out after %.1fs", time.monotonic() - started)
            return False
        except OSError as exc:
            logger.warning("cannot write a watcher cookie: %s", exc)
            return False
        finally:
            self._cookie_waiters.pop(name, None)
            with contextlib.suppress(OSError):
                os.unlink(path)
        # Events seen before the cookie may still be turning into paths (the index re-read).
        # (asyncio.wait neither raises the re-read's error nor cancels it with this sync.)
        while self._index_task is not None and not self._index_task.done():
            await asyncio.wait({self._index_task})
        return self.healthy and self.vouches


def _failed_times(reason: str, count: int) -> str:
    """The degraded reason after a storm of ``count`` watchfiles failures."""
    return f"watcher failed {count} times: {reason}"


def _watch_failure(exc: OSError) -> str:
    """A sentence for a watch that could not be set up."""
    if exc.errno == errno.ENOSPC:
        return (
            "the inotify watch limit (fs.inotify.max_user_watches) is reached; "
            "snapshots walk the whole tree"
        )
    if exc.errno == errno.EMFILE:
        return (
            "the inotify instance limit (fs.inotify.max_user_instances) is reached; "
            "snapshots walk the whole tree"
        )
    what = exc.strerror or os.strerror(exc.errno or 0)
    if exc.filename:
        return f"cannot watch {exc.filename} ({what}); snapshots walk the whole tree"
    return f"cannot set up the inotify watcher ({what}); snapshots walk the whole tree"


_STORE_GONE: Final = (
    "the store is no longer where snapd opened it (see storeError); snapshots walk the whole tree"
)


def _gone(exc: OSError, store: str) -> bool:
    """True if ``exc`` comes from a store directory that is no longer there."""
    return exc.errno == errno.ENOENT and not os.path.isdir(store)


def _mkdir(path: str) -> None:
    """Create the cookie directory if needed, never its parent (the store: not re-created)."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(path)


def _touch(path: str) -> None:
    with open(path, "wb"):
        pass
