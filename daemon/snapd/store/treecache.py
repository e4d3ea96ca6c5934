"""Parsed trees, kept for the big directories a capture and its tally read again and again.

A snapshot that changes one file in a directory of 10,000 entries reads that directory's tree
in the parent snapshot (to reuse entries), writes the new one, and then compares the two (to
count what changed); the next snapshot reads the new one as its parent. Parsing a tree into
entries costs far more in Python than the ``lstat`` calls behind it, so trees of at least
:data:`MIN_ENTRIES` entries are kept, least recently used first out, up to :data:`MAX_ENTRIES`
entries in all (about 200 bytes each). Trees are immutable and named by their content, so a
kept tree is always right; the store forgets them when it deletes objects.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Final

from snapd.store.objects import Entry

MIN_ENTRIES: Final = 256
"""Smaller trees parse fast enough: not kept."""

MAX_ENTRIES: Final = 40_000
"""Entries kept in all (about 8 MB): a directory of 32,000 entries still fits."""


def git_order(entry: Entry) -> bytes:
    """The key git sorts tree entries by (a subtree sorts as ``name/``)."""
    return entry.name + b"/" if entry.is_tree else entry.name


class TreeCache:
    """Tree id -> its entries in git order, for big trees; safe to use from any thread."""

    def __init__(self) -> None:
        self._trees: OrderedDict[str, tuple[Entry, ...]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, oid: str) -> tuple[Entry, ...] | None:
        """The kept entries of tree ``oid``, if any."""
        with self._lock:
            entries = self._trees.get(oid)
            if entries is not None:
                self._trees.move_to_end(oid)
            return entries

    def put(self, oid: str, entries: tuple[Entry, ...], *, ordered: bool) -> None:
        """Keep a big tree's entries (``ordered``: already in git order)."""
        if not MIN_ENTRIES <= len(entries) <= MAX_ENTRIES:
            return
        kept = entries if ordered else tuple(sorted(entries, key=git_order))
        with self._lock:
            if oid in self._trees:
                return
            self._trees[oid] = kept
            self._size += len(kept)
            while self._size > MAX_ENTRIES:
                _oid, dropped = self._trees.popitem(last=False)
                self._size -= len(dropped)

    def clear(self) -> None:
        """Forget every kept tree (objects were deleted)."""
        with self._lock:
            self._trees.clear()
            self._size = 0
