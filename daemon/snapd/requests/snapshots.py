"""``snapd/snapshot``, ``snapd/snapshots`` and ``snapd/status``."""

from __future__ import annotations

import threading
from collections.abc import Callable

import attrs

from snapd import PROTOCOL_VERSION, __version__, protocol
from snapd.config import Options
from snapd.paging import query_hash
from snapd.protocol.cursors import SnapshotsPosition
from snapd.requests import wire
from snapd.requests.common import Pager, json_size, make_cursor, map_errors, open_cursor
from snapd.store.history import iter_history
from snapd.worktree import ProgressFn, Worktree


def snapshot(
    wt: Worktree,
    params: protocol.SnapshotParams,
    *,
    client: str | None = None,
    dirty: frozenset[bytes] | None = None,
    auto: bool = False,
    cancel: threading.Event | None = None,
    progress: ProgressFn | None = None,
    on_unrecorded: Callable[[], None] | None = None,
) -> protocol.SnapshotResult:
    """Capture the worktree and record it (see :meth:`Worktree.snapshot` for the arguments).

    Raises:
        errors.SnapdError: the capture failed; no ref was moved.
        Cancelled: ``cancel`` was set; nothing was referenced.
    """
    with map_errors():
        rec = wt.snapshot(
            params.label,
            client=client,
            session=params.session,
            dirty=dirty,
            auto=auto,
            cancel=cancel,
            progress=progress,
            on_unrecorded=on_unrecorded,
        )
    return wire.snapshot_result(rec)


def snapshots(
    wt: Worktree, params: protocol.SnapshotsParams, *, options: Options | None = None
) -> protocol.SnapshotsResult:
    """One page of the snapshot history, newest first (``options``: the connection's)."""
    pager = Pager(options or wt.options, params.limit, params.max_bytes)
    # The store's identity is part of the query: sequence numbers of another store's
    # history would page silently through this one
    # (and the session filter: a cursor of one session's listing must not page another's).
    query = query_hash(
        "snapshots", wt.store_path, *([params.session] if params.session is not None else [])
    )
    before: int | None = None
    with map_errors():
        wt.check_store()
        if params.cursor is not None:
            pos = open_cursor(params.cursor, protocol.SNAPD_SNAPSHOTS, query, SnapshotsPosition)
            before = pos.before
        # Sequence numbers never repeat, so the cursor stays valid while snapshots are
        # added (they sort before it) or dropped by retention (they simply vanish).
        pins = wt.store.refs.pins()
        history = iter_history(wt.store, before)
        if params.session is not None:
            history = (s for s in history if s.session == params.session)
        items = ((s.seq, wire.summary(s, pinned=s.id in pins)) for s in history)
        page, rest = pager.take(items, size=lambda item: json_size(item[1]))
    cursor = None
    if rest is not None:
        cursor = make_cursor(protocol.SNAPD_SNAPSHOTS, query, SnapshotsPosition(before=page[-1][0]))
    damaged = dict(wt.store.refs.damaged_refs)
    warnings = [f"snapshot ref {name} was skipped: {why}" for name, why in sorted(damaged.items())]
    return protocol.SnapshotsResult(
        snapshots=[s for _seq, s in page], next_cursor=cursor, warnings=warnings or None
    )


@attrs.frozen(kw_only=True)
class Watching:
    """What the session knows about the watcher, for ``snapd/status``."""

    state: str = "off"
    reason: str | None = None
    events: int = 0
    dirty_paths: int = 0
    auto_snapshot: bool = False


def status(wt: Worktree, watching: Callable[[str | None], Watching]) -> protocol.StatusResult:
    """The daemon's state; ``watching`` is asked about the watcher given the worktree's error."""
    with map_errors():
        problem = wt.store.problem()
        head = None if problem else wt.head()
        worktree_error = wt.root_problem()
        watch = watching(worktree_error)
        return protocol.StatusResult(
            root=wt.root,
            store=wt.store_path,
            version=__version__,
            protocol_version=PROTOCOL_VERSION,
            content_limit=wt.options.content_limit,
            store_bytes=wt.store.disk_usage(),
            watcher=watch.state,
            watcher_reason=watch.reason,
            watch_events=watch.events,
            dirty_paths=watch.dirty_paths,
            auto_snapshot=watch.auto_snapshot,
            worktree_error=worktree_error,
            store_error=wt.store.problem(),
            cached_files=len(wt.cache),
            head=head.id if head else None,
        )
