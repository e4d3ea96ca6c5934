"""Changed paths between two captured states, in one sorted, resumable stream.

Both the tree walk and the skipped manifests are visited in the same order: a path's *sort key*
is its bytes, plus ``/`` for a directory (git's tree order, which is also plain byte order of
full paths once directories carry their slash). That order makes the two sources mergeable in
one pass and lets a page resume "after key K" without materialising anything.

Identical subtrees (same tree id) are never entered: a diff costs O(changed paths + depth).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

import attrs

from snapd.enums import ChangeStatus
from snapd.paths import join, may_contain, to_wire, under
from snapd.store.history import EMPTY_BLOB, ManifestEntry, State, iter_manifest
from snapd.store.objects import MODE_LINK, MODE_TREE, Entry
from snapd.store.repo import Store
from snapd.store.treecache import git_order

_AFTER_DIR: Final = b"0"  # the byte after "/": every path below "d" sorts before "d0"


@attrs.frozen
class Side:
    """One side of a changed path: captured content or a skipped record."""

    mode: int
    oid: str | None = None
    skipped: ManifestEntry | None = None
    generated: ManifestEntry | None = None
    """The generated-file record of a captured side, if a rule marked it generated."""

    @property
    def captured(self) -> bool:
        """True if the content is in the store."""
        return self.oid is not None

    @property
    def kind(self) -> str:
        """``file``, ``symlink`` or the skipped record's kind."""
        if self.skipped is not None:
            return self.skipped.kind
        return "symlink" if self.mode == MODE_LINK else "file"

    def size(self, store: Store) -> int:
        """Bytes of the content: the skipped record's size, or the stored blob's."""
        if self.skipped is not None:
            return self.skipped.size
        assert self.oid is not None
        return store.blob_size(self.oid)


@attrs.frozen
class Change:
    """A path whose content, mode or capture state differs between two states."""

    key: bytes
    path: bytes
    old: Side | None
    new: Side | None

    @property
    def status(self) -> ChangeStatus:
        """``added``, ``deleted`` or ``modified``."""
        if self.old is None:
            return ChangeStatus.ADDED
        if self.new is None:
            return ChangeStatus.DELETED
        return ChangeStatus.MODIFIED


def sort_key(path: bytes, is_dir: bool) -> bytes:
    """The order every diff stream uses."""
    return path + b"/" if is_dir else path


def iter_changes(
    store: Store,
    a: State,
    b: State,
    *,
    prefixes: tuple[bytes, ...] = (b"",),
    after: bytes | None = None,
) -> Iterator[Change]:
    """Yield changes from ``a`` to ``b`` in sort-key order, starting after key ``after``.

    Args:
        store: The store holding both states.
        a: The old state.
        b: The new state.
        prefixes: Only paths equal to or below one of these (``b""`` is everything).
        after: Resume point: only changes with a sort key greater than this.
    """
    trees = _tree_changes(store, a.tree, b.tree, b"", prefixes, after)
    skipped = _manifest_changes(store, a.manifest, b.manifest, prefixes, after)
    merged = _merge(trees, skipped)
    if a.generated == b.generated == EMPTY_BLOB:
        yield from merged
        return
    old_gen = _Cursor(iter_manifest(store, a.generated))
    new_gen = _Cursor(iter_manifest(store, b.generated))
    for change in merged:
        yield attrs.evolve(
            change,
            old=_annotate(change.old, old_gen.find(change.key)),
            new=_annotate(change.new, new_gen.find(change.key)),
        )


class _Cursor:
    """Walks a sorted manifest forward, finding records by sort key in ascending order."""

    def __init__(self, records: Iterator[ManifestEntry]) -> None:
        self._records = records
        self._current = next(records, None)

    def find(self, key: bytes) -> ManifestEntry | None:
        while self._current is not None and self._current.path < key:
            self._current = next(self._records, None)
        if self._current is not None and self._current.path == key:
            return self._current
        return None


def _annotate(side: Side | None, record: ManifestEntry | None) -> Side | None:
    if side is None or record is None or not side.captured:
        return side
    return attrs.evolve(side, generated=record)


def _merge(xs: Iterator[Change], ys: Iterator[Change]) -> Iterator[Change]:
    x = next(xs, None)
    y = next(ys, None)
    while x is not None or y is not None:
        if y is None or (x is not None and x.key < y.key):
            assert x is not None
            yield x
            x = next(xs, None)
        elif x is None or y.key < x.key:
            yield y
            y = next(ys, None)
        else:
            # Same path captured on one side and skipped on the other.
            yield Change(x.key, x.path, x.old or y.old, x.new or y.new)
            x = next(xs, None)
            y = next(ys, None)


