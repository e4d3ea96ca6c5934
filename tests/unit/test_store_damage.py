"""The store checks what it reads against object ids and forgets what a failed writer wrote."""

from __future__ import annotations

import io
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from snapd.store.errors import CorruptObject, MissingObject
from snapd.store.objects import Entry
from snapd.store.repo import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(str(tmp_path / "store"))
    yield s
    s.close()


def _loose(store: Store, oid: str) -> Path:
    path = Path(store.objects_dir) / oid[:2] / oid[2:]
    path.chmod(0o644)
    return path


def test_a_blob_is_checked_once_it_has_streamed(store: Store) -> None:
    data = os.urandom(700_000)  # several chunks
    oid = store.write_blob_from(io.BytesIO(data), len(data))
    assert b"".join(store.iter_blob(oid)) == data
    forged = bytearray(data)
    forged[-1] ^= 1
    _loose(store, oid).write_bytes(zlib.compress(b"blob %d\0" % len(forged) + bytes(forged)))
    chunks = store.iter_blob(oid)
    first = next(chunks)  # the damage shows only at the end: consumers must not commit early
    assert first == data[: len(first)]
    with pytest.raises(CorruptObject) as info:
        list(chunks)
    assert info.value.oid == oid and "does not match its id" in str(info.value)


@pytest.mark.parametrize(
    "damage",
    [b"not zlib", zlib.compress(b"blob 5\0abc"), zlib.compress(b"blob x\0abcde")],
    ids=["not-zlib", "short", "bad-header"],
)
def test_damaged_loose_blobs_are_corrupt_not_missing(store: Store, damage: bytes) -> None:
    oid = store.write_blob(b"abcde")
    _loose(store, oid).write_bytes(damage)
    with pytest.raises(CorruptObject):
        store.read_blob(oid, 100)


def test_a_damaged_tree_or_packed_blob_is_corrupt(store: Store) -> None:
    blob = store.write_blob(b"content\n")
    tree = store.write_tree([Entry(b"a", 0o100644, blob)])
    other = store.write_tree([Entry(b"b", 0o100644, blob)])
    _loose(store, tree).write_bytes(_loose(store, other).read_bytes())  # valid, wrong id
    with pytest.raises(CorruptObject):
        store.read_tree(tree)
    with pytest.raises(MissingObject):
        store.read_tree("1" * 40)


def test_a_journal_lists_only_new_objects_and_reclaim_deletes_them(store: Store) -> None:
    old = store.write_blob(b"old\n")
    with store.journal() as journal:
        assert store.write_blob(b"old\n") == old  # already there: not the writer's
        new = store.write_blob(b"new\n")
        tree = store.write_tree([Entry(b"n", 0o100644, new)])
        with store.bulk():
            packed = store.write_blob(b"packed\n")
    assert journal.objects == {new, tree} and len(journal.packs) == 1
    store.reclaim(journal)
    assert not store.contains(new) and not store.contains(tree) and not store.contains(packed)
    assert store.contains(old)


def test_a_deleted_store_is_a_problem_and_a_replaced_one_too(tmp_path: Path) -> None:
    path = tmp_path / "store"
    s = Store.open(str(path))
    try:
        assert s.problem() is None
        (path / "snapd.lock").unlink()
        (path / "snapd.lock").write_text("{}")
        assert "replaced" in (s.problem() or "")
        for p in sorted(path.rglob("*"), reverse=True):
            p.rmdir() if p.is_dir() else p.unlink()
        path.rmdir()
        assert "no longer there" in (s.problem() or "")
    finally:
        s.close()


def test_a_store_that_cannot_be_made_is_a_sentence(tmp_path: Path) -> None:
    from snapd.store.errors import StoreError
    from snapd.store.repo import Store

    blocker = tmp_path / "file"
    blocker.write_text("not a directory\n")
    with pytest.raises(StoreError) as raised:
        Store.open(str(blocker / "store"))
    message = str(raised.value)
    assert message.startswith(f"cannot create store at {blocker / 'store'}: ")
    assert "[Errno" not in message and "'" not in message
