"""Wire types of ``snapd/restore``."""

from __future__ import annotations

import attrs

from snapd.enums import RestoreActionKind

# -- snapd/restore --------------------------------------------------------------------------------


@attrs.define(kw_only=True)
class HunkSelection:
    """Some hunks of one file, named by their ``digest`` in ``snapd/hunks``."""

    path: str
    """The file, relative to the worktree root."""

    digests: list[str]
    """``digest`` of each hunk to restore, as ``snapd/hunks`` lists them for ``{from, path,
    context}`` with ``to`` absent; not empty. A digest no hunk has now gets -31009."""

    context: int = 3
    """The ``context`` those hunks were listed with (0..1000)."""


@attrs.define(kw_only=True)
class RestoreAction:
    """One path of a restore plan."""

    path: str
    """Worktree-relative path (a skipped directory is one entry with ``kind: dir``)."""

    action: RestoreActionKind
    """``write``, ``create``, ``delete`` or ``keep``."""

    kind: str = "file"
    """``file``, ``symlink``, ``dir`` or ``special``: the snapshot's kind, or the worktree's for a
    deletion."""

    old_size: int | None = None
    """Size in the worktree now; absent when the worktree lacks the path."""

    new_size: int | None = None
    """Size after the restore; absent for a deletion."""

    old_mode: int | None = None
    """Mode in the worktree now (a git mode; the full ``lstat`` mode for uncaptured content)."""

    new_mode: int | None = None
    """Git mode after the restore."""

    reason: str | None = None
    """Why a path is kept (or, on a write, that the safety snapshot keeps the uncaptured live
    content it replaces)."""

    rule: str | None = None
    """For a path whose live content was not captured: the capture rule that skipped it."""

    forced: bool = False
    """Uncaptured content that ``force`` allows this restore to overwrite or delete; no
    snapshot holds it (the safety snapshot cannot bring it back): it is lost for good."""


@attrs.define(kw_only=True)
class RestoreParams:
    """Restore the worktree (all of it, some paths, or some hunks of a file) from a snapshot."""

    from_: str
    """The snapshot to restore, by any snapshot name (see "Naming snapshots")."""

    paths: list[str] | None = None
    """Only these paths or directories (literal names, prefix match on whole components:
    ``app/[id].tsx`` is that file, never a pattern); absent (with ``patterns`` absent): the
    whole tree."""

    patterns: list[str] | None = None
    """Only paths matching these gitignore-syntax patterns (e.g. ``*.py``, ``src/**/*.rs``); with
    ``paths``, a path either selects is restored."""

    hunks: HunkSelection | None = None
    """Only these hunks of one file (not with ``paths`` or ``patterns``)."""

    dry_run: bool = True
    """True: only plan. False: plan, take a safety snapshot, and apply."""

    plan_token: str | None = None
    """``planToken`` of an earlier dry run: apply only if the plan is still exactly that."""

    force: list[str] | None = None
    """Paths whose uncaptured content this restore may overwrite or delete (exact paths)."""

    cursor: str | None = None
    """``nextCursor`` of a previous page of the plan (pages only; never applies)."""

    limit: int | None = None
    """Most plan items in this page."""

    max_bytes: int | None = None
    """Byte budget of this page's plan items."""


@attrs.define(kw_only=True)
class RestoreResult:
    """A page of the plan, its token and totals, and what applying did."""

    plan: list[RestoreAction]
    """This page of the plan, in path order."""

    plan_token: str
    """Identifies this plan; pass it back with ``dryRun: false`` to apply exactly it."""

    applied: bool
    """True when the plan was applied."""

    written: int
    """Paths the whole plan writes or creates."""

    deleted: int
    """Paths the whole plan deletes."""

    kept: int
    """Paths the whole plan keeps."""

    safety_snapshot: str | None = None
    """The snapshot taken just before applying: restore it to undo this restore."""

    conflicted: int = 0
    """Planned writes and deletes not done because the path changed while the restore ran."""

    conflicts: list[RestoreAction] | None = None
    """The first 100 of those, as ``keep`` with the reason."""

    cancelled: bool = False
    """True when ``$/cancelRequest`` stopped the restore after its first write: it stopped
    before its next file, and this is what it did."""

    remaining: int = 0
    """Planned writes and deletes not done because the restore was cancelled."""

    next_cursor: str | None = None
    """Pass back as ``cursor`` for the next page of the plan; absent on the last page."""
