"""Directories of a snapshot's tree, looked up without reading the whole tree."""

from __future__ import annotations

from snapd.store.objects import Entry
from snapd.store.repo import Store


class TreeDirs:
    """Which directories a snapshot's tree has (memoised; iterative, so any depth works)."""

    def __init__(self, store: Store, tree: str) -> None:
        self.store = store
        self.tree = tree
        self._cache: dict[bytes, str | None] = {b"": tree}

    def tree_id(self, path: bytes) -> str | None:
        """The tree id of directory ``path`` in the snapshot (None if it has no such one)."""
        # Climb to the nearest known ancestor, then read trees back down (no recursion).
        todo: list[bytes] = []
        known = path
        while known not in self._cache:
            todo.append(known)
            known = known.rpartition(b"/")[0]
        oid = self._cache[known]
        if len(self._cache) + len(todo) > 4096:
            self._cache = {b"": self.tree, known: oid}
        for sub in reversed(todo):
            if oid is not None:
                name = sub.rpartition(b"/")[2]
                entry: Entry | None = next(
                    (e for e in self.store.read_tree(oid) if e.name == name), None
                )
                oid = entry.id if entry is not None and entry.is_tree else None
            self._cache[sub] = oid
        return oid

    def has(self, path: bytes) -> bool:
        """True if the snapshot has ``path`` as a directory."""
        return self.tree_id(path) is not None
