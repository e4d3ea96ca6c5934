"""Retention and garbage collection: history that never fills the disk, never loses a pin.

Policy (all configurable): keep the newest ``retainLatest`` snapshots, every pinned and every
labelled snapshot (a restore's safety snapshot is labelled, but counts as unlabelled: one per
restore would otherwise pile up forever), whatever else; among the others keep at most
``retainCount`` and none older than ``retainDays``; then, while the store is over
``storeBudgetBytes``, drop the oldest unprotected ones. Dropping a snapshot deletes its ref
only: ids of the others never change (snapshots name their parent in a trailer, not as a
commit parent).

Collection runs under the store writer lock (a snapshot may reuse an old object it found on
disk, so marking and sweeping must not interleave with one):

1. mark every object reachable from the snapshot refs (trees shared between snapshots are
   walked once);
2. sweep unreachable loose objects older than ``gcGraceSeconds`` (a live-diff capture that a
   client is still paging is younger than that);
3. pack the reachable loose objects into packs of bounded size, and rewrite a pack that holds
   garbage; a pack is complete (data and index renamed into place) before any object it
   replaces is deleted, so a kill at any point loses nothing that is reachable.

A ref whose walk meets a damaged object (its commit, or a tree or parent behind it) leaves
the mark incomplete: the policy's drops still happen, but nothing is swept or packed until
the ref is deleted or the object restored (the caller reports it).

Temporary pack files of an interrupted collection are removed when the store is opened.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Final

import attrs
from dulwich.pack import UnpackedObject

from snapd.store.errors import CorruptObject, MissingObject
from snapd.store.history import SnapshotInfo, iter_history
from snapd.store.objects import MODE_TREE, SNAPSHOTS_PREFIX, is_oid
from snapd.store.repo import Store

logger = logging.getLogger(__name__)

PACK_BATCH_BYTES: Final = 64 * 1024 * 1024
"""Objects are packed in batches of about this many (uncompressed) bytes."""

MAX_PACKS: Final = 8
"""With more packs than this, a collection folds them into new ones (lookups stay fast)."""

REWRITE_GARBAGE_RATIO: Final = 0.3
"""A pack whose unreachable share exceeds this is rewritten without the garbage."""


@attrs.frozen(kw_only=True)
class RetentionPolicy:
    """What to keep."""

    retain_latest: int
    retain_count: int
    retain_days: float
    budget_bytes: int
    grace_seconds: float


@attrs.define
class GcReport:
    """What a collection did."""

    dropped: list[str] = attrs.Factory(list)
    kept: int = 0
    loose_removed: int = 0
    packed: int = 0
    packs_rewritten: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    seconds: float = 0.0
    disk_full: bool = False
    """Packing was skipped because the disk is full (deleting went ahead)."""
    over_budget: bool = False
    """Still over budget after dropping everything the policy allows (pins and the newest
    snapshots are never dropped)."""
    unmarked: list[Unmarked] = attrs.Factory(list)
    """Refs that could not be marked: refs were dropped, but nothing was deleted or packed."""


def protected(snap: SnapshotInfo, pins: set[str], newest: set[str]) -> bool:
    """Snapshots retention never drops (a safety snapshot only while among the newest)."""
    labelled = snap.label is not None and not snap.safety
    return snap.id in pins or labelled or snap.id in newest


def plan(
    history: list[SnapshotInfo], pins: set[str], policy: RetentionPolicy, now: float
) -> tuple[list[SnapshotInfo], list[SnapshotInfo]]:
    """Split ``history`` (newest first) into (kept, dropped) by count and age.

    The byte budget is applied afterwards by :func:`collect`, which can measure.
    """
    newest = {s.id for s in history[: max(1, policy.retain_latest)]}
    kept: list[SnapshotInfo] = []
    dropped: list[SnapshotInfo] = []
    others = 0
    cutoff = now - policy.retain_days * 86400
    for snap in history:
        if protected(snap, pins, newest):
            kept.append(snap)
            continue
        others += 1
        if others > policy.retain_count or snap.time < cutoff:
            dropped.append(snap)
        else:
            kept.append(snap)
    return kept, dropped


@attrs.frozen(kw_only=True)
class Unmarked:
    """A snapshot ref whose objects could not all be marked (so nothing may be swept)."""

    ref: str
    """The ref's full name, e.g. ``refs/snapd/snapshots/000000000004``."""
    object: str
    """The object that could not be read."""
    why: str
    """A sentence: what is wrong with the object."""


@attrs.frozen(kw_only=True)
class Marking:
    """What :func:`reachable` found."""

    live: set[str]
    """Ids of every object marked (commits, trees, blobs)."""
    unmarked: list[Unmarked]
    """Refs whose walk stopped at a damaged or missing object: what lies behind it is unknown."""


