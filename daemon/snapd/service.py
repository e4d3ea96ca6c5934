"""Request logic: everything a ``snapd/*`` handler does, as blocking calls on wire types.

The server runs these in worker threads. One :class:`Service` owns one worktree and its store;
a single writer lock serialises everything that writes objects or the stat cache (snapshots and
live captures), while reads of committed snapshots run concurrently. Library and OS errors are
translated into wire errors here, once, by :func:`map_errors`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Final

import attrs

from snapd import PROTOCOL_VERSION, __version__, errors, protocol
from snapd.capture.budget import explain_budget
from snapd.capture.decision import Candidate, Decision, Kind
from snapd.capture.policy import Policy
from snapd.capture.statcache import StatCache
from snapd.capture.walk import Cancelled, Captured, Capturer
from snapd.config import Options
from snapd.diff.changes import Change, Side, iter_changes
from snapd.diff.hunks import BINARY_SNIFF, DIGEST_HEX, FileDiff, diff_blobs
from snapd.diff.streamed import COARSE, LONG_LINE, BadPosition, Position, stream_hunks
from snapd.paging import budgets, decode_cursor, encode_cursor, query_hash, take_page
from snapd.paths import from_wire, to_wire
from snapd.restore.actions import Action, read_plan, write_plan
from snapd.restore.apply import Applied, RestoreEvent
from snapd.restore.apply import apply as apply_restore
from snapd.restore.graft import graft as graft_live
from snapd.restore.plan import HunkScope, Planner, Scope
from snapd.store import retention
from snapd.store.errors import CorruptObject, LockedError, MissingObject, StoreError
from snapd.store.history import (
    EMPTY_BLOB,
    Counts,
    ManifestEntry,
    SnapshotInfo,
    State,
    commit_snapshot,
    iter_history,
    iter_manifest,
    read_snapshot,
)
from snapd.store.objects import MODE_TREE, Journal
from snapd.store.repo import Store
from snapd.store.retention import RetentionPolicy

logger = logging.getLogger(__name__)

LATEST: Final = "latest"
CACHE_NAME: Final = "snapd-statcache.jsonl"
CACHE_SAVE_INTERVAL: Final = 30.0
"""Seconds between stat cache saves after snapshots (it is also saved at shutdown)."""
MIN_PREFIX: Final = 4


@contextlib.contextmanager
def map_errors() -> Iterator[None]:
    """Translate store and OS errors into wire errors (the one place this happens)."""
    try:
        yield
    except errors.SnapdError:
        raise
    except LockedError as exc:
        raise errors.StoreLocked(str(exc), holder=exc.holder, store=exc.path) from exc
    except CorruptObject as exc:
        raise errors.StoreFailure(
            f"{exc}; nothing was written (snapd/snapshots lists the snapshots still readable)",
            object=exc.oid,
        ) from exc
    except MissingObject as exc:
        raise errors.UnknownSnapshot(str(exc)) from exc
    except StoreError as exc:
        raise errors.StoreFailure(str(exc)) from exc
    except OSError as exc:
        raise errors.StoreFailure(
            f"{exc.strerror or exc}: {exc.filename or ''}".strip(": "), errno=exc.errno
        ) from exc


ProgressFn = Callable[[int, str], None]

MAX_DONE_PATHS: Final = 100
"""Paths a restore stopped by store damage lists as already written (the rest are counted)."""


class Service:
    """snapd's operations on one worktree and store."""

    def __init__(self, root: str, store_path: str, options: Options) -> None:
        self.root = os.path.realpath(root)
        try:
            # The pinned root: every later walk checks the path still leads here, and a
            # restore writes through this descriptor, never through the path.
            self.root_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise errors.WorktreeFailure(
                f"worktree root is not a directory snapd can open: {root} ({exc.strerror})",
                root=root,
            ) from exc
        pinned = os.fstat(self.root_fd)
        self._root_id = (pinned.st_dev, pinned.st_ino)
        self.root_error: str | None = None
        """Set (for good) once the root's path no longer leads to the pinned directory."""
        self.root_b = os.fsencode(self.root)
        self.options = options
        self.store_path = os.path.abspath(store_path)
        if _inside(self.store_path, self.root):
            raise errors.InvalidParams(
                "the store must be outside the worktree (snapd never writes inside it)",
                field="store",
            )
        with map_errors():
            try:
                self.store = Store.open(self.store_path)
            except BaseException:
                os.close(self.root_fd)
                raise
        self.cache_path = os.path.join(self.store_path, CACHE_NAME)
        self.cache = StatCache.load(self.cache_path, self.store)
        self._cache_saved = time.monotonic()
        # Re-entrant: a restore holds it across its plan, its safety snapshot (which takes it
        # again through snapshot()) and its writes, so no snapshot interleaves with a restore.
        self.writer = threading.RLock()
        self.on_restore: list[Callable[[RestoreEvent], None]] = []
        """Hooks called (in a worker thread, under the writer lock) with each restore event:
        ``begin``, one ``write``/``delete`` per path with its ``lstat`` afterwards, ``end``. A
        watcher uses them to tell the restore's own writes from a user's edits."""
        self._conv = protocol.converter()
        self._diff_cache: dict[tuple[Any, ...], FileDiff] = {}

    def close(self) -> None:
        """Save the stat cache and release the store and the pinned root (idempotent)."""
        with self.writer:
            if self.root_fd == -1:
                return
            self._save_cache(force=True)
            self.store.close()
            os.close(self.root_fd)
            self.root_fd = -1

    def check_root(self) -> None:
        """Fail unless the root's path still leads to the directory opened at start.

        Raises:
            errors.WorktreeFailure: the worktree was moved, replaced or swapped for a symlink
                (then it stays failed: events and edits since are unknown).
        """
        problem = self.root_problem()
        if problem is not None:
            raise errors.WorktreeFailure(problem, root=self.root)

    def check_store(self) -> None:
        """Fail unless the store is still the directory opened at start.

        Raises:
            errors.StoreFailure: the store directory was deleted or replaced (for good).
        """
        problem = self.store.problem()
        if problem is not None:
            raise errors.StoreFailure(problem, store=self.store_path)

    def root_problem(self) -> str | None:
        """Why the worktree is no longer served, or None while its path leads to it."""
        if self.root_error is not None:
            return self.root_error
        try:
            st = os.stat(self.root)  # follows a swapped-in symlink: it must lead here too
        except OSError as exc:
            now = f"is no longer there ({exc.strerror})"
        else:
            if (st.st_dev, st.st_ino) == self._root_id:
                return None
            now = "no longer leads to the directory snapd opened (moved, replaced or a symlink)"
        self.root_error = (
            f"the worktree path {self.root} {now}: snapd stopped serving it and writes "
            "nothing there; restart snapd on the directory you mean"
        )
        logger.error("%s", self.root_error)
        return self.root_error

    def _save_cache(self, *, force: bool = False) -> None:
        """Persist the stat cache now and then (a lost cache costs re-hashing, not correctness)."""
        if not self.cache.changed:
            return
        if not force and time.monotonic() - self._cache_saved < CACHE_SAVE_INTERVAL:
            return
        try:
            self.cache.save(self.cache_path)
        except OSError as exc:
            logger.warning("cannot save the stat cache: %s", exc)
        self._cache_saved = time.monotonic()

    # -- snapshot ------------------------------------------------------------------------------

    def _capture(
        self,
        parent: State | None,
        cancel: threading.Event | None = None,
        progress: ProgressFn | None = None,
        dirty: frozenset[bytes] | None = None,
    ) -> Capturer:
        policy = Policy(self.root_b, self.options)
        report = None
        if progress is not None:
            report = lambda n, path: progress(n, to_wire(path))  # noqa: E731
        return Capturer(
            self.store,
            self.root_b,
            policy,
            self.cache,
            parent=parent,
            dirty=dirty,
            cancel=cancel,
            progress=report,
        )

    def _head(self) -> SnapshotInfo | None:
        """The newest readable snapshot (a damaged newer one is skipped and reported)."""
        return next(iter_history(self.store), None)

    @contextlib.contextmanager
    def _reclaim_on_failure(self) -> Iterator[None]:
        """Delete the objects a snapshot wrote if it fails before its ref exists.

        They are garbage at once (a disk-full snapshot's half would otherwise sit out gc's
        grace period on a full disk); the caller holds the writer lock, so no other capture
        can have found them, and the stat cache forgets them.
        """
        journal: Journal
        with self.store.journal() as journal:
            try:
                yield
            except BaseException:
                self._reclaim(journal)
                raise

    def _reclaim(self, journal: Journal) -> None:
        referenced = {oid for _seq, oid in self.store.refs.snapshot_refs()}
        if journal.objects & referenced:
            return  # the commit point was passed: these objects are a snapshot's
        try:
            removed = self.store.reclaim(journal)
        except OSError as exc:
            logger.warning("cannot delete a failed snapshot's objects: %s", exc)
            return
        self.cache.forget(journal.objects)
        if removed:
            logger.info("deleted %d objects of a snapshot that failed", removed)

    def snapshot(
        self,
        params: protocol.SnapshotParams,
        *,
        dirty: frozenset[bytes] | None = None,
        auto: bool = False,
        cancel: threading.Event | None = None,
        progress: ProgressFn | None = None,
        on_unrecorded: Callable[[], None] | None = None,
        amend: Callable[[State], State] | None = None,
    ) -> protocol.SnapshotResult:
        """Capture the worktree and record it as a snapshot (unless nothing changed).

        An automatic snapshot whose captured tree equals the latest snapshot's is not recorded
        even when skipped files' metadata changed: churn of uncaptured files (a log, a build
        directory) must not flood the history and make retention drop real snapshots.

        Args:
            params: The request.
            dirty: Paths a synced watcher saw change since the latest snapshot: only
                directories on their way are listed (consistency ``exact``). None walks the
                whole tree (consistency ``reconciled``).
            auto: Taken by the daemon after a quiet period, not by a request.
            cancel: Set to stop between files.
            progress: Called with (paths seen, current path) now and then.
            on_unrecorded: Called when an automatic snapshot saw only uncaptured changes and
                recorded nothing (the caller keeps its dirty set for the next snapshot).
            amend: Called with the captured state; the snapshot records what it returns (a
                restore's safety snapshot grafts in live content the capture skipped).

        Raises:
            errors.SnapdError: the capture failed; no ref was moved.
            snapshots.Cancelled: ``cancel`` was set; nothing was referenced.
        """
        with self.writer, map_errors(), self._reclaim_on_failure():
            self.check_store()
            self.check_root()
            parent = self._head()
            parent_id = parent.id if parent else None
            if parent is None:
                dirty = None  # nothing to reuse: the first snapshot walks everything
            consistency = "reconciled" if dirty is None else "exact"
            capturer = self._capture(parent.state if parent else None, cancel, progress, dirty)
            state = capturer.capture()
            self.check_root()  # swapped during the walk: what was read may be another tree
            counts = capturer.counts
            amended = amend(state) if amend is not None else state
            retally = amended != state  # the capture's own totals miss what was grafted
            state = amended
            if (
                parent is not None
                and params.label is None
                and (parent.state == state or (auto and parent.state.tree == state.tree))
            ):
                if parent.state != state and on_unrecorded is not None:
                    on_unrecorded()
                self._save_cache()
                return self._snapshot_result(
                    parent, created=False, counts=counts, consistency=consistency
                )
            if parent is None:
                changed = counts.files + counts.skipped
            else:
                changed, adjusted = self._tally(parent, state)
                if capturer.incremental or retally:
                    counts = attrs.evolve(
                        adjusted, hashed=counts.hashed, hashed_bytes=counts.hashed_bytes
                    )
            if cancel is not None and cancel.is_set():
                raise Cancelled
            oid = commit_snapshot(
                self.store,
                state,
                counts,
                parent=parent_id,
                label=params.label,
                changed=changed,
                consistency=consistency,
                auto=auto,
            )
            self.store.refs.add_snapshot(oid)  # the commit point: objects are all written
            logger.info(
                "snapshot %s (%s): %d files, %d skipped, %d changed, %d hashed, %d trees reused",
                oid[:12],
                consistency,
                counts.files,
                counts.skipped,
                changed,
                counts.hashed,
                capturer.reused_trees,
            )
            self._save_cache()
            return self._snapshot_result(
                read_snapshot(self.store, oid),
                created=True,
                counts=counts,
                consistency=consistency,
            )

    def _tally(self, parent: SnapshotInfo, state: State) -> tuple[int, Counts]:
        """Changed paths against the parent, and the parent's totals moved by those changes.

        An incremental capture never visits reused subtrees, so its own totals are partial;
        the diff (O(changes), pruned by tree ids) gives exact ones.
        """
        c = Counts(
            files=parent.files,
            bytes=parent.bytes,
            skipped=parent.skipped,
            skipped_bytes=parent.skipped_bytes,
            rules=dict(parent.rules),
            generated=dict(parent.generated),
        )
        changed = 0
        for change in iter_changes(self.store, parent.state, state):
            changed += 1
            for side, sign in ((change.old, -1), (change.new, 1)):
                if side is None:
                    continue
                if side.skipped is not None:
                    c.skipped += sign
                    c.skipped_bytes += sign * side.size(self.store)
                    _bump(c.rules, side.skipped.rule, sign)
                    continue
                c.files += sign
                c.bytes += sign * side.size(self.store)
                if side.generated is not None:
                    _bump(c.generated, side.generated.rule, sign)
        return changed, c

    @staticmethod
    def _snapshot_result(
        snap: SnapshotInfo, *, created: bool, counts: Counts, consistency: str
    ) -> protocol.SnapshotResult:
        return protocol.SnapshotResult(
            consistency=protocol.Consistency(consistency),
            auto=snap.auto,
            id=snap.id,
            created=created,
            time=snap.time,
            files=snap.files,
            bytes=snap.bytes,
            skipped=snap.skipped,
            skipped_bytes=snap.skipped_bytes,
            changed=snap.changed,
            hashed=counts.hashed,
            hashed_bytes=counts.hashed_bytes,
            rules=dict(snap.rules),
            generated=dict(snap.generated),
            parent=snap.parent,
            label=snap.label,
        )

    # -- listing and status --------------------------------------------------------------------

    def snapshots(self, params: protocol.SnapshotsParams) -> protocol.SnapshotsResult:
        """One page of the snapshot history, newest first."""
        limit, max_bytes = self._budgets(params.limit, params.max_bytes)
        # The store's identity is part of the query: sequence numbers of another store's
        # history would page silently through this one.
        query = query_hash("snapshots", self.store_path)
        before: int | None = None
        with map_errors():
            self.check_store()
            if params.cursor is not None:
                before = decode_cursor(params.cursor, protocol.SNAPD_SNAPSHOTS, query).get("before")
                if not isinstance(before, int) or isinstance(before, bool) or before < 1:
                    raise errors.BadCursor("cursor is malformed", field="cursor")
            # Sequence numbers never repeat, so the cursor stays valid while snapshots are
            # added (they sort before it) or dropped by retention (they simply vanish).
            items = ((s.seq, self._summary(s)) for s in iter_history(self.store, before))
            page, rest = take_page(
                items, limit=limit, max_bytes=max_bytes, size=lambda item: self._size(item[1])
            )
        cursor = None
        if rest is not None:
            cursor = encode_cursor(protocol.SNAPD_SNAPSHOTS, query, {"before": page[-1][0]})
        damaged = dict(self.store.refs.damaged_refs)
        warnings = [
            f"snapshot ref {name} was skipped: {why}" for name, why in sorted(damaged.items())
        ]
        return protocol.SnapshotsResult(
            snapshots=[s for _seq, s in page], next_cursor=cursor, warnings=warnings or None
        )

    @staticmethod
    def _summary(s: SnapshotInfo) -> protocol.SnapshotSummary:
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
            consistency=protocol.Consistency(s.consistency),
            auto=s.auto,
        )

    def status(self) -> protocol.StatusResult:
        """The daemon's state."""
        with map_errors():
            head = None if self.store.problem() else self._head()
            return protocol.StatusResult(
                root=self.root,
                store=self.store_path,
                version=__version__,
                protocol_version=PROTOCOL_VERSION,
                content_limit=self.options.content_limit,
                store_bytes=self.store.disk_usage(),
                watcher="off",
                worktree_error=self.root_problem(),
                store_error=self.store.problem(),
                cached_files=len(self.cache),
                head=head.id if head else None,
            )

    # -- resolving sides -----------------------------------------------------------------------

    def resolve(self, ref: str, field: str) -> SnapshotInfo:
        """A snapshot from an id, a unique prefix or ``latest``.

        Raises:
            errors.UnknownSnapshot: no such snapshot, or an ambiguous prefix.
        """
        self.check_store()
        if ref == LATEST:
            head = self._head()
            if head is None:
                raise errors.UnknownSnapshot("no snapshot has been taken yet", field=field)
            return head
        ref_l = ref.lower()
        if len(ref_l) < MIN_PREFIX or any(c not in "0123456789abcdef" for c in ref_l):
            raise errors.UnknownSnapshot(
                f"{field}: not a snapshot id, prefix (>= {MIN_PREFIX} hex digits) or 'latest'",
                field=field,
                ref=ref,
            )
        # Only retained snapshots resolve (a dropped one's commit may linger until pruned);
        # ref names carry the ids, so no commit is read to match a prefix.
        found = {oid for _seq, oid in self.store.refs.snapshot_refs() if oid.startswith(ref_l)}
        if len(found) != 1:
            what = "ambiguous" if found else "unknown"
            raise errors.UnknownSnapshot(f"{field}: {what} snapshot {ref!r}", field=field, ref=ref)
        return read_snapshot(self.store, found.pop())

    def _live_state(self) -> State:
        with self.writer:
            self.check_root()
            head = self._head()
            state = self._capture(head.state if head else None).capture()
            self.check_root()
            return state

    def _sides(self, from_: str, to: str | None) -> tuple[State, State]:
        old = self.resolve(from_, "from").state
        new = self.resolve(to, "to").state if to is not None else self._live_state()
        return old, new

    # -- diff ----------------------------------------------------------------------------------

    def diff(self, params: protocol.DiffParams) -> protocol.DiffResult:
        """One page of changed files."""
        limit, max_bytes = self._budgets(params.limit, params.max_bytes)
        prefixes = tuple(from_wire(p, field="paths") for p in params.paths or [""]) or (b"",)
        query = query_hash("diff", params.from_, params.to, sorted(params.paths or []))
        with map_errors():
            if params.cursor is None:
                old, new = self._sides(params.from_, params.to)
                after = None
            else:
                pos = decode_cursor(params.cursor, protocol.SNAPD_DIFF, query)
                old, new = self._pinned(pos, "a"), self._pinned(pos, "b")
                after = bytes.fromhex(pos["after"]) if isinstance(pos.get("after"), str) else None
            changes = iter_changes(self.store, old, new, prefixes=prefixes, after=after)
            pairs = ((c, self._file_change(c)) for c in changes)
            page, rest = take_page(
                pairs, limit=limit, max_bytes=max_bytes, size=lambda p: self._size(p[1])
            )
        cursor = None
        if rest is not None:
            position = {
                "a": attrs.astuple(old),
                "b": attrs.astuple(new),
                "after": page[-1][0].key.hex(),
            }
            cursor = encode_cursor(protocol.SNAPD_DIFF, query, position)
        return protocol.DiffResult(files=[fc for _c, fc in page], next_cursor=cursor)

    def _pinned(self, pos: dict[str, Any], key: str) -> State:
        raw = pos.get(key)
        if (
            not isinstance(raw, list)
            or len(raw) != 3
            or not all(isinstance(x, str) and len(x) == 40 for x in raw)
        ):
            raise errors.BadCursor("cursor is malformed", field="cursor")
        state = State(raw[0], raw[1], raw[2])
        if not all(self.store.contains(oid) for oid in raw):
            raise errors.BadCursor("cursor is stale: its capture is gone", field="cursor")
        return state

    def _file_change(self, change: Change) -> protocol.FileChange:
        old, new = change.old, change.new
        ref = new or old
        assert ref is not None
        fc = protocol.FileChange(
            path=to_wire(change.path),
            status=protocol.ChangeStatus(change.status),
            kind=ref.kind,
            old_size=old.size(self.store) if old else None,
            new_size=new.size(self.store) if new else None,
            old_mode=old.mode if old else None,
            new_mode=new.mode if new else None,
        )
        fc.skipped = _skip_info(old, new)
        fc.generated = _generated_info(old, new)
        if fc.skipped is None and ref.kind == "file":
            fc.binary = any(self._is_binary(s) for s in (old, new))
        return fc

    def _is_binary(self, side: Side | None) -> bool:
        if side is None or side.oid is None:
            return False
        first = next(self.store.iter_blob(side.oid), b"")
        return b"\0" in first[:BINARY_SNIFF]

    # -- hunks ---------------------------------------------------------------------------------

    def hunks(self, params: protocol.HunksParams) -> protocol.HunksResult:
        """One page of one file's hunks."""
        limit, max_bytes = self._budgets(params.limit, params.max_bytes)
        if not 0 <= params.context <= 1000:
            raise errors.InvalidParams("context: must be between 0 and 1000", field="context")
        rel = from_wire(params.path)
        if not rel:
            raise errors.InvalidParams("path: must name a file, not the root", field="path")
        query = query_hash("hunks", params.from_, params.to, params.path, params.context)
        with map_errors():
            if params.cursor is None:
                old_state = self.resolve(params.from_, "from").state
                old = self.lookup(old_state, rel)
                new = (
                    self._live_side(rel)
                    if params.to is None
                    else self.lookup(self.resolve(params.to, "to").state, rel)
                )
                index = 0
                stream_at = None
                gen = _generated_info(old, new)
            else:
                pos = decode_cursor(params.cursor, protocol.SNAPD_HUNKS, query)
                old, new = self._pinned_blob(pos, "a"), self._pinned_blob(pos, "b")
                raw_index = pos.get("i", 0)
                if not isinstance(raw_index, int) or raw_index < 0:
                    raise errors.BadCursor("cursor is malformed", field="cursor")
                index = raw_index
                stream_at = pos.get("s")
                gen = (
                    self._conv.structure(pos["g"], protocol.GeneratedInfo)
                    if isinstance(pos.get("g"), dict)
                    else None
                )
            skip = _skip_info(old, new)
            if skip is not None:
                return protocol.HunksResult(hunks=[], skipped=skip)
            old_oid = old.oid if old else None
            new_oid = new.oid if new else None
            if old_oid == new_oid:
                return protocol.HunksResult(hunks=[], generated=gen)
            big = max(s.size(self.store) if s else 0 for s in (old, new))
            if stream_at is not None or big > self.options.diff_max_bytes:
                if self._is_binary(old) or self._is_binary(new):
                    return protocol.HunksResult(hunks=[], binary=True, generated=gen)
                return self._streamed_hunks(
                    old_oid, new_oid, params, stream_at, query, gen, limit, max_bytes
                )
            fd = self._file_diff(old_oid, new_oid, params.context)
        if fd.binary:
            return protocol.HunksResult(hunks=[], binary=True, generated=gen)
        if index > len(fd.hunks):
            raise errors.BadCursor("cursor is past the end of this diff", field="cursor")
        wire = (_wire_hunk(h) for h in fd.hunks[index:])
        page, rest = take_page(wire, limit=limit, max_bytes=max_bytes, size=self._size)
        cursor = None
        if rest is not None:
            position: dict[str, Any] = {"a": old_oid, "b": new_oid, "i": index + len(page)}
            if gen is not None:
                position["g"] = self._conv.unstructure(gen)
            cursor = encode_cursor(protocol.SNAPD_HUNKS, query, position)
        return protocol.HunksResult(
            hunks=page,
            next_cursor=cursor,
            truncated=fd.truncated is not None,
            truncated_reason=fd.truncated,
            generated=gen,
        )

    def _streamed_hunks(
        self,
        old: str | None,
        new: str | None,
        params: protocol.HunksParams,
        raw_position: object,
        query: str,
        gen: protocol.GeneratedInfo | None,
        limit: int,
        max_bytes: int,
    ) -> protocol.HunksResult:
        """One page of a big file's hunks, streamed (see :mod:`snapd.diff.streamed`)."""
        try:
            start = None if raw_position is None else Position.from_list(raw_position)
            pieces = stream_hunks(
                self.store.iter_blob(old) if old else iter(()),
                self.store.iter_blob(new) if new else iter(()),
                context=params.context,
                options=self.options,
                start=start,
            )
            page, rest = take_page(
                pieces,
                limit=limit,
                max_bytes=max_bytes,
                size=lambda piece: piece.hunk.json_size() if piece.hunk else 0,
            )
        except BadPosition as exc:
            raise errors.BadCursor(f"cursor is stale or malformed: {exc}", field="cursor") from exc
        if rest is not None and rest.hunk is None:
            page.append(rest)  # the walk stopped right after this page: say so here
            rest = None
        reasons = {p.truncated for p in page}
        cursor = None
        if rest is not None:
            position: dict[str, Any] = {"a": old, "b": new, "s": rest.position.to_list()}
            if gen is not None:
                position["g"] = self._conv.unstructure(gen)
            cursor = encode_cursor(protocol.SNAPD_HUNKS, query, position)
        # The most telling reason wins: a stop, then a blind split, then the time budget.
        reason = next((r for r in (LONG_LINE, COARSE, "time-budget") if r in reasons), None)
        return protocol.HunksResult(
            hunks=[_wire_hunk(p.hunk) for p in page if p.hunk is not None],
            next_cursor=cursor,
            truncated=reason is not None,
            truncated_reason=reason,
            generated=gen,
        )

    def _pinned_blob(self, pos: dict[str, Any], key: str) -> Side | None:
        oid = pos.get(key)
        if oid is None:
            return None
        if not isinstance(oid, str) or len(oid) != 40 or not self.store.contains(oid):
            raise errors.BadCursor("cursor is stale or malformed", field="cursor")
        return Side(0, oid)

    def _file_diff(self, old: str | None, new: str | None, context: int) -> FileDiff:
        key = (old, new, context)
        fd = self._diff_cache.get(key)
        if fd is None:
            fd = diff_blobs(self.store, old, new, context=context, options=self.options)
            if len(self._diff_cache) >= 4:  # a few recent files: paging re-asks for the same one
                self._diff_cache.pop(next(iter(self._diff_cache)))
            self._diff_cache[key] = fd
        return fd

    def lookup(self, state: State, rel: bytes) -> Side | None:
        """One path's side in a captured state: its blob, its skipped record, or None."""
        parts = rel.split(b"/")
        tree: str | None = state.tree
        for depth, name in enumerate(parts):
            assert tree is not None
            entry = next((e for e in self.store.read_tree(tree) if e.name == name), None)
            if entry is None:
                break
            if depth == len(parts) - 1:
                if entry.mode == MODE_TREE:
                    return None
                record = (
                    next(
                        (m for m in iter_manifest(self.store, state.generated) if m.path == rel),
                        None,
                    )
                    if state.generated != EMPTY_BLOB
                    else None
                )
                return Side(entry.mode, entry.id, generated=record)
            if entry.mode != MODE_TREE:
                break
            tree = entry.id
        return self._lookup_skipped(state.manifest, rel)

    def _lookup_skipped(self, manifest: str, rel: bytes) -> Side | None:
        if manifest == EMPTY_BLOB:
            return None
        for meta in iter_manifest(self.store, manifest):
            if meta.path == rel:
                return Side(meta.mode, skipped=meta)
            if meta.kind == "dir" and rel.startswith(meta.path + b"/"):
                inner = attrs.evolve(
                    meta,
                    path=rel,
                    reason=f"inside skipped directory {to_wire(meta.path)}: {meta.reason}",
                )
                return Side(meta.mode, skipped=inner)
        return None

    def _live_side(self, rel: bytes) -> Side | None:
        """Capture one live path with the same policy a snapshot uses."""
        with self.writer:
            self.check_root()
            capturer = self._capture(None)
            decision, st = capturer.policy.explain(rel)
            if st is None:
                # Absent, or inside a skipped directory (then only existence is checked).
                if decision.captured or not os.path.lexists(os.path.join(self.root_b, rel)):
                    return None
                meta = ManifestEntry(
                    path=rel,
                    kind="file",
                    size=0,
                    mode=0,
                    mtime_ns=0,
                    rule=decision.rule,
                    reason=decision.reason,
                    evidence=decision.evidence,
                )
                return Side(0, skipped=meta)
            cand = Candidate(rel=rel, st=st)
            if cand.kind is Kind.DIR and decision.captured:
                return None
            result: Captured | Decision | None = decision
            if decision.captured:
                result = capturer.capture_one(cand, decision)
        if result is None:
            return None
        if isinstance(result, Captured):
            entry, final = result.entry, result.decision
            record = _record(rel, cand, final) if final.generated else None
            return Side(entry.mode, entry.id, generated=record)
        return Side(st.st_mode, skipped=_record(rel, cand, result))

    # -- explain -------------------------------------------------------------------------------

    def explain(self, params: protocol.ExplainParams) -> protocol.ExplainResult:
        """The capture policy's decision for one path."""
        rel = from_wire(params.path)
        self.check_root()
        policy = Policy(self.root_b, self.options)
        # The budget count reads the newest snapshot's trees and manifest: damage there is a
        # store failure (-31007 naming the object), not an internal error.
        with map_errors():
            try:
                decision, st = policy.explain(rel)
                head = self._head() if decision.captured else None
                if head is not None:
                    # The directory budget is the next snapshot's decision too: say it.
                    is_dir = st is not None and Kind.of(st) is Kind.DIR
                    over = explain_budget(self.store, policy, head.state, rel, is_dir=is_dir)
                    decision = over or decision
            except OSError as exc:
                raise errors.WorktreeFailure(
                    f"cannot inspect {params.path}: {exc.strerror}"
                ) from exc
        return protocol.ExplainResult(
            path=to_wire(rel),
            outcome=protocol.Outcome(decision.outcome.value),
            rule=decision.rule,
            reason=decision.reason,
            exists=st is not None,
            evidence=decision.evidence,
            kind=Kind.of(st).value if st is not None else None,
            size=st.st_size if st is not None else None,
            binary=decision.binary,
        )

    # -- restore -------------------------------------------------------------------------------

    def restore(
        self, params: protocol.RestoreParams, *, cancel: threading.Event | None = None
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
        limit, max_bytes = self._budgets(params.limit, params.max_bytes)
        scope = self._restore_scope(params)
        hunks = self._conv.unstructure(params.hunks) if params.hunks is not None else None
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
                pos = decode_cursor(params.cursor, protocol.SNAPD_RESTORE, query)
                return self._restore_page(pos, query, limit, max_bytes)
        spool = tempfile.SpooledTemporaryFile(max_size=1 << 20)
        with spool, self.writer, map_errors():
            target = self.resolve(params.from_, "from")
            self.check_root()
            head = self._head()
            live = self._capture(head.state if head else None, cancel).capture()
            self.check_root()
            planner = Planner(
                self.store, self.root_b, live, target.state, scope, self.options, self.lookup
            )
            header = {"target": target.id, "query": query}
            summary = write_plan(header, planner.actions(), spool)
            if params.plan_token is not None and params.plan_token != summary.token:
                raise errors.PlanStale(
                    "planToken: the worktree or the plan changed since the dry run: make a new "
                    "plan (nothing was written)",
                    field="planToken",
                )
            done: Applied | None = None
            safety: str | None = None
            if not params.dry_run:
                if cancel is not None and cancel.is_set():
                    raise Cancelled
                done = Applied()
                if summary.written or summary.deleted:
                    safety, kept = self._safety_snapshot(target.id, live, spool)
                    done = self._apply(spool, target.state.tree, safety, cancel, kept)
            spool.seek(0)
            items = (_wire_action(a) for a in read_plan(spool))
            page, rest = take_page(items, limit=limit, max_bytes=max_bytes, size=self._size)
            cursor = None
            if rest is not None:
                size = spool.seek(0, os.SEEK_END)
                spool.seek(0)
                position = {
                    "plan": self.store.write_blob_from(spool, size),
                    "i": len(page),
                    "t": summary.token,
                    "n": [summary.written, summary.deleted, summary.kept],
                    "a": done is not None,
                    "s": safety,
                    "c": done.conflicted if done is not None else 0,
                    "x": done.remaining if done is not None and done.cancelled else None,
                }
                cursor = encode_cursor(protocol.SNAPD_RESTORE, query, position)
        return protocol.RestoreResult(
            plan=page,
            plan_token=summary.token,
            applied=done is not None,
            written=summary.written,
            deleted=summary.deleted,
            kept=summary.kept,
            safety_snapshot=safety,
            conflicted=done.conflicted if done is not None else 0,
            conflicts=[_wire_action(a) for a in done.conflicts]
            if done and done.conflicts
            else None,
            cancelled=done is not None and done.cancelled,
            remaining=done.remaining if done is not None else 0,
            next_cursor=cursor,
        )

    def _safety_snapshot(
        self, target_id: str, live: State, spool: Any
    ) -> tuple[str, dict[bytes, tuple[int, str]]]:
        """Record the worktree as the plan saw it; the caller holds the writer lock.

        Live content the plan replaces although the capture skipped it (``graft`` actions) is
        stored and grafted into the snapshot first, so restoring it undoes those writes too.

        Returns:
            The safety snapshot's id, and what was grafted (path -> git mode, blob id).
        """
        label = f"before restore from {target_id[:12]}"
        kept: dict[bytes, tuple[int, str]] = {}
        stale = False

        def amend(state: State) -> State:
            nonlocal stale, kept
            if state != live:
                stale = True
                return state
            spool.seek(0)
            grafted = graft_live(self.store, self.root_fd, state, read_plan(spool))
            kept = grafted.kept
            return grafted.state

        safety = self.snapshot(protocol.SnapshotParams(label=label), amend=amend).id
        if stale:
            # Something changed between the plan's capture and this one: the plan may replace
            # content the safety snapshot does not hold.
            raise errors.PlanStale(
                f"the worktree changed while the restore was planned (nothing was written; "
                f"snapshot {safety} holds it as it is now): try again",
                field="planToken",
            )
        return safety, kept

    def _apply(
        self,
        spool: Any,
        target_tree: str,
        safety: str,
        cancel: threading.Event | None,
        kept: dict[bytes, tuple[int, str]],
    ) -> Applied:
        """Apply a spooled plan; the caller holds the writer lock.

        Raises:
            snapshots.Cancelled: ``cancel`` was set before anything was written.
        """

        def plan() -> Iterator[Action]:
            spool.seek(0)
            return read_plan(spool)

        progress = _Progress(self._restore_event)
        self._restore_event(RestoreEvent("begin", safety_snapshot=safety))
        try:
            self.check_root()
            done = apply_restore(
                self.store,
                self.root_fd,
                plan,
                target_tree=target_tree,
                on_event=progress,
                cancel=cancel,
                grafted=kept,
                delay=self.options.test_restore_delay,
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
            self._restore_event(RestoreEvent("end", safety_snapshot=safety))
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

    def _restore_event(self, event: RestoreEvent) -> None:
        for hook in list(self.on_restore):
            try:
                hook(event)
            except Exception:  # a broken hook must not break a half-done restore
                logger.exception("on_restore hook %r failed", hook)

    def _restore_scope(self, params: protocol.RestoreParams) -> Scope:
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
        globs = [_restore_pattern(entry) for entry in params.patterns or []]
        force = frozenset(from_wire(p, field="force") for p in params.force or [])
        hunk = None
        if params.hunks is not None:
            h = params.hunks
            rel = from_wire(h.path, field="hunks.path")
            if not rel:
                raise errors.InvalidParams("hunks.path: must name a file", field="hunks.path")
            if not h.digests:
                raise errors.InvalidParams(
                    "hunks.digests: must not be empty", field="hunks.digests"
                )
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

    def _restore_page(
        self, pos: dict[str, Any], query: str, limit: int, max_bytes: int
    ) -> protocol.RestoreResult:
        oid, start, totals = pos.get("plan"), pos.get("i"), pos.get("n")
        if (
            not isinstance(oid, str)
            or not isinstance(start, int)
            or start < 0
            or not isinstance(totals, list)
            or len(totals) != 3
            or not all(isinstance(n, int) for n in totals)
        ):
            raise errors.BadCursor("cursor is malformed", field="cursor")
        if len(oid) != 40 or not self.store.contains(oid):
            raise errors.BadCursor("cursor is stale: its plan is gone", field="cursor")
        lines = itertools.islice(_blob_lines(self.store, oid), start, None)
        items = (_wire_action(a) for a in read_plan(lines))
        page, rest = take_page(items, limit=limit, max_bytes=max_bytes, size=self._size)
        cursor = None
        if rest is not None:
            cursor = encode_cursor(protocol.SNAPD_RESTORE, query, {**pos, "i": start + len(page)})
        return protocol.RestoreResult(
            plan=page,
            plan_token=str(pos.get("t", "")),
            applied=bool(pos.get("a")),
            written=totals[0],
            deleted=totals[1],
            kept=totals[2],
            safety_snapshot=pos.get("s") if isinstance(pos.get("s"), str) else None,
            conflicted=conflicted if isinstance(conflicted := pos.get("c"), int) else 0,
            cancelled=isinstance(pos.get("x"), int),
            remaining=remaining if isinstance(remaining := pos.get("x"), int) else 0,
            next_cursor=cursor,
        )

    # -- retention -----------------------------------------------------------------------------

    def retention_policy(self) -> RetentionPolicy:
        """The retention policy from the options."""
        o = self.options
        return RetentionPolicy(
            retain_latest=o.retain_latest,
            retain_count=o.retain_count,
            retain_days=o.retain_days,
            budget_bytes=o.store_budget_bytes,
            grace_seconds=o.gc_grace_seconds,
        )

    def pin(self, params: protocol.PinParams) -> protocol.PinResult:
        """Pin or unpin a snapshot."""
        with map_errors():
            snap = self.resolve(params.id, "id")
            self.store.refs.set_pin(snap.id, params.pinned)
        return protocol.PinResult(id=snap.id, pinned=params.pinned)

    def gc(self, params: protocol.GcParams) -> protocol.GcResult:
        """Apply the retention policy and collect garbage (or only plan it)."""
        policy = self.retention_policy()
        with map_errors():
            self.check_store()
            if params.dry_run:
                history = list(iter_history(self.store))
                kept, dropped = retention.plan(history, self.store.refs.pins(), policy, time.time())
                return protocol.GcResult(dropped=[s.id for s in dropped], kept=len(kept))
            with self.writer:
                report = retention.collect(self.store, policy, after_sweep=self.cache.forget)
        if report.unmarked:
            raise self._unmarked(report)
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

    def _unmarked(self, report: retention.GcReport) -> errors.StoreFailure:
        """The -31007 of a collection that could not mark everything (it deleted nothing)."""
        first = report.unmarked[0]
        refs = " ".join(u.ref for u in report.unmarked)
        return errors.StoreFailure(
            f"gc dropped {len(report.dropped)} snapshots, but nothing was deleted: snapshot "
            f"ref {first.ref} cannot be walked ({first.why}), so what it refers to is kept; "
            "if the damaged object cannot be restored from a backup, delete the ref with "
            f"`git --git-dir {self.store_path} update-ref -d {first.ref}` and run gc again"
            + (f" (damaged refs: {refs})" if len(report.unmarked) > 1 else ""),
            object=first.object,
            ref=first.ref,
            dropped=report.dropped,
        )

    def gc_due(self) -> bool:
        """True when retention has work: too many snapshots or a store over its budget."""
        o = self.options
        with map_errors():
            count = len(self.store.refs.snapshot_refs())
            if count > o.retain_count + o.retain_latest + len(self.store.refs.pins()):
                return True
            return self.store.disk_usage() > o.store_budget_bytes

    def stats(self) -> protocol.StatsResult:
        """Where the store's disk goes (walks every retained snapshot's trees once)."""
        with map_errors():
            history = list(iter_history(self.store))
            loose = sum(1 for _ in retention.iter_loose(self.store))
            packs = self.store.pack_contents()
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
                    for entry in self.store.read_tree(tree):
                        path = base + b"/" + entry.name if base else entry.name
                        if entry.mode == MODE_TREE:
                            stack.append((path, entry.id))
                        elif entry.id not in seen_blobs:
                            seen_blobs.add(entry.id)
                            size = self.store.blob_size(entry.id)
                            unique += size
                            slot = per_path.setdefault(path, [0, 0])
                            slot[0] += size
                            slot[1] += 1
            largest = sorted(per_path.items(), key=lambda kv: -kv[1][0])[:20]
            skipped_by_rule: dict[str, int] = {}
            if history:
                for meta in iter_manifest(self.store, history[0].state.manifest):
                    skipped_by_rule[meta.rule] = skipped_by_rule.get(meta.rule, 0) + meta.size
            captured = sum(s.bytes for s in history)
            return protocol.StatsResult(
                store_bytes=self.store.disk_usage(),
                loose_objects=loose,
                packed_objects=sum(len(shas) for _name, shas in packs),
                packs=len(packs),
                snapshots=len(history),
                pinned=len(self.store.refs.pins()),
                captured_bytes=captured,
                unique_bytes=unique,
                dedup_ratio=round(captured / unique, 3) if unique else 1.0,
                largest_paths=[
                    protocol.PathBytes(path=to_wire(p), bytes=v[0], versions=v[1])
                    for p, v in largest
                ],
                skipped_bytes_by_rule=skipped_by_rule,
            )

    # -- helpers -------------------------------------------------------------------------------

    def _budgets(self, limit: int | None, max_bytes: int | None) -> tuple[int, int]:
        o = self.options
        return budgets(
            limit,
            max_bytes,
            default_limit=o.page_limit,
            max_limit=o.max_page_limit,
            default_bytes=o.page_bytes,
            max_bytes_cap=o.max_page_bytes,
        )

    def _size(self, item: Any) -> int:
        return len(json.dumps(self._conv.unstructure(item), separators=(",", ":")))


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


def _skip_info(old: Side | None, new: Side | None) -> protocol.SkipInfo | None:
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


def _bump(counter: dict[str, int], key: str, by: int) -> None:
    value = counter.get(key, 0) + by
    if value > 0:
        counter[key] = value
    else:
        counter.pop(key, None)


def _generated_info(old: Side | None, new: Side | None) -> protocol.GeneratedInfo | None:
    record = (new.generated if new else None) or (old.generated if old else None)
    if record is None:
        return None
    return protocol.GeneratedInfo(rule=record.rule, reason=record.reason, evidence=record.evidence)


def _record(rel: bytes, cand: Candidate, decision: Decision) -> ManifestEntry:
    st = cand.st
    return ManifestEntry(
        path=rel,
        kind=cand.kind.value,
        size=st.st_size,
        mode=st.st_mode,
        mtime_ns=st.st_mtime_ns,
        rule=decision.rule,
        reason=decision.reason,
        evidence=decision.evidence,
    )


def _is_digest(text: str) -> bool:
    return len(text) == DIGEST_HEX and all(c in "0123456789abcdef" for c in text)


def _wire_hunk(h: Any) -> protocol.Hunk:
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


def _restore_pattern(entry: str) -> str:
    """Check one ``patterns`` entry (gitignore syntax; it only ever matches paths in the tree)."""
    if not entry.lstrip("!").strip("/ ") or "\0" in entry:
        raise errors.InvalidParams(
            "patterns: an entry is empty or has a NUL (give a gitignore-syntax pattern)",
            field="patterns",
        )
    return entry


def _inside(path: str, root: str) -> bool:
    real = os.path.realpath(path)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def _wire_action(a: Action) -> protocol.RestoreAction:
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


def _blob_lines(store: Store, oid: str) -> Iterator[bytes]:
    """A blob's lines, streamed."""
    rest = b""
    for chunk in store.iter_blob(oid):
        rest += chunk
        *lines, rest = rest.split(b"\n")
        yield from lines
    if rest:
        yield rest
