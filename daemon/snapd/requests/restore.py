"""``snapd/restore``: plan, safety snapshot, apply, and the plan's pages."""

from __future__ import annotations

import itertools
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import Any, Final

import attrs

from snapd import errors, protocol
from snapd.capture.walk import Cancelled
from snapd.config import Options
from snapd.diff.hunks import DIGEST_HEX
from snapd.paging import query_hash
from snapd.paths import from_wire, to_wire
from snapd.protocol.cursors import RestorePosition
from snapd.requests import wire
from snapd.requests.common import CONVERTER, Pager, make_cursor, map_errors, open_cursor
from snapd.restore.actions import Action, PlanSummary, read_plan, write_plan
from snapd.restore.apply import Applied, RestoreEvent
from snapd.restore.apply import apply as apply_restore
from snapd.restore.graft import graft as graft_live
from snapd.restore.plan import HunkScope, Planner, Scope
from snapd.store.errors import CorruptObject, MissingObject, StoreError
from snapd.store.history import State, manifest_lines
from snapd.worktree import Worktree

logger = logging.getLogger(__name__)

MAX_DONE_PATHS: Final = 100
"""Paths a restore stopped by store damage lists as already written (the rest are counted)."""


def restore(
    wt: Worktree,
    params: protocol.RestoreParams,
    *,
    cancel: threading.Event | None = None,
    client: str | None = None,
    options: Options | None = None,
) -> protocol.RestoreResult:
    """Plan a restore from a snapshot and, unless ``dryRun``, apply it.

    The plan, the safety snapshot and the writes all happen under the writer lock, so no
    snapshot interleaves with a restore. A plan is streamed to a spool file, never held in
    memory; when it does not fit one page it is stored as a blob the cursor points at.

    Raises:
        errors.PlanStale: ``planToken`` differs from the plan computed now.
        errors.InvalidParams: a bad scope (``paths``, ``hunks``, ``force``) or page param.
        errors.PathOutsideRoot: a path is absolute, has ``..``, or lies under a symlink.
        errors.UnknownSnapshot: ``from`` names no snapshot.
        snapshots.Cancelled: ``cancel`` was set before anything was written.
    """
    pager = Pager(options or wt.options, params.limit, params.max_bytes)
    scope = _scope(params)
    hunks = CONVERTER.unstructure(params.hunks) if params.hunks is not None else None
    query = query_hash(
        "restore",
        params.from_,
        sorted(params.paths or []),
        hunks,
        sorted(params.force or []),
        *([sorted(params.patterns)] if params.patterns is not None else []),
    )
    if params.cursor is not None:
        if not params.dry_run:
            raise errors.InvalidParams(
                "dryRun: a cursor pages a plan already made; it never applies one",
                field="dryRun",
            )
        with map_errors():
            pos = open_cursor(params.cursor, protocol.SNAPD_RESTORE, query, RestorePosition)
            return _page(wt, pos, query, pager)
    spool = tempfile.SpooledTemporaryFile(max_size=1 << 20)
    with spool, wt.changing(), map_errors():
        target = wt.resolve(params.from_, "from")
        live = capture_live(wt, cancel)
        planner = Planner(wt.store, wt.root_b, live, target.state, scope, wt.options)
        header = {"target": target.id, "query": query}
        summary = write_plan(header, planner.actions(), spool)
        done, safety = run_plan(
            wt,
            spool,
            summary,
            params,
            live=live,
            label=f"before restore from {target.id[:12]}",
            tree=target.state.tree,
            cancel=cancel,
            client=client,
        )
        spool.seek(0)
        items = (wire.restore_action(a) for a in read_plan(spool))
        page, rest = pager.take(items)
        cursor = None
        if rest is not None:
            size = spool.seek(0, os.SEEK_END)
            spool.seek(0)
            position = RestorePosition(
                plan=wt.store.write_blob_from(spool, size),
                index=len(page),
                token=summary.token,
                totals=[summary.written, summary.deleted, summary.kept],
                applied=done is not None,
                safety=safety,
                conflicted=done.conflicted if done is not None else 0,
                remaining=done.remaining if done is not None and done.cancelled else None,
            )
            cursor = make_cursor(protocol.SNAPD_RESTORE, query, position)
    return protocol.RestoreResult(
        plan=page,
        plan_token=summary.token,
        applied=done is not None,
        written=summary.written,
        deleted=summary.deleted,
        kept=summary.kept,
        safety_snapshot=safety,
        conflicted=done.conflicted if done is not None else 0,
        conflicts=[wire.restore_action(a) for a in done.conflicts]
        if done and done.conflicts
        else None,
        cancelled=done is not None and done.cancelled,
        remaining=done.remaining if done is not None else 0,
        next_cursor=cursor,
    )


def capture_live(wt: Worktree, cancel: threading.Event | None) -> State:
    """The worktree as a plan sees it (the caller holds the writer lock).

    Raises:
        Failure: the root was swapped before or during the capture.
    """
    wt.check_root()
    head = wt.head()
    live = wt.capturer(head.state if head else None, cancel).capture()
    wt.check_root()  # swapped during the walk: what was read may be another tree
    return live


