"""The dirty-path set: what a watcher saw change since the last snapshot (hints only)."""

from __future__ import annotations

import threading
from typing import Final

MAX_DIRTY: Final = 50_000
"""A dirty set larger than this collapses into "walk everything" (bounded memory)."""


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

    def peek(self) -> frozenset[bytes] | None:
        """The set as it is (kept for the next snapshot); None means walk everything."""
        with self._lock:
            return None if self._paths is None else frozenset(self._paths)

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