def reachable(store: Store) -> Marking:
    """Mark every object reachable from a snapshot ref (commits, trees, blobs).

    A ref naming a commit that is not in the store marks nothing (it is listed as damaged).
    A ref whose walk meets a damaged object (its own commit: the ref is then also listed as
    damaged), or a missing one further down, is named in :attr:`Marking.unmarked` and the
    other refs are still marked: what cannot be marked must not be swept, and the caller
    decides.
    """
    seen: set[str] = set()
    unmarked: list[Unmarked] = []
    for seq, oid in store.refs.snapshot_refs():
        try:
            _mark(store, seq, oid, seen)
        except (CorruptObject, MissingObject) as exc:
            ref = (SNAPSHOTS_PREFIX + b"%012d" % seq).decode()
            bad = exc.oid if isinstance(exc, CorruptObject) else _missing_id(exc, oid)
            unmarked.append(Unmarked(ref=ref, object=bad, why=str(exc)))
    return Marking(live=seen, unmarked=unmarked)


def _missing_id(exc: MissingObject, fallback: str) -> str:
    words = [w for w in str(exc).split() if is_oid(w)]
    return words[0] if words else fallback


def _mark(store: Store, seq: int, oid: str, seen: set[str]) -> None:
    """Mark what one ref reaches (trees shared with refs marked before are walked once)."""
    commits = [oid]
    trees: list[str] = []
    while commits:
        cid = commits.pop()
        if cid in seen:
            continue
        try:
            info = store.read_commit(cid)
        except MissingObject as exc:
            if cid != oid:
                raise
            store.refs.damaged_ref(seq, oid, f"its commit is missing ({exc})")
            continue
        except CorruptObject as exc:
            if cid == oid:
                store.refs.damaged_ref(seq, oid, str(exc))
            raise
        seen.add(cid)
        commits.extend(info.parents)
        trees.append(info.tree)
    while trees:
        tid = trees.pop()
        if tid in seen:
            continue
        entries = store.read_tree(tid)
        seen.add(tid)  # only once read: a tree that failed is not marked as walked
        for entry in entries:
            if entry.mode == MODE_TREE:
                trees.append(entry.id)
            elif entry.mode & 0o170000 != 0o160000:  # gitlinks point outside the store
                seen.add(entry.id)


def iter_loose(store: Store) -> Iterator[tuple[str, str]]:
    """(object id, path) of every loose object."""
    for fan in sorted(os.listdir(store.objects_dir)):
        if len(fan) != 2:
            continue
        directory = os.path.join(store.objects_dir, fan)
        try:
            names = os.listdir(directory)
        except NotADirectoryError:
            continue
        for name in names:
            if len(name) == 38:
                yield fan + name, os.path.join(directory, name)


def collect(
    store: Store,
    policy: RetentionPolicy,
    *,
    now: float | None = None,
    after_sweep: Callable[[set[str]], None] | None = None,
) -> GcReport:
    """Apply the policy, then mark, sweep and pack (caller holds the writer lock).

    Args:
        store: The store.
        policy: What to keep.
        now: The current time (tests inject it).
        after_sweep: Called with the ids of deleted objects (the stat cache must forget them).
    """
    started = time.monotonic()
    now = time.time() if now is None else now
    report = GcReport(bytes_before=store.disk_usage())
    pins = store.refs.pins()
    history = list(iter_history(store))
    kept, dropped = plan(history, pins, policy, now)
    for snap in dropped:
        store.refs.drop_snapshot(snap.seq, snap.id)
        report.dropped.append(snap.id)
    _sweep_and_pack(store, policy, now, report, after_sweep)
    if report.unmarked:
        # Nothing can be swept until the damaged ref goes: dropping more would free nothing.
        droppable = []
    else:
        droppable = _budget_droppable(kept, pins, policy)
    # Byte budget: drop the oldest unprotected snapshots, a growing batch at a time, until the
    # store fits (measuring after each round: what a snapshot costs depends on sharing).
    batch = 1
    size = store.disk_usage()
    while size > policy.budget_bytes and droppable:
        for snap in droppable[:batch]:
            store.refs.drop_snapshot(snap.seq, snap.id)
            report.dropped.append(snap.id)
        droppable = droppable[batch:]
        batch = batch + (batch + 1) // 2  # grow gently: each round measures exactly
        _sweep_and_pack(store, policy, now, report, after_sweep, grace=False)
        size = store.disk_usage()
    report.over_budget = size > policy.budget_bytes
    report.kept = len(store.refs.snapshot_refs())
    report.bytes_after = size
    report.seconds = time.monotonic() - started
    logger.info(
        "gc: dropped %d snapshots, kept %d, removed %d loose objects, packed %d, %d -> %d bytes",
        len(report.dropped),
        report.kept,
        report.loose_removed,
        report.packed,
        report.bytes_before,
        report.bytes_after,
    )
    return report