def _entries(store: Store, oid: str | None) -> tuple[Entry, ...]:
    return store.read_tree(oid) if oid is not None else ()


_Pairs = Iterator[tuple[Entry | None, Entry | None]]


def _pairs(store: Store, a: str | None, b: str | None) -> _Pairs:
    """The entries of two versions of one directory, paired by sort key, in key order."""
    olds = {git_order(e): e for e in _entries(store, a)}
    news = {git_order(e): e for e in _entries(store, b)}
    return iter([(olds.get(key), news.get(key)) for key in sorted(olds.keys() | news.keys())])


def _tree_changes(
    store: Store,
    a: str | None,
    b: str | None,
    base: bytes,
    prefixes: tuple[bytes, ...],
    after: bytes | None,
) -> Iterator[Change]:
    # Depth first with an explicit stack, not recursion: a tree may be nested deeper than
    # Python's recursion limit. Only directories whose tree ids differ are entered.
    if a == b:
        return
    stack: list[tuple[bytes, _Pairs]] = [(base, _pairs(store, a, b))]
    while stack:
        base, pairs = stack[-1]
        pair = next(pairs, None)
        if pair is None:
            stack.pop()
            continue
        old, new = pair
        ref = old or new
        assert ref is not None
        path = join(base, ref.name)
        if ref.is_tree:
            if after is not None and path + _AFTER_DIR <= after:
                continue
            if not may_contain(path, prefixes):
                continue
            sub_a, sub_b = (old.id if old else None), (new.id if new else None)
            if sub_a != sub_b:
                stack.append((path, _pairs(store, sub_a, sub_b)))
            continue
        if after is not None and path <= after:
            continue
        if not under(path, prefixes):
            continue
        if old is not None and new is not None and (old.id, old.mode) == (new.id, new.mode):
            continue
        yield Change(
            path,
            path,
            Side(old.mode, old.id) if old else None,
            Side(new.mode, new.id) if new else None,
        )


def _manifest_changes(
    store: Store,
    a: str,
    b: str,
    prefixes: tuple[bytes, ...],
    after: bytes | None,
) -> Iterator[Change]:
    if a == b:
        return
    xs = iter_manifest(store, a)
    ys = iter_manifest(store, b)
    x = next(xs, None)
    y = next(ys, None)
    while x is not None or y is not None:
        xk = sort_key(x.path, x.kind == "dir") if x is not None else None
        yk = sort_key(y.path, y.kind == "dir") if y is not None else None
        if yk is None or (xk is not None and xk < yk):
            assert x is not None and xk is not None
            change = Change(xk, x.path, Side(x.mode, skipped=x), None)
            x = next(xs, None)
        elif xk is None or yk < xk:
            assert y is not None
            change = Change(yk, y.path, None, Side(y.mode, skipped=y))
            y = next(ys, None)
        else:
            assert x is not None and y is not None
            same = x.same_content(y)
            change = Change(xk, x.path, Side(x.mode, skipped=x), Side(y.mode, skipped=y))
            x = next(xs, None)
            y = next(ys, None)
            if same:
                continue
        if after is not None and change.key <= after:
            continue
        if under(change.path, prefixes):
            yield change


def lookup(store: Store, state: State, rel: bytes) -> Side | None:
    """One path's side in a captured state: its blob, its skipped record, or None.

    Reads only the trees on the path's way (one per directory level), then the manifests.
    """
    parts = rel.split(b"/")
    tree: str | None = state.tree
    for depth, name in enumerate(parts):
        assert tree is not None
        entry = next((e for e in store.read_tree(tree) if e.name == name), None)
        if entry is None:
            break
        if depth == len(parts) - 1:
            if entry.mode == MODE_TREE:
                return None
            record = (
                next((m for m in iter_manifest(store, state.generated) if m.path == rel), None)
                if state.generated != EMPTY_BLOB
                else None
            )
            return Side(entry.mode, entry.id, generated=record)
        if entry.mode != MODE_TREE:
            break
        tree = entry.id
    return _lookup_skipped(store, state.manifest, rel)


def _lookup_skipped(store: Store, manifest: str, rel: bytes) -> Side | None:
    if manifest == EMPTY_BLOB:
        return None
    for meta in iter_manifest(store, manifest):
        if meta.path == rel:
            return Side(meta.mode, skipped=meta)
        if meta.kind == "dir" and rel.startswith(meta.path + b"/"):
            inner = attrs.evolve(
                meta,
                path=rel,
                reason=f"inside skipped directory {to_wire(meta.path)}: {meta.reason}",
            )
            return Side(meta.mode, skipped=inner)
    return None
