"""Wire types of ``snapd/revert``."""

from __future__ import annotations

import attrs

from snapd.enums import RestoreActionKind, RevertActionKind
from snapd.protocol.changes import Hunk

# -- snapd/revert ---------------------------------------------------------------------------------


@attrs.define(kw_only=True)
class RevertAction:
    """One path the step changed, and what reverting the step does with it."""

    path: str
    """Worktree-relative path."""

    action: RevertActionKind
    """``revert``, ``merge``, ``conflict`` or ``keep``."""

    change: RestoreActionKind | None = None
    """What a ``revert`` or ``merge`` does to the file: ``write``, ``create`` or ``delete``
    (``write`` too for a ``conflict`` written with ``conflictMarkers``); absent for a path
    left alone."""

    kind: str = "file"
    """``file``, ``symlink``, ``dir`` or ``special``."""

    old_size: int | None = None
    """Size in the worktree now; absent when the worktree lacks the path."""

    new_size: int | None = None
    """Size after the revert; absent for a deletion (and for ``conflict`` or ``keep``: the
    size before the step)."""

    old_mode: int | None = None
    """Git mode in the worktree now."""

    new_mode: int | None = None
    """Git mode after the revert (for ``conflict`` or ``keep``: the mode before the step)."""

    reason: str | None = None
    """Why a path is a ``conflict`` or kept, in words."""

    conflict: str | None = None
    """For a ``conflict``, why as a code: ``overlapping-edits`` (see ``hunks``),
    ``too-large-to-merge`` (over ``diffMaxBytes`` or ``diffMaxLines``), ``binary``,
    ``changed-since`` (a file the step created, deleted or made a symlink, or whose mode it
    changed, changed since), ``blocked`` (a symlink or file in the way, or a path snapd never
    writes) or ``changed`` (it changed while the revert ran)."""

    rule: str | None = None
    """For content a snapshot did not capture: the capture rule that skipped it."""

    forced: bool = False
    """Uncaptured live content that ``force`` allows this revert to overwrite or delete."""

    hunks: list[Hunk] | None = None
    """For ``overlapping-edits``: the step's changes that could not be taken out, as hunks
    from ``from`` to ``to`` without context lines (``snapd/hunks`` of the step shows them in
    context)."""

    hunks_truncated: bool = False
    """``hunks`` lists only the first of them, or none (at most 8 KiB of JSON); ``snapd/hunks``
    with the step's ``from``, ``to`` and ``path`` lists them all."""


@attrs.define(kw_only=True)
class RevertParams:
    """Take one step (the change from snapshot ``from`` to snapshot ``to``) out of the worktree."""

    from_: str
    """The snapshot before the step, by any snapshot name (see "Naming snapshots")."""

    to: str
    """The snapshot the step ended with."""

    paths: list[str] | None = None
    """Only the step's changes at these paths or below these directories (literal names);
    absent: all of them."""

    dry_run: bool = True
    """True: only plan. False: plan, take a safety snapshot, and apply."""

    plan_token: str | None = None
    """``planToken`` of an earlier dry run: apply only if the plan is still exactly that."""

    force: list[str] | None = None
    """Paths whose uncaptured live content this revert may overwrite or delete (exact paths)."""

    conflict_markers: bool = False
    """Write each ``overlapping-edits`` file with the rest of the step taken out and every
    overlap between diff3-style conflict markers, instead of leaving it alone."""

    cursor: str | None = None
    """``nextCursor`` of a previous page of the plan (pages only; never applies)."""

    limit: int | None = None
    """Most plan items in this page."""

    max_bytes: int | None = None
    """Byte budget of this page's plan items."""


@attrs.define(kw_only=True)
class RevertResult:
    """A page of the plan, its token and totals, and what applying did."""

    plan: list[RevertAction]
    """This page of the plan, in path order: one item per path the step changed."""

    plan_token: str
    """Identifies this plan; pass it back with ``dryRun: false`` to apply exactly it."""

    applied: bool
    """True when the plan was applied."""

    reverted: int
    """Paths the whole plan puts back exactly as they were before the step."""

    merged: int
    """Paths the whole plan merges (the step's change out, later edits kept)."""

    conflicted: int
    """Paths the whole plan leaves alone as conflicts."""

    kept: int
    """Paths the whole plan keeps (already as before the step, or not captured)."""

    safety_snapshot: str | None = None
    """The snapshot taken just before applying: restore it to undo this revert."""

    failed: int = 0
    """Planned reverts and merges not done because the path changed while the revert ran."""

    failures: list[RevertAction] | None = None
    """The first 100 of those, as ``conflict`` ``changed`` with the reason."""

    cancelled: bool = False
    """True when ``$/cancelRequest`` stopped the revert after its first write: it stopped
    before its next file, and this is what it did."""

    remaining: int = 0
    """Planned reverts and merges not done because the revert was cancelled."""

    next_cursor: str | None = None
    """Pass back as ``cursor`` for the next page of the plan; absent on the last page."""
