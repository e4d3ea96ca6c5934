"""Internal records to wire types: the one place results, entries and events are built.

Everything below the request layer speaks internal types (snapshot records, sides, restore
actions, hunks); these functions make the :mod:`snapd.protocol` types clients see.
"""

from __future__ import annotations

import attrs

from snapd import protocol
from snapd.diff.changes import Change, Side
from snapd.diff.hunks import Hunk
from snapd.paths import to_wire
from snapd.protocol.cursors import GeneratedMark
from snapd.restore.actions import Action
from snapd.store.history import SnapshotInfo
from snapd.worktree import Recorded


def snapshot_result(rec: Recorded) -> protocol.SnapshotResult:
    """``snapd/snapshot``'s result."""
    snap = rec.info
    return protocol.SnapshotResult(
        consistency=rec.consistency,
        auto=snap.auto,
        id=snap.id,
        created=rec.created,
        time=snap.time,
        files=snap.files,
        bytes=snap.bytes,
        skipped=snap.skipped,
        skipped_bytes=snap.skipped_bytes,
        changed=snap.changed,
        hashed=rec.counts.hashed,
        hashed_bytes=rec.counts.hashed_bytes,
        rules=dict(snap.rules),
        generated=dict(snap.generated),
        parent=snap.parent,
        label=snap.label,
        client=snap.client,
        session=snap.session,
    )


def summary(s: SnapshotInfo, *, pinned: bool = False) -> protocol.SnapshotSummary:
    """One snapshot as ``snapd/snapshots`` lists it."""
    return protocol.SnapshotSummary(
        id=s.id,
        time=s.time,
        files=s.files,
        bytes=s.bytes,
        skipped=s.skipped,
        skipped_bytes=s.skipped_bytes,
        changed=s.changed,
        parent=s.parent,
        label=s.label,
        rules=dict(s.rules),
        generated=dict(s.generated),
        consistency=s.consistency,
        auto=s.auto,
        client=s.client,
        safety=s.safety,
        pinned=pinned,
        session=s.session,
    )


def did_snapshot(s: SnapshotInfo, *, auto: bool = False) -> protocol.DidSnapshotParams:
    """The ``snapd/didSnapshot`` notification of a recorded snapshot."""
    return protocol.DidSnapshotParams(
        id=s.id,
        changed=s.changed,
        consistency=s.consistency,
        auto=auto,
        parent=s.parent,
        label=s.label,
        client=s.client,
        session=s.session,
    )


def skip_info(old: Side | None, new: Side | None) -> protocol.SkipInfo | None:
    """Why a change's content is not stored, on which side (None: both captured)."""
    olds = old.skipped if old else None
    news = new.skipped if new else None
    meta = news or olds
    if meta is None:
        return None
    side = (
        protocol.SkipSide.BOTH
        if olds and news
        else protocol.SkipSide.NEW
        if news
        else protocol.SkipSide.OLD
    )
    return protocol.SkipInfo(
        reason=meta.reason, rule=meta.rule, side=side, evidence=meta.evidence, count=meta.count
    )


def generated_mark(old: Side | None, new: Side | None) -> GeneratedMark | None:
    """Why a change's file counts as generated (the new side's record wins)."""
    record = (new.generated if new else None) or (old.generated if old else None)
    if record is None:
        return None
    return GeneratedMark(rule=record.rule, reason=record.reason, evidence=record.evidence)


def generated_info(mark: GeneratedMark | None) -> protocol.GeneratedInfo | None:
    """The wire form of :func:`generated_mark`."""
    if mark is None:
        return None
    return protocol.GeneratedInfo(rule=mark.rule, reason=mark.reason, evidence=mark.evidence)


def file_change(change: Change, size: int | None, new_size: int | None) -> protocol.FileChange:
    """One changed path (the caller measures sizes and the binary flag: they read the store)."""
    old, new = change.old, change.new
    ref = new or old
    assert ref is not None
    return protocol.FileChange(
        path=to_wire(change.path),
        status=change.status,
        kind=ref.kind,
        old_size=size,
        new_size=new_size,
        old_mode=old.mode if old else None,
        new_mode=new.mode if new else None,
        skipped=skip_info(old, new),
        generated=generated_info(generated_mark(old, new)),
    )


def hunk(h: Hunk) -> protocol.Hunk:
    """One hunk."""
    return protocol.Hunk(
        old_start=h.old_start,
        old_lines=h.old_lines,
        new_start=h.new_start,
        new_lines=h.new_lines,
        lines=list(h.lines),
        no_newline_old=h.no_newline_old,
        no_newline_new=h.no_newline_new,
        digest=h.digest,
        cut_lines=list(h.cut_lines) or None,
    )


def restore_action(a: Action) -> protocol.RestoreAction:
    """One line of a restore plan."""
    return protocol.RestoreAction(
        path=to_wire(a.path),
        action=a.action,
        kind=a.kind,
        old_size=a.old_size,
        new_size=a.new_size,
        old_mode=a.old_mode,
        new_mode=a.new_mode,
        reason=a.reason,
        rule=a.rule,
        forced=a.forced,
    )


def revert_action(a: Action) -> protocol.RevertAction:
    """One line of a revert plan."""
    return protocol.RevertAction(
        path=to_wire(a.path),
        action=protocol.RevertActionKind(a.step or "keep"),
        change=a.action if a.action is not protocol.RestoreActionKind.KEEP else None,
        kind=a.kind,
        old_size=a.old_size,
        new_size=a.new_size,
        old_mode=a.old_mode,
        new_mode=a.new_mode,
        reason=a.reason,
        conflict=a.conflict,
        rule=a.rule,
        forced=a.forced,
        hunks=[hunk(h) for h in a.hunks] if a.hunks else None,
        hunks_truncated=a.hunks_cut,
    )


def revert_failure(a: Action) -> protocol.RevertAction:
    """A planned revert or merge the apply left undone (the path changed while it ran)."""
    return attrs.evolve(
        revert_action(a),
        action=protocol.RevertActionKind.CONFLICT,
        change=None,
        conflict="changed",
    )
