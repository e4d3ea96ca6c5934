"""The stat cache's and the directory map's files: round trips, damage, and deleted blobs."""

from __future__ import annotations

import os
from pathlib import Path

from snapd.capture.decision import RACY_NS, Decision, signature
from snapd.capture.dirmap import (
    FINE_RACY_NS,
    UNKNOWN,
    DirMap,
    dir_sig,
    pack_sigs,
    racy_window,
    record_of,
    unpack_sigs,
)
from snapd.capture.statcache import StatCache
from snapd.enums import Outcome
from snapd.store.history import State
from snapd.store.repo import Store

CAPTURED = Decision(outcome=Outcome.CAPTURED, rule="default", reason="captured")


def _cache(store: Store, tmp_path: Path, count: int) -> tuple[StatCache, list[str]]:
    cache = StatCache()
    oids = []
    for i in range(count):
        path = tmp_path / f"f{i}"
        path.write_text(f"{i}\n")
        oid = store.write_blob(path.read_bytes())
        oids.append(oid)
        cache.store(f"f{i}".encode(), os.lstat(path), oid, CAPTURED, 5 * 10**18, stamp=b"s" * 16)
    return cache, oids


def test_the_stat_cache_round_trips_and_drops_entries_whose_blob_is_gone(
    tmp_path: Path,
) -> None:
    store = Store.open(str(tmp_path / "store"))
    cache, oids = _cache(store, tmp_path, 3)
    cache.save(str(tmp_path / "cache.bin"))
    os.unlink(os.path.join(store.objects_dir, oids[1][:2], oids[1][2:]))
    loaded = StatCache.load(str(tmp_path / "cache.bin"), store)
    assert len(loaded) == 2
    ent = loaded.lookup(b"f0", os.lstat(tmp_path / "f0"))
    assert ent is not None and ent.oid == oids[0] and ent.decision == CAPTURED
    assert ent.stamp == b"s" * 16 and ent.phase1 is None
    assert loaded.lookup(b"f1", os.lstat(tmp_path / "f1")) is None
    # Saved again without being looked at, a loaded row keeps everything.
    loaded.save(str(tmp_path / "again.bin"))
    again = StatCache.load(str(tmp_path / "again.bin"), store)
    ent2 = again.lookup(b"f2", os.lstat(tmp_path / "f2"))
    assert ent2 is not None and ent2.oid == oids[2] and ent2.stamp == b"s" * 16


def test_a_damaged_or_foreign_stat_cache_is_empty(tmp_path: Path) -> None:
    store = Store.open(str(tmp_path / "store"))
    cache, _ = _cache(store, tmp_path, 2)
    path = tmp_path / "cache.bin"
    cache.save(str(path))
    data = path.read_bytes()
    for damaged in (data[:-3], data[:10], b"", b"{}\n", data[:-1] + bytes([data[-1] ^ 1])):
        path.write_bytes(damaged)
        assert len(StatCache.load(str(path), store)) == 0


def test_the_directory_map_round_trips_and_refuses_damage(tmp_path: Path) -> None:
    st = os.lstat(tmp_path)
    old = (1, 2, 3, 4, 0o100644)
    now = 5 * 10**18
    files = [(b"a", old), (b"b", (now, 5, 6, 7, 0o100644))]
    rec = record_of(st, files, [b"d"], [b"e"], [b".git"], now)
    assert unpack_sigs(rec[2]) == [old, UNKNOWN]  # b was modified within the racy window
    dm = DirMap()
    state = State("a" * 40, "b" * 40, "c" * 40)
    dm.commit(None, state, b"t" * 16, {b"": rec}, full=True)
    path = tmp_path / "map.bin"
    dm.save(str(path))
    loaded = DirMap.load(str(path))
    assert loaded.records == dm.records and loaded.state == state
    assert loaded.fits(state, b"t" * 16) and not loaded.fits(state, b"u" * 16)
    data = path.read_bytes()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    assert DirMap.load(str(path)).state is None


def test_a_racily_listed_file_is_recorded_as_unknown(tmp_path: Path) -> None:
    st = os.lstat(tmp_path)
    now = 5 * 10**18
    rec = record_of(st, [(b"new", (now, now, 1, 1, 0o100644))], [], [], [], now)
    assert unpack_sigs(rec[2]) == [UNKNOWN]
    assert pack_sigs([UNKNOWN]) == rec[2]


def test_the_fine_racy_window_needs_a_local_file_system_with_sub_second_ctimes(
    tmp_path: Path,
) -> None:
    assert racy_window(1_700_000_000_123_456_789, "nfs") == RACY_NS
    assert racy_window(1_700_000_000_000_000_000, "ext4") == RACY_NS  # whole seconds only
    assert racy_window(1_700_000_000_123_456_789, "ext4") == FINE_RACY_NS


def test_a_directory_that_moved_just_now_keeps_its_old_signature(tmp_path: Path) -> None:
    """Names unchanged, signature moved: refreshed only outside the racy window."""
    root = tmp_path / "work"
    root.mkdir()
    (root / "a").write_text("a\n")
    old = os.lstat(root)
    stale = (old.st_mtime_ns - 10**9, old.st_ctime_ns, old.st_ino, old.st_mode)
    (root / ".git").mkdir()
    os.utime(root, ns=(old.st_mtime_ns, old.st_mtime_ns))
    old = os.lstat(root)
    rec = record_of(old, [(b"a", signature(os.lstat(root / "a")))], [], [], [b".git"], 5 * 10**18)
    dm = DirMap()
    dm.records = {b"": (stale, *rec[1:])}
    fresh = dm.check(os.fsencode(root), trust_mtime=True, racy_ns=60 * 10**9)
    assert fresh.dirty == frozenset() and fresh.refreshed == {}  # modified within the window
    aged = dm.check(os.fsencode(root), trust_mtime=True, racy_ns=0)
    assert aged.dirty == frozenset() and aged.refreshed == {b"": dir_sig(os.lstat(root))}
    # A quiet directory (skipped without a record, like .git) is a known name, never dirty.
    (root / ".git" / "index").write_text("changed\n")
    assert dm.check(os.fsencode(root), trust_mtime=False, racy_ns=0).dirty == frozenset()