def run_plan(
    wt: Worktree,
    spool: Any,
    summary: PlanSummary,
    params: protocol.RestoreParams | protocol.RevertParams,
    *,
    live: State,
    label: str,
    tree: str,
    cancel: threading.Event | None,
    client: str | None,
) -> tuple[Applied | None, str | None]:
    """Check a spooled plan's token and, unless a dry run, take the safety snapshot and apply it.

    Args:
        wt: The worktree (the caller holds the writer lock).
        spool: The plan's lines.
        summary: The plan's totals and token.
        params: The request (``dryRun``, ``planToken``).
        live: The worktree as the plan saw it.
        label: The safety snapshot's label.
        tree: The tree whose directories are not pruned when a delete empties them.
        cancel: Set to stop before the next file.
        client: The client asking, recorded with the safety snapshot.

    Returns:
        What applying did (None for a dry run) and the safety snapshot (None if none was taken).

    Raises:
        errors.PlanStale: ``planToken`` is not this plan's, or the worktree changed meanwhile.
        snapshots.Cancelled: ``cancel`` was set before anything was written.
    """
    if params.plan_token is not None and params.plan_token != summary.token:
        raise errors.PlanStale(
            "planToken: the worktree or the plan changed since the dry run: make a new "
            "plan (nothing was written)",
            field="planToken",
        )
    if params.dry_run:
        return None, None
    if cancel is not None and cancel.is_set():
        raise Cancelled
    if not (summary.written or summary.deleted):
        return Applied(), None
    safety, kept = safety_snapshot(wt, label, live, spool, client)
    return apply_plan(wt, spool, tree, safety, cancel, kept), safety


def safety_snapshot(
    wt: Worktree, label: str, live: State, spool: Any, client: str | None
) -> tuple[str, dict[bytes, tuple[int, str]]]:
    """Record the worktree as the plan saw it; the caller holds the writer lock.

    Live content the plan replaces although the capture skipped it (``graft`` actions) is
    stored and grafted into the snapshot first, so restoring it undoes those writes too.

    Args:
        wt: The worktree.
        label: The safety snapshot's label.
        live: The worktree as the plan saw it.
        spool: The plan's lines.
        client: The client asking, recorded with the snapshot.

    Returns:
        The safety snapshot's id, and what was grafted (path -> git mode, blob id).

    Raises:
        errors.PlanStale: the worktree changed since the plan's capture.
    """
    kept: dict[bytes, tuple[int, str]] = {}
    stale = False

    def amend(state: State) -> State:
        nonlocal stale, kept
        if state != live:
            stale = True
            return state
        spool.seek(0)
        grafted = graft_live(wt.store, wt.root_fd, state, read_plan(spool))
        kept = grafted.kept
        return grafted.state

    safety = wt.snapshot(label, client=client, amend=amend, safety=True).info.id
    if stale:
        # Something changed between the plan's capture and this one: the plan may replace
        # content the safety snapshot does not hold.
        raise errors.PlanStale(
            f"the worktree changed while the restore was planned (nothing was written; "
            f"snapshot {safety} holds it as it is now): try again",
            field="planToken",
        )
    return safety, kept


def apply_plan(
    wt: Worktree,
    spool: Any,
    target_tree: str,
    safety: str,
    cancel: threading.Event | None,
    kept: dict[bytes, tuple[int, str]],
) -> Applied:
    """Apply a spooled plan (a restore's or a revert's); the caller holds the writer lock.

    Raises:
        snapshots.Cancelled: ``cancel`` was set before anything was written.
    """

    def plan() -> Iterator[Action]:
        spool.seek(0)
        return read_plan(spool)

    progress = _Progress(wt.restore_event)
    wt.restore_event(RestoreEvent("begin", safety_snapshot=safety))
    try:
        wt.check_root()
        done = apply_restore(
            wt.store,
            wt.root_fd,
            plan,
            target_tree=target_tree,
            on_event=progress,
            cancel=cancel,
            grafted=kept,
            delay=wt.options.test_restore_delay,
        )
    except (CorruptObject, MissingObject) as exc:
        raise progress.damaged(exc, safety) from exc
    except (OSError, StoreError) as exc:
        raise errors.WorktreeFailure(
            f"the restore stopped: {exc}; restore snapshot {safety} to undo what it did",
            safetySnapshot=safety,
        ) from exc
    finally:
        progress.abandon()  # on any error: a watcher must not wait for that path
        wt.restore_event(RestoreEvent("end", safety_snapshot=safety))
    logger.info(
        "restore: %d written, %d deleted, %d conflicts%s; safety snapshot %s",
        done.written,
        done.deleted,
        done.conflicted,
        f", cancelled with {done.remaining} left" if done.cancelled else "",
        safety[:12],
    )
    if done.cancelled and not done.touched:
        raise Cancelled  # nothing written: a plain -32800, as before the first write
    return done


