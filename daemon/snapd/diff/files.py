"""One file's hunks between two stored blobs: the entry point of ``snapd/hunks``.

:class:`FileDiffer` owns the binary check, the switch between the in-memory diff (files up to
``diffMaxBytes``, :mod:`snapd.diff.hunks`) and the streamed one (bigger files, through a
bounded window, :mod:`snapd.diff.streamed`), and a small cache of recent in-memory diffs
(paging asks for the same file again and again).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

import attrs

from snapd.diff.changes import Side
from snapd.diff.hunks import BINARY_SNIFF, FileDiff, Hunk, diff_blobs
from snapd.diff.streamed import BadPosition, Position, stream_hunks

if TYPE_CHECKING:
    from snapd.config import Options
    from snapd.store.repo import Store

CACHED_DIFFS: Final = 4
"""In-memory diffs kept for the next page of the same file."""


class PastTheEnd(BadPosition):
    """An in-memory diff was asked for hunks after its last one."""


@attrs.frozen
class Piece:
    """One hunk, and where a page that starts with it resumes.

    ``hunk`` is None only for the last piece of a streamed diff that had to stop
    (``truncated`` says why).
    """

    hunk: Hunk | None
    resume: int | Position
    truncated: str | None = None


@attrs.frozen
class FileHunks:
    """A file's hunks from some position on, produced lazily."""

    pieces: Iterator[Piece] = attrs.field(factory=lambda: iter(()))
    binary: bool = False
    """The content is binary: no hunks."""
    streamed: bool = False
    """Produced through the bounded window (sizes are estimated, reasons are per piece)."""
    truncated: str | None = None
    """Why an in-memory diff is incomplete (a cap or the time budget), if it is."""


class FileDiffer:
    """Diffs files of one store with one set of limits (thread-safe)."""

    def __init__(self, store: Store, options: Options) -> None:
        self.store = store
        self.options = options
        self._cache: dict[tuple[str | None, str | None, int], FileDiff] = {}
        self._lock = threading.Lock()

    def is_binary(self, side: Side | None) -> bool:
        """True when a captured side's first bytes hold a NUL (git's test)."""
        if side is None or side.oid is None:
            return False
        first = next(self.store.iter_blob(side.oid), b"")
        return b"\0" in first[:BINARY_SNIFF]

    def hunks(
        self,
        old: Side | None,
        new: Side | None,
        *,
        context: int,
        start: int | Position | None = None,
    ) -> FileHunks:
        """The hunks between two captured sides, from ``start`` (a piece's ``resume``) on.

        Files over ``diffMaxBytes`` (or a start inside a streamed diff) are streamed; others
        are diffed in memory, once, and cached for the next pages.

        Raises:
            BadPosition: ``start`` does not fit this pair of files (iterating may raise it too).
        """
        old_oid = old.oid if old else None
        new_oid = new.oid if new else None
        big = max(s.size(self.store) if s else 0 for s in (old, new))
        if isinstance(start, Position) or big > self.options.diff_max_bytes:
            if self.is_binary(old) or self.is_binary(new):
                return FileHunks(binary=True)
            if start is not None and not isinstance(start, Position):
                raise BadPosition("an in-memory position for a streamed diff")
            pieces = stream_hunks(
                self.store.iter_blob(old_oid) if old_oid else iter(()),
                self.store.iter_blob(new_oid) if new_oid else iter(()),
                context=context,
                options=self.options,
                start=start,
            )
            return FileHunks(
                pieces=(Piece(p.hunk, p.position, p.truncated) for p in pieces), streamed=True
            )
        fd = self.file_diff(old_oid, new_oid, context)
        if fd.binary:
            return FileHunks(binary=True)
        index = start or 0
        if index > len(fd.hunks):
            raise PastTheEnd("past the end of this diff")
        return FileHunks(
            pieces=(Piece(h, index + k) for k, h in enumerate(fd.hunks[index:])),
            truncated=fd.truncated,
        )

    def file_diff(self, old: str | None, new: str | None, context: int) -> FileDiff:
        """The in-memory diff of two blobs (cached: a few recent files)."""
        key = (old, new, context)
        with self._lock:
            fd = self._cache.get(key)
        if fd is None:
            fd = diff_blobs(self.store, old, new, context=context, options=self.options)
            with self._lock:
                if len(self._cache) >= CACHED_DIFFS:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[key] = fd
        return fd
