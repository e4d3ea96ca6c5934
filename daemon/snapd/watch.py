"""The watcher: watchfiles events turned into a dirty-path set, treated as hints only.

Correctness never rests on events. watchfiles drops inotify queue overflows silently, a new
directory's first files can precede its watch, and non-UTF-8 names can arrive mangled; so the
watcher only narrows where a snapshot looks, and falls back to a full walk ("reconciled")
whenever it cannot vouch for its set: at start-up, after an error or a suspected overflow,
when the set grows past its bound, periodically, and when a sync times out.

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
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Final

import attrs
from watchfiles import Change, DefaultFilter, awatch

logger = logging.getLogger(__name__)

COOKIE_DIR: Final = "cookies"

MAX_DIRTY: Final = 50_000
"""A dirty set larger than this collapses into "walk everything" (bounded memory)."""

OVERFLOW_BATCH: Final = 20_000
"""A single batch this large suggests the kernel queue may have overflowed (16384 events is
Linux's default ``max_queued_events``): the next snapshot walks everything."""


MAX_RESTARTS: Final = 10
RESTART_WINDOW: Final = 60.0
"""More than MAX_RESTARTS watcher failures within RESTART_WINDOW seconds degrade it..."""
RESTART_BACKOFF: Final = 60.0
"""...for this many seconds (snapshots walk the whole tree), after which it starts again."""


class SnapdFilter(DefaultFilter):
    """Keep every worktree event except ``.git`` internals and the store itself.

    Unlike watchfiles' default, no name patterns (``*.swp``, ``node_modules``, ...) are
    dropped: a file snapd captures must never be filtered out, and events inside skipped
    directories keep their recorded summaries fresh. The store's cookie directory is kept.
    """

    ignore_dirs: tuple[str, ...] = (".git",)
    """Directory names whose events are dropped anywhere in the path."""

    ignore_entity_patterns: tuple[str, ...] = ()
    """No file-name patterns are dropped."""

    def __init__(self, store: str, cookies: str) -> None:
        super().__init__(ignore_paths=(store,))
        self.cookies = cookies

    def __call__(self, change: Change, path: str) -> bool:
        """True for events the watcher should see."""
        if path.startswith(self.cookies):
            return True
        return super().__call__(change, path)


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
    sync_timeouts: int = 0
    full_scans_forced: int = 0
    restarts: int = 0


class DirtySet:
    """The watcher's only output: paths that may have changed, or "everything" (None).

    Thread-safe: the watcher adds from the event loop, a snapshot takes from a worker thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paths: set[bytes] | None = None  # None: walk everything next time

    def add(self, rel: bytes) -> None:
        """Note one changed path (relative, bytes)."""
        with self._lock:
            if self._paths is None:
                return
            # (A changed .gitignore makes the capture rescan its directory: snapshots.py.)
            self._paths.add(rel)
            if len(self._paths) > MAX_DIRTY:
                self._paths = None

    def invalidate(self) -> None:
        """Make the next snapshot walk everything."""
        with self._lock:
            self._paths = None

    def take(self) -> frozenset[bytes] | None:
        """Hand the set to a snapshot and start a fresh one; None means walk everything."""
        with self._lock:
            taken = None if self._paths is None else frozenset(self._paths)
            self._paths = set()
            return taken

    def give_back(self, taken: frozenset[bytes] | None) -> None:
        """Return a set whose snapshot failed, so no change is forgotten."""
        with self._lock:
            if taken is None or self._paths is None:
                self._paths = None
            else:
                self._paths |= taken

    def count(self) -> int:
        """Paths noted so far; -1 when the next snapshot walks everything."""
        with self._lock:
            return -1 if self._paths is None else len(self._paths)


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
    ) -> None:
        self.root = os.path.realpath(root)
        self.store = os.path.realpath(store)
        self.cookies = os.path.join(self.store, COOKIE_DIR)
        self.dirty = dirty
        self.debounce_ms = debounce_ms
        self.step_ms = step_ms
        self.on_batch = on_batch
        self.force_polling = force_polling
        self.stats = WatchStats()
        self._stop = asyncio.Event()
        self._ready = asyncio.Event()
        self._cookie_waiters: dict[str, asyncio.Event] = {}
        self._cookie_ids = itertools.count(1)
        self.restart_backoff_s = RESTART_BACKOFF

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
        watch_filter = SnapdFilter(self.store, self.cookies)
        failures: list[float] = []
        try:
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
                    now = time.monotonic()
                    failures = [t for t in failures if now - t < RESTART_WINDOW] + [now]
                    self._wake_syncs()
                    if len(failures) > MAX_RESTARTS:
                        # A restart storm: stop paying for restarts for a while (snapshots
                        # walk the whole tree meanwhile), then try again.
                        self._degrade(f"watcher failed {len(failures)} times: {reason}")
                        failures = []
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._stop.wait(), self.restart_backoff_s)
                    else:
                        logger.info("watcher restarted after: %s", reason)
                    self.stats.restarts += 1
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

    def _wake_syncs(self) -> None:
        """Release every waiting sync: the watcher that would answer it is gone."""
        for event in self._cookie_waiters.values():
            event.set()

    async def wait_ready(self, within_s: float) -> bool:
        """Wait until the watches are in place (or the watcher gave up)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), within_s)
        return self.healthy

    def stop(self) -> None:
        """Stop watching (the run task ends shortly after)."""
        self._stop.set()

    def _degrade(self, reason: str) -> None:
        logger.warning("watcher degraded: %s; snapshots walk the whole tree", reason)
        self.stats.state = "degraded"
        self.stats.reason = reason
        self.dirty.invalidate()

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
        if seen and self.on_batch is not None:
            self.on_batch(seen)

    async def sync(self, within_s: float) -> bool:
        """Wait until every worktree event before this call has been delivered.

        Returns:
            True when the cookie's own event arrived in time; False otherwise (the caller
            must then walk everything).
        """
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
            await asyncio.wait_for(event.wait(), within_s)
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
        return self.healthy


def _touch(path: str) -> None:
    with open(path, "wb"):
        pass
