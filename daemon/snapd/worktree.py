"""One worktree and its store: the domain facade every request works through.

A :class:`Worktree` owns the pinned root directory, the store and its single writer lock, and
the stat cache and the directory map. It captures the worktree (a snapshot, or the live state a
diff or restore compares with), resolves snapshot names, and looks up one path on either
side. It speaks internal types only: the request layer (:mod:`snapd.requests`) turns params
into calls here and results into wire types, and translates the :mod:`snapd.failures` raised
here into wire errors.

A single writer lock serialises everything that writes objects or the stat cache (snapshots
and live captures); reads of committed snapshots run concurrently.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Final

import attrs

from snapd.capture.decision import Candidate, Decision, Kind
from snapd.capture.dirmap import LOCAL_FILE_SYSTEMS, DirMap, fs_type, racy_window
from snapd.capture.policy import Policy
from snapd.capture.statcache import StatCache
from snapd.capture.walk import Cancelled, Captured, Capturer
from snapd.config import Options
from snapd.diff.changes import Side, iter_changes
from snapd.diff.files import FileDiffer
from snapd.enums import Consistency
from snapd.failures import NoSuchSnapshot, Refused, RootLost, StoreLost
from snapd.paths import to_wire
from snapd.restore.apply import RestoreEvent
from snapd.store import names
from snapd.store.history import (
    Counts,
    ManifestEntry,
    SnapshotInfo,
    State,
    commit_snapshot,
    iter_history,
    read_snapshot,
)
from snapd.store.names import LATEST
from snapd.store.objects import Journal
from snapd.store.repo import Store
from snapd.store.retention import RetentionPolicy

logger = logging.getLogger(__name__)

CACHE_NAME: Final = "snapd-statcache.bin"
DIRMAP_NAME: Final = "snapd-dirmap.bin"
CACHE_SAVE_INTERVAL: Final = 30.0
"""Seconds between stat cache saves after snapshots (it is also saved at shutdown)."""

ProgressFn = Callable[[int, str], None]
"""Called with (paths seen, current path) now and then during a capture."""

__all__ = ["LATEST", "Cancelled", "Recorded", "Worktree"]


@attrs.frozen
class Recorded:
    """What :meth:`Worktree.snapshot` did, and how the capture went.

    ``info`` is the new snapshot, or the latest one when nothing changed.
    """

    info: SnapshotInfo
    created: bool
    counts: Counts
    """This capture's counts (``hashed`` says how much it read)."""
    consistency: Consistency


