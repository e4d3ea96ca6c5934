"""``snapd/pin``, ``snapd/gc`` and ``snapd/stats``: the store's upkeep."""

from __future__ import annotations

import time

from snapd import errors, protocol
from snapd.paths import to_wire
from snapd.requests.common import map_errors
from snapd.store import retention
from snapd.store.history import iter_history, iter_manifest
from snapd.store.objects import MODE_TREE
from snapd.worktree import Worktree


def pin(wt: Worktree, params: protocol.PinParams) -> protocol.PinResult:
    """Pin or unpin a snapshot."""
    with map_errors():
        snap = wt.resolve(params.id, "id")
        wt.store.refs.set_pin(snap.id, params.pinned)
    return protocol.PinResult(id=snap.id, pinned=params.pinned)


def gc(wt: Worktree, params: protocol.GcParams) -> protocol.GcResult:
    """Apply the retention policy and collect garbage (or only plan it)."""
    policy = wt.retention_policy()
    with map_errors():
        wt.check_store()
        if params.dry_run:
            history = list(iter_history(wt.store))
            kept, dropped = retention.plan(history, wt.store.refs.pins(), policy, time.time())
            return protocol.GcResult(dropped=[s.id for s in dropped], kept=len(kept))
        with wt.writer:
            report = retention.collect(wt.store, policy, after_sweep=wt.cache.forget)
            wt.store.trees.clear()
    if report.unmarked:
        raise _unmarked(wt, report)
    return protocol.GcResult(
        dropped=report.dropped,
        kept=report.kept,
        loose_removed=report.loose_removed,
        packed=report.packed,
        packs_rewritten=report.packs_rewritten,
        bytes_before=report.bytes_before,
        bytes_after=report.bytes_after,
        seconds=round(report.seconds, 3),
        over_budget=report.over_budget,
        disk_full=report.disk_full,
    )


def _unmarked(wt: Worktree, report: retention.GcReport) -> errors.StoreFailure:
    """The -31007 of a collection that could not mark everything (it deleted nothing)."""
    first = report.unmarked[0]
    refs = " ".join(u.ref for u in report.unmarked)
    return errors.StoreFailure(
        f"gc dropped {len(report.dropped)} snapshots, but nothing was deleted: snapshot "
        f"ref {first.ref} cannot be walked ({first.why}), so what it refers to is kept; "
        "if the damaged object cannot be restored from a backup, delete the ref with "
        f"`git --git-dir {wt.store_path} update-ref -d {first.ref}` and run gc again"
        + (f" (damaged refs: {refs})" if len(report.unmarked) > 1 else ""),
        object=first.object,
        ref=first.ref,
        dropped=report.dropped,
    )


def stats(wt: Worktree, params: protocol.StatsParams | None = None) -> protocol.StatsResult:
    """Where the store's disk goes (walks every retained snapshot's trees once)."""
    with map_errors():
        history = list(iter_history(wt.store))
        loose = sum(1 for _ in retention.iter_loose(wt.store))
        packs = wt.store.pack_contents()
        per_path: dict[bytes, list[int]] = {}
        seen_trees: set[str] = set()
        seen_blobs: set[str] = set()
        unique = 0
        for snap in history:
            stack = [(b"", snap.state.tree)]
            while stack:
                base, tree = stack.pop()
                if tree in seen_trees:
                    continue
                seen_trees.add(tree)
                for entry in wt.store.read_tree(tree):
                    path = base + b"/" + entry.name if base else entry.name
                    if entry.mode == MODE_TREE:
                        stack.append((path, entry.id))
                    elif entry.id not in seen_blobs:
                        seen_blobs.add(entry.id)
                        size = wt.store.blob_size(entry.id)
                        unique += size
                        slot = per_path.setdefault(path, [0, 0])
                        slot[0] += size
                        slot[1] += 1
        largest = sorted(per_path.items(), key=lambda kv: -kv[1][0])[:20]
        skipped_by_rule: dict[str, int] = {}
        if history:
            for meta in iter_manifest(wt.store, history[0].state.manifest):
                skipped_by_rule[meta.rule] = skipped_by_rule.get(meta.rule, 0) + meta.size
        captured = sum(s.bytes for s in history)
        return protocol.StatsResult(
            store_bytes=wt.store.disk_usage(),
            loose_objects=loose,
            packed_objects=sum(len(shas) for _name, shas in packs),
            packs=len(packs),
            snapshots=len(history),
            pinned=len(wt.store.refs.pins()),
            captured_bytes=captured,
            unique_bytes=unique,
            dedup_ratio=round(captured / unique, 3) if unique else 1.0,
            largest_paths=[
                protocol.PathBytes(path=to_wire(p), bytes=v[0], versions=v[1]) for p, v in largest
            ],
            skipped_bytes_by_rule=skipped_by_rule,
        )