def _scope(params: protocol.RestoreParams) -> Scope:
    if (params.paths is not None or params.patterns is not None) and params.hunks is not None:
        raise errors.InvalidParams(
            "hunks: give paths and patterns, or hunks, not both", field="hunks"
        )
    for field, given in (("paths", params.paths), ("patterns", params.patterns)):
        if given is not None and not given:
            raise errors.InvalidParams(
                f"{field}: must not be empty (omit it to restore the whole tree)", field=field
            )
    # paths are literal names (app/[id].tsx is a Next.js route, not a pattern); patterns
    # are gitignore syntax. Issue 13, item 10.
    literals = [from_wire(entry, field="paths") for entry in params.paths or []]
    globs = [check_pattern(entry) for entry in params.patterns or []]
    force = frozenset(from_wire(p, field="force") for p in params.force or [])
    hunk = None
    if params.hunks is not None:
        h = params.hunks
        rel = from_wire(h.path, field="hunks.path")
        if not rel:
            raise errors.InvalidParams("hunks.path: must name a file", field="hunks.path")
        if not h.digests:
            raise errors.InvalidParams("hunks.digests: must not be empty", field="hunks.digests")
        for digest in h.digests:
            if not _is_digest(digest):
                raise errors.InvalidParams(
                    "hunks.digests: an entry is not a hunk digest (16 lowercase hex "
                    "digits, as snapd/hunks gives them)",
                    field="hunks.digests",
                )
        if not 0 <= h.context <= 1000:
            raise errors.InvalidParams(
                "hunks.context: must be between 0 and 1000", field="hunks.context"
            )
        hunk = HunkScope(rel, tuple(dict.fromkeys(h.digests)), h.context)
    return Scope(tuple(literals), tuple(globs), force, hunk)


def _page(wt: Worktree, pos: RestorePosition, query: str, pager: Pager) -> protocol.RestoreResult:
    """A later page of a plan stored by the first one."""
    if not wt.store.contains(pos.plan):
        raise errors.BadCursor("cursor is stale: its plan is gone", field="cursor")
    lines = itertools.islice(manifest_lines(wt.store, pos.plan), pos.index, None)
    items = (wire.restore_action(a) for a in read_plan(lines))
    page, rest = pager.take(items)
    cursor = None
    if rest is not None:
        following = attrs.evolve(pos, index=pos.index + len(page))
        cursor = make_cursor(protocol.SNAPD_RESTORE, query, following)
    return protocol.RestoreResult(
        plan=page,
        plan_token=pos.token,
        applied=pos.applied,
        written=pos.totals[0],
        deleted=pos.totals[1],
        kept=pos.totals[2],
        safety_snapshot=pos.safety,
        conflicted=pos.conflicted,
        cancelled=pos.remaining is not None,
        remaining=pos.remaining or 0,
        next_cursor=cursor,
    )


class _Progress:
    """Forwards a restore's events and remembers what it did, for an error that stops it."""

    def __init__(self, forward: Callable[[RestoreEvent], None]) -> None:
        self._forward = forward
        self.pending: bytes | None = None
        self.written: list[str] = []
        self.deleted: list[str] = []
        self.counts = {"write": 0, "delete": 0}

    def __call__(self, event: RestoreEvent) -> None:
        if event.phase == "pending":
            self.pending = event.path
        elif event.phase in ("write", "delete") and event.path is not None:
            self.pending = None
            self.counts[event.phase] += 1
            paths = self.written if event.phase == "write" else self.deleted
            if len(paths) < MAX_DONE_PATHS:
                paths.append(to_wire(event.path))
        elif event.phase == "failed":
            self.pending = None
        self._forward(event)

    def abandon(self) -> None:
        """Say ``failed`` for the announced path, if any: the restore stopped and left it.

        A watcher must then expect no write there (its edits are the user's again).
        """
        if self.pending is not None:
            self(RestoreEvent("failed", self.pending))

    def damaged(self, exc: CorruptObject | MissingObject, safety: str) -> errors.StoreFailure:
        """The wire error of a restore stopped by a damaged object (the path is left as it was)."""
        path = to_wire(self.pending) if self.pending is not None else None
        self.abandon()
        where = f" at {path}" if path is not None else ""
        return errors.StoreFailure(
            f"the restore stopped{where}: {exc} (that file was left as it was); "
            f"{self.counts['write']} files were written and {self.counts['delete']} deleted "
            f"before it: restore snapshot {safety} to undo them",
            object=exc.oid if isinstance(exc, CorruptObject) else None,
            path=path,
            safetySnapshot=safety,
            written=self.written,
            deleted=self.deleted,
            writtenCount=self.counts["write"],
            deletedCount=self.counts["delete"],
        )


def check_pattern(entry: str) -> str:
    """Check one ``patterns`` entry (gitignore syntax; it only ever matches paths in the tree)."""
    if not entry.lstrip("!").strip("/ ") or "\0" in entry:
        raise errors.InvalidParams(
            "patterns: an entry is empty or has a NUL (give a gitignore-syntax pattern)",
            field="patterns",
        )
    return entry


def _is_digest(text: str) -> bool:
    return len(text) == DIGEST_HEX and all(c in "0123456789abcdef" for c in text)