class Worktree:
    """snapd's operations on one worktree and its store."""

    def __init__(self, root: str, store_path: str, options: Options) -> None:
        self.root = os.path.realpath(root)
        try:
            # The pinned root: every later walk checks the path still leads here, and a
            # restore writes through this descriptor, never through the path.
            self.root_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise RootLost(
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
            os.close(self.root_fd)
            raise Refused(
                "the store must be outside the worktree (snapd never writes inside it)",
                field="store",
            )
        try:
            self.store = Store.open(self.store_path)
        except BaseException:
            os.close(self.root_fd)
            raise
        self.cache_path = os.path.join(self.store_path, CACHE_NAME)
        self.dirmap_path = os.path.join(self.store_path, DIRMAP_NAME)
        fs = fs_type(self.root)
        self.trust_dir_mtime = fs in LOCAL_FILE_SYSTEMS
        """Whether a directory's unchanged signature proves its names did not change."""
        # Read in a thread of their own: the session starts its watcher meanwhile, and the
        # first capture waits for them (see the ``cache`` and ``dirmap`` properties).
        self._loaded: Future[tuple[StatCache, DirMap]] = Future()
        threading.Thread(
            target=self._load, args=(racy_window(pinned.st_ctime_ns, fs),), daemon=True
        ).start()
        self._cache_saved = time.monotonic()
        # Re-entrant: a restore holds it across its plan, its safety snapshot (which takes it
        # again through snapshot()) and its writes, so no snapshot interleaves with a restore.
        self.writer = threading.RLock()
        self.generation = 0
        """Bumped (under the writer lock) as each snapshot or restore begins and ends: a live
        diff that read it before its watcher sync knows, by reading it again, that nothing
        moved the head or wrote the worktree meanwhile (see :meth:`live_state`)."""
        self.on_restore: list[Callable[[RestoreEvent], None]] = []
        """Hooks called (in a worker thread, under the writer lock) with each restore event:
        ``begin``, one ``write``/``delete`` per path with its ``lstat`` afterwards, ``end``. A
        watcher uses them to tell the restore's own writes from a user's edits."""
        self.differ = FileDiffer(self.store, options)
        """In-memory and streamed file diffs, with a cache of recent ones."""

    def _load(self, racy_ns: int) -> None:
        try:
            cache = StatCache.load(self.cache_path, self.store)
            cache.racy_ns = racy_ns
            self._loaded.set_result((cache, DirMap.load(self.dirmap_path)))
        except BaseException as exc:  # handed to whoever waits for them
            self._loaded.set_exception(exc)

    @property
    def cache(self) -> StatCache:
        """The stat cache (waits until it is loaded)."""
        return self._loaded.result()[0]

    @property
    def dirmap(self) -> DirMap:
        """The directory map (waits until it is loaded)."""
        return self._loaded.result()[1]

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
            RootLost: the worktree was moved, replaced or swapped for a symlink
                (then it stays failed: events and edits since are unknown).
        """
        problem = self.root_problem()
        if problem is not None:
            raise RootLost(problem, root=self.root)

    def check_store(self) -> None:
        """Fail unless the store is still the directory opened at start.

        Raises:
            StoreLost: the store directory was deleted or replaced (for good).
        """
        problem = self.store.problem()
        if problem is not None:
            raise StoreLost(problem, store=self.store_path)

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
        """Persist the stat cache and the directory map now and then.

        Losing them costs re-hashing and one full walk, never correctness.
        """
        if not self.cache.changed and not self.dirmap.changed:
            return
        if not force and time.monotonic() - self._cache_saved < CACHE_SAVE_INTERVAL:
            return
        try:
            if self.cache.changed:
                self.cache.save(self.cache_path)
            if self.dirmap.changed:
                self.dirmap.save(self.dirmap_path)
        except OSError as exc:
            logger.warning("cannot save the stat cache: %s", exc)
        self._cache_saved = time.monotonic()

    # -- snapshots ----------------------------------------------------------------------------

    def capturer(
        self,
        parent: State | None,
        cancel: threading.Event | None = None,
        progress: ProgressFn | None = None,
        dirty: frozenset[bytes] | None = None,
    ) -> Capturer:
        """A capturer of the worktree with a fresh policy (it re-reads ignore files).

        A full walk (``dirty`` None) from the state the directory map describes, under the
        same policy stamp, becomes an incremental one over what the map's check found changed:
        only directories on the way to a changed path are listed.
        """
        policy = Policy(self.root_b, self.options)
        report = None
        if progress is not None:
            report = lambda n, path: progress(n, to_wire(path))  # noqa: E731
        check = None
        if dirty is None and self.dirmap.fits(parent, policy.stamp):
            check = self.dirmap.check(
                self.root_b, trust_mtime=self.trust_dir_mtime, racy_ns=self.cache.racy_ns
            )
            dirty = check.dirty
        capturer = Capturer(
            self.store,
            self.root_b,
            policy,
            self.cache,
            parent=parent,
            dirty=dirty,
            cancel=cancel,
            progress=report,
        )
        capturer.checked = check
        return capturer

    def _commit_map(self, capturer: Capturer, parent: State | None, state: State) -> None:
        """The head is now ``state``, which ``capturer`` captured from ``parent``."""
        check = capturer.checked
        self.dirmap.commit(
            parent,
            state,
            capturer.policy.stamp,
            capturer.listings,
            full=not capturer.incremental,
            refreshed=check.refreshed if check is not None else None,
        )

    def head(self) -> SnapshotInfo | None:
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
        label: str | None = None,
        *,
        client: str | None = None,
        session: str | None = None,
        dirty: frozenset[bytes] | None = None,
        auto: bool = False,
        cancel: threading.Event | None = None,
        progress: ProgressFn | None = None,
        on_unrecorded: Callable[[], None] | None = None,
        amend: Callable[[State], State] | None = None,
        safety: bool = False,
    ) -> Recorded:
        """Capture the worktree and record it as a snapshot (unless nothing changed).

        An automatic snapshot whose captured tree equals the latest snapshot's is not recorded
        even when skipped files' metadata changed: churn of uncaptured files (a log, a build
        directory) must not flood the history and make retention drop real snapshots.

        Args:
            label: Free text recorded with the snapshot.
            client: The name of the client taking it, recorded with it.
            session: The session it is taken for (an agent's conversation), recorded with it.
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
            safety: A restore's or revert's safety snapshot (retention treats it as unlabelled).

        Raises:
            Failure, StoreError, OSError: the capture failed; no ref was moved.
            snapshots.Cancelled: ``cancel`` was set; nothing was referenced.
        """
        with self.changing(), self._reclaim_on_failure():
            self.check_store()
            self.check_root()
            parent = self.head()
            parent_id = parent.id if parent else None
            if parent is None:
                dirty = None  # nothing to reuse: the first snapshot walks everything
            consistency = Consistency.RECONCILED if dirty is None else Consistency.EXACT
            capturer = self.capturer(parent.state if parent else None, cancel, progress, dirty)
            state = capturer.capture()
            self.check_root()  # swapped during the walk: what was read may be another tree
            counts = capturer.counts
            amended = amend(state) if amend is not None else state
            retally = amended != state  # the capture's own totals miss what was grafted
            captured, state = state, amended
            parent_state = parent.state if parent else None
            if (
                parent is not None
                and label is None
                and (parent.state == state or (auto and parent.state.tree == state.tree))
            ):
                if parent.state != state and on_unrecorded is not None:
                    on_unrecorded()
                if parent.state == captured and not retally:
                    self._commit_map(capturer, parent_state, captured)
                self._save_cache()
                return Recorded(parent, created=False, counts=counts, consistency=consistency)
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
                label=label,
                changed=changed,
                consistency=consistency,
                auto=auto,
                client=client,
                safety=safety,
                session=session,
            )
            self.store.refs.add_snapshot(oid)  # the commit point: objects are all written
            if retally:
                self.dirmap.invalidate()  # the head holds grafted content no walk lists
            else:
                self._commit_map(capturer, parent_state, captured)
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
            return Recorded(
                read_snapshot(self.store, oid), created=True, counts=counts, consistency=consistency
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

    # -- resolving sides ----------------------------------------------------------------------

    def resolve(self, ref: str, field: str) -> SnapshotInfo:
        """The snapshot a name names: an id, ``latest``, ``latest~N``, a label or a prefix.

        Raises:
            NoSuchSnapshot: no such snapshot, or an ambiguous name (see :mod:`snapd.store.names`).
        """
        self.check_store()
        try:
            return names.resolve(self.store, ref, field)
        except names.NoSuchSnapshot as exc:
            raise NoSuchSnapshot(exc.message, **exc.data) from exc

    @contextlib.contextmanager
    def changing(self) -> Iterator[None]:
        """Hold the writer lock for work that moves the head or writes the worktree."""
        with self.writer:
            self.generation += 1
            try:
                yield
            finally:
                self.generation += 1

    def live_state(
        self, dirty: frozenset[bytes] | None = None, generation: int | None = None
    ) -> tuple[State, Consistency]:
        """Capture the worktree as it is now (the side ``to`` of a diff with no ``to``).

        Returns the state and how it was read (``exact``: from the dirty set).

        Args:
            dirty: The paths a synced watcher saw change since the latest snapshot: only
                they (and the directories on their way) are looked at, the rest is the
                latest snapshot's. None walks everything.
            generation: :attr:`generation` as read before the watcher's sync; if a snapshot
                or restore ran since, ``dirty`` may miss its paths, so everything is walked.
        """
        with self.writer:
            self.check_root()
            head = self.head()
            if head is None or generation != self.generation:
                dirty = None
            state = self.capturer(head.state if head else None, dirty=dirty).capture()
            self.check_root()
            return state, Consistency.RECONCILED if dirty is None else Consistency.EXACT

    def live_side(self, rel: bytes) -> Side | None:
        """Capture one live path with the same policy a snapshot uses."""
        with self.writer:
            self.check_root()
            capturer = self.capturer(None)
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

    # -- retention and restore hooks ----------------------------------------------------------

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

    def gc_due(self) -> bool:
        """True when retention has work: too many snapshots or a store over its budget."""
        o = self.options
        count = len(self.store.refs.snapshot_refs())
        if count > o.retain_count + o.retain_latest + len(self.store.refs.pins()):
            return True
        return self.store.disk_usage() > o.store_budget_bytes

    def restore_event(self, event: RestoreEvent) -> None:
        """Tell every ``on_restore`` hook about one restore event."""
        for hook in list(self.on_restore):
            try:
                hook(event)
            except Exception:  # a broken hook must not break a half-done restore
                logger.exception("on_restore hook %r failed", hook)


def _bump(counter: dict[str, int], key: str, by: int) -> None:
    value = counter.get(key, 0) + by
    if value > 0:
        counter[key] = value
    else:
        counter.pop(key, None)


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


def _inside(path: str, root: str) -> bool:
    real = os.path.realpath(path)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)
