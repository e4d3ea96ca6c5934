"""Big trees are kept parsed, bounded, and read back exactly as a fresh parse gives them."""

from __future__ import annotations

from pathlib import Path

import pytest

from snapd.store import treecache
from snapd.store.objects import MODE_FILE, MODE_TREE, Entry
from snapd.store.repo import Store
from snapd.store.treecache import TreeCache


def _entries(n: int, tag: str) -> list[Entry]:
    blob = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    # Out of git order on purpose: "d" (a subtree) sorts as "d/", after "d.txt" and "d-x".
    out = [Entry(f"{tag}{i:05}".encode(), MODE_FILE, blob) for i in range(n)]
    return [Entry(b"d", MODE_TREE, "4b825dc642cb6eb9a060e54bf8d69288fbee4904"), *out,
            Entry(b"d.txt", MODE_FILE, blob), Entry(b"d-x", MODE_FILE, blob)]  # fmt: skip


def test_a_kept_tree_reads_back_as_a_fresh_parse(tmp_path: Path) -> None:
    store = Store.open(str(tmp_path / "store"))
    oid = store.write_tree(_entries(300, "f"))
    kept = store.read_tree(oid)
    assert store.trees.get(oid) == kept
    store.trees.clear()
    assert store.read_tree(oid) == kept  # parsed from the object: same entries, same order
    names = [e.name + (b"/" if e.is_tree else b"") for e in kept]
    assert names == sorted(names)


def test_small_trees_are_not_kept_and_the_cache_stays_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(treecache, "MAX_ENTRIES", 1000)
    cache = TreeCache()
    cache.put("small", tuple(_entries(10, "s")), ordered=False)
    assert cache.get("small") is None
    for i in range(5):
        cache.put(f"t{i}", tuple(_entries(300, "t")), ordered=False)
    kept = [i for i in range(5) if cache.get(f"t{i}") is not None]
    assert kept == [2, 3, 4]  # 3 x 303 entries fit in 1,000; the oldest went first


def test_reclaiming_a_failed_snapshot_forgets_kept_trees(tmp_path: Path) -> None:
    store = Store.open(str(tmp_path / "store"))
    with store.journal() as journal:
        oid = store.write_tree(_entries(300, "r"))
    assert store.trees.get(oid) is not None
    store.reclaim(journal)
    assert store.trees.get(oid) is None
