"""Wire types of ``snapd/snapshot``, ``snapd/snapshots`` and ``snapd/status``."""

from __future__ import annotations

import attrs

from snapd.enums import Consistency
from snapd.protocol.common import ProgressToken


@attrs.define(kw_only=True)
class SnapshotSummary:
    """One snapshot as ``snapd/snapshots`` lists it."""

    id: str
    """Snapshot id: the 40-hex commit id in the store."""

    time: int
    """Creation time, seconds since the epoch."""

    files: int
    """Captured files (regular files and symlinks)."""

    bytes: int
    """Total bytes of captured files."""

    skipped: int
    """Paths recorded as metadata only."""

    skipped_bytes: int
    """Total bytes of skipped files (directories count 0)."""

    changed: int
    """Paths changed against the parent snapshot (all paths for the first snapshot)."""

    parent: str | None = None
    """The previous snapshot's id; absent for the first snapshot."""

    label: str | None = None
    """The label given to ``snapd/snapshot``."""

    rules: dict[str, int] = attrs.field(factory=dict)
    """Skipped paths counted by the rule that skipped them."""

    generated: dict[str, int] = attrs.field(factory=dict)
    """Captured files counted by the rule that recognised them as generated."""

    consistency: Consistency = Consistency.RECONCILED
    """``exact`` (watcher-synced incremental capture) or ``reconciled`` (full walk)."""

    auto: bool = False
    """Taken by the daemon after a quiet period (``autoSnapshot``), not on request."""

    client: str | None = None
    """The ``clientInfo.name`` of the client that took it; absent when it sent none (and for
    automatic snapshots)."""

    safety: bool = False
    """A restore's (or a revert's) safety snapshot, taken just before it wrote anything
    (restoring it undoes the restore); retention treats it as unlabelled once it is not among
    the newest ``retainLatest``."""

    pinned: bool = False
    """Pinned (``snapd/pin``): retention never drops it."""

    session: str | None = None
    """The ``session`` given to ``snapd/snapshot`` (e.g. an agent's conversation id); absent
    when none was given."""


# -- snapd/snapshot -------------------------------------------------------------------------------


@attrs.define(kw_only=True)
class SnapshotParams:
    """Take a snapshot of the worktree now."""

    label: str | None = None
    """Free-text label stored with the snapshot (e.g. an agent's step id)."""

    work_done_token: ProgressToken | None = None
    """LSP work-done token: when given, ``$/progress`` begin/report/end are sent for it."""

    reconcile: bool = False
    """Walk the whole tree even when the watcher could narrow the capture (a reconcile scan
    on request; the result says ``consistency: reconciled``)."""

    session: str | None = None
    """A session to record the snapshot under (an agent's conversation, an editor window):
    ``snapd/snapshots`` filters by it, so a session's steps are its consecutive snapshots."""


@attrs.define(kw_only=True)
class SnapshotResult:
    """The snapshot taken (or the unchanged latest one)."""

    id: str
    """Snapshot id."""

    created: bool
    """False when nothing changed since the latest snapshot and no label was given: ``id``
    is then the latest snapshot and no new one was written."""

    time: int
    """Creation time, seconds since the epoch."""

    files: int
    """Captured files."""

    bytes: int
    """Total bytes of captured files."""

    skipped: int
    """Paths recorded as metadata only."""

    skipped_bytes: int
    """Total bytes of skipped files."""

    changed: int
    """Paths changed against the parent snapshot."""

    hashed: int
    """Files read and hashed by this snapshot (the rest were unchanged by their stat data)."""

    rules: dict[str, int] = attrs.field(factory=dict)
    """Skipped paths counted by the rule that skipped them."""

    generated: dict[str, int] = attrs.field(factory=dict)
    """Captured files counted by the rule that recognised them as generated."""

    hashed_bytes: int = 0
    """Bytes read and hashed by this snapshot."""

    consistency: Consistency = Consistency.RECONCILED
    """How this capture knew what changed: ``exact`` or ``reconciled``."""

    auto: bool = False
    """True for a snapshot the daemon took after a quiet period."""

    parent: str | None = None
    """The previous snapshot's id."""

    label: str | None = None
    """The label, if one was given."""

    client: str | None = None
    """The ``clientInfo.name`` of the client that took it; absent when it sent none (and for
    automatic snapshots)."""

    session: str | None = None
    """The ``session`` given to ``snapd/snapshot`` (e.g. an agent's conversation id); absent
    when none was given."""


# -- snapd/snapshots ------------------------------------------------------------------------------


@attrs.define(kw_only=True)
class SnapshotsParams:
    """List snapshots, newest first, one page at a time."""

    cursor: str | None = None
    """``nextCursor`` of the previous page; absent for the first page."""

    limit: int | None = None
    """Most items in this page (default ``pageLimit``, at most ``maxPageLimit``)."""

    max_bytes: int | None = None
    """Byte budget of this page's items (default ``pageBytes``, 16384..``maxPageBytes``)."""

    session: str | None = None
    """Only snapshots recorded under this session; absent: all of them."""


@attrs.define(kw_only=True)
class SnapshotsResult:
    """One page of snapshots."""

    snapshots: list[SnapshotSummary]
    """Newest first."""

    next_cursor: str | None = None
    """Pass back as ``cursor`` for the next page; absent on the last page."""

    warnings: list[str] | None = None
    """Damaged snapshot refs left out of the listing (a ref that holds no object id, or whose
    commit is missing or damaged), one sentence each; absent when there are none."""


# -- snapd/status ---------------------------------------------------------------------------------


@attrs.define(kw_only=True)
class StatusParams:
    """No parameters."""


@attrs.define(kw_only=True)
class StatusResult:
    """The daemon's state."""

    root: str
    """Absolute path of the worktree."""

    store: str
    """Absolute path of the sidecar store (a bare git repository)."""

    version: str
    """snapd's version."""

    protocol_version: str
    """Wire protocol version (also in ``initialize``'s ``serverInfo``)."""

    content_limit: int
    """Files larger than this many bytes are metadata only."""

    store_bytes: int
    """Disk bytes used by the store."""

    watcher: str
    """Watcher state: ``watching`` (events narrow snapshots), ``starting`` (also while it
    restarts after an error), ``degraded`` (events not trusted: every snapshot walks the tree;
    see ``watcherReason``) or ``off``."""

    cached_files: int
    """Files in the stat cache (known content that need not be re-read)."""

    head: str | None = None
    """The latest snapshot's id; absent before the first snapshot."""

    watcher_reason: str | None = None
    """Why the watcher is degraded or off, or (while starting) why it sets its watches up
    again (e.g. the inotify queue overflowed)."""

    dirty_paths: int = 0
    """Paths the watcher saw change since the latest snapshot; -1 when the next snapshot
    will walk the whole tree."""

    watch_events: int = 0
    """Events the watcher has delivered since start."""

    auto_snapshot: bool = False
    """Whether the daemon snapshots by itself after a quiet period."""

    worktree_error: str | None = None
    """Why the worktree is no longer served: its path now leads to another directory (moved,
    replaced or swapped for a symlink) or is gone. Requests that read or write the worktree
    then fail with ``WorktreeFailure``; history stays readable."""

    store_error: str | None = None
    """Why no snapshot can be recorded: the store directory was deleted or replaced while
    snapd ran. Requests that use the store then fail with ``StoreFailure``; restart snapd."""
