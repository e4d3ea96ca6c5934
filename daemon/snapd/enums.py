"""The vocabulary shared by every layer: statuses, outcomes and kinds (no imports, no I/O).

The wire types in :mod:`snapd.protocol` and the internal records of capture, diff and restore use
these same enums, so a value never needs translating between layers.
"""

from __future__ import annotations

import enum


class ChangeStatus(enum.StrEnum):
    """How a path differs between the two sides of a diff."""

    ADDED = "added"
    """Present only on the new side."""

    MODIFIED = "modified"
    """Present on both sides with different content, mode, kind or capture state."""

    DELETED = "deleted"
    """Present only on the old side."""


class Outcome(enum.StrEnum):
    """What a snapshot does with a path (``snapd/explain``)."""

    CAPTURED = "captured"
    """Content is stored; diffs show hunks."""

    GENERATED = "generated"
    """Content is stored, but a tool wrote it: diffs summarise it (hunks only when asked)."""

    SKIPPED = "skipped"
    """Only metadata is stored, with the rule that decided it."""


class Consistency(enum.StrEnum):
    """How a snapshot's capture knew what changed."""

    EXACT = "exact"
    """Incremental: a watcher synced with the request reported every change since the
    previous snapshot; only those directories were listed."""

    RECONCILED = "reconciled"
    """A full walk of the worktree (first snapshot, after a restart, a watcher error or
    suspected overflow, periodically, or with the watcher off)."""

    DEGRADED = "degraded"
    """The watcher is not trusted (it failed or ran out of watches): snapshots walk the tree."""


class SkipSide(enum.StrEnum):
    """Which side(s) of a change were not captured."""

    OLD = "old"
    """Only the old side is metadata-only."""

    NEW = "new"
    """Only the new side is metadata-only."""

    BOTH = "both"
    """Neither side's content is stored."""


class RestoreActionKind(enum.StrEnum):
    """What ``snapd/restore`` does (or did) with one path."""

    WRITE = "write"
    """Replace the file or symlink in the worktree with the snapshot's."""

    CREATE = "create"
    """Create a file or symlink the worktree lacks (and its directories)."""

    DELETE = "delete"
    """Delete a file or symlink the snapshot lacks (and directories this empties)."""

    KEEP = "keep"
    """Leave the path alone; ``reason`` says why (content not captured, a symlink in the way,
    or changed while the restore ran)."""


class RevertActionKind(enum.StrEnum):
    """What ``snapd/revert`` does (or did) with one path the step changed."""

    REVERT = "revert"
    """The worktree still holds what the step wrote: the path goes back to exactly what it
    was before the step (written, recreated or deleted)."""

    MERGE = "merge"
    """Changed since the step, only where the step did not touch it: the step's hunks come
    out and the later edits stay."""

    CONFLICT = "conflict"
    """Changed since the step where the step changed it too (or it cannot be merged): left
    alone; ``conflict`` says why and ``hunks`` lists the step's hunks that stay."""

    KEEP = "keep"
    """Left alone: already as before the step, or content a snapshot did not capture."""