def _budget_droppable(
    kept: list[SnapshotInfo], pins: set[str], policy: RetentionPolicy
) -> list[SnapshotInfo]:
    """What the byte budget may drop, oldest first."""
    newest = {s.id for s in kept[: max(1, policy.retain_latest)]}
    return [s for s in reversed(kept) if not protected(s, pins, newest)]


def _sweep_and_pack(
    store: Store,
    policy: RetentionPolicy,
    now: float,
    report: GcReport,
    after_sweep: Callable[[set[str]], None] | None,
    *,
    grace: bool = True,
) -> None:
    marking = reachable(store)
    if marking.unmarked:
        report.unmarked = marking.unmarked
        logger.warning(
            "gc: nothing deleted or packed: %s",
            "; ".join(f"{u.ref} cannot be walked ({u.why})" for u in marking.unmarked),
        )
        return
    live = marking.live
    head = store.refs.head()
    deleted: set[str] = set()
    to_pack: list[str] = []
    for oid, path in iter_loose(store):
        if oid in live:
            to_pack.append(oid)
            continue
        try:
            age = now - os.lstat(path).st_mtime
        except FileNotFoundError:
            continue
        # Budget rounds drop snapshots on purpose: their objects need no grace period. Live
        # captures (not reachable, but young) still get it in normal rounds.
        if grace and age < policy.grace_seconds:
            continue
        os.unlink(path)
        deleted.add(oid)
    report.loose_removed += len(deleted)
    try:
        # HEAD first: the sweep may just have deleted what it named, and packing is what a
        # full disk stops (HEAD is rewritten only when it moves).
        if head is not None:
            store.refs.set_head(head)
        # A budget round must reclaim what it dropped, or the next measurement would not move.
        report.packs_rewritten += _rewrite_packs(store, live, deleted, any_garbage=not grace)
        report.packed += _pack(store, to_pack)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        # Packing needs room; deleting does not. A full disk must not stop gc from freeing
        # what it can: the loose objects stay loose (and readable) until there is room.
        report.disk_full = True
        logger.warning("gc: the disk is full, packing skipped (%s)", exc.strerror)
    finally:
        store.refresh_packs()
        if after_sweep is not None and deleted:
            after_sweep(deleted)


def _objects_batch(store: Store, oids: list[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    size = 0
    for oid in oids:
        batch.append(oid)
        size += store.object_size(oid)
        if size >= PACK_BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _pack(store: Store, oids: list[str]) -> int:
    """Pack loose objects (in bounded batches), then delete the loose copies."""
    packed = 0
    for batch in _objects_batch(store, oids):
        store.write_pack(_unpacked(store, batch), len(batch))
        for oid in batch:
            store.delete_loose(oid)
        packed += len(batch)
    return packed


def _rewrite_packs(
    store: Store, live: set[str], deleted: set[str], *, any_garbage: bool = False
) -> int:
    """Rewrite packs holding much garbage (or all of them, when there are too many).

    The live objects of the chosen packs are streamed into new packs first; an old pack is
    removed only afterwards, and never when a new pack has the same name (same objects: it
    *is* the new pack).

    Returns:
        How many packs were removed.
    """
    packs = store.pack_contents()
    consolidate = len(packs) > MAX_PACKS  # many small packs: fold them all into new ones
    targets = []
    for name, shas in packs:
        dead = sum(s not in live for s in shas)
        worth = dead > 0 if any_garbage else dead >= REWRITE_GARBAGE_RATIO * len(shas)
        if consolidate or (dead and worth):
            targets.append((name, shas))
    if not targets:
        return 0
    keep = sorted({s for _name, shas in targets for s in shas if s in live})
    written: set[str] = set()
    for batch in _objects_batch(store, keep):
        written.add(store.write_pack(_unpacked(store, batch), len(batch)))
    removed = 0
    for name, shas in targets:
        if name in written:
            continue
        store.remove_pack(name)
        deleted.update(s for s in shas if s not in live)
        removed += 1
    return removed


def _unpacked(store: Store, oids: list[str]) -> Iterator[UnpackedObject]:
    for oid in oids:
        type_num, data = store.raw_object(oid)
        yield UnpackedObject(type_num, decomp_chunks=[data], sha=bytes.fromhex(oid))
