"""The snapshot walk: list, decide, stream blobs, build trees; the commit is the store's.

:class:`Capturer` walks the worktree in git tree order, asks the capture policy about each
entry, streams captured files into blobs and writes the trees and the two manifests (see
:mod:`snapd.store.history` for the snapshot's shape in the store).

Files are hashed only when their stat signature changed since they were last hashed (a stat
cache with a racy-mtime guard, persisted in the store); with a watcher's dirty set, only the
directories on the way to a changed path are listed and every other subtree is reused.
Nothing is held whole in memory beyond a bounded chunk.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from typing import IO, Final

import attrs

from snapd.capture import reading
from snapd.capture.budget import BudgetRecords, over_budget
from snapd.capture.decision import Candidate, Decision, Kind, signature, skipped
from snapd.capture.decisions import RULE_FILES, dir_stamp, still_holds
from snapd.capture.dirmap import Check, Record, record_of
from snapd.capture.listing import UNLISTABLE_ERRNOS, sorted_entries, summarise
from snapd.capture.policy import Policy
from snapd.capture.statcache import CacheEntry, StatCache
from snapd.paths import join
from snapd.store.history import Counts, ManifestEntry, ManifestReader, State
from snapd.store.objects import MODE_EXEC, MODE_FILE, MODE_LINK, MODE_TREE, Entry
from snapd.store.repo import Store

logger = logging.getLogger(__name__)


RESCAN_NAMES: Final = frozenset({b".gitignore", b".snapdignore", b".gitattributes"})
"""Rule files: a change to one can change capture decisions in its whole directory subtree."""


READ_RETRIES: Final = 3
"""Attempts to read a file that keeps changing while it is read, before it is skipped."""


class Cancelled(Exception):
    """The capture was cancelled by its caller."""


ProgressFn = Callable[[int, bytes], None]


class _OverBudget(Exception):
    """A directory gained more new entries than the budget allows."""

    def __init__(self, new: int, count: int) -> None:
        self.new = new
        """Entries new since the previous snapshot."""
        self.count = count
        """Entries no snapshot captured (the new ones and those a budget record knew of)."""


@attrs.define
class _Frame:
    """One directory of the walk in progress: its listing and the tree entries so far."""

    rel: bytes
    name: bytes
    parent_tree: str | None
    """The same directory's tree in the previous snapshot, if it had one."""
    parent_entries: dict[bytes, Entry]
    listing: list[tuple[Candidate, Decision]]
    """Its entries not captured yet, last first (each is dropped once captured: a directory
    of 30,000 entries does not hold them all while its subdirectories are walked)."""
    full_scan: bool
    stamp: bytes | None
    """The stamp of the policy inputs that apply in this directory (see ``decisions``)."""
    listed: Record | None = None
    """Its record for the directory map, subdirectories not filled in yet (None: none)."""
    entries: list[Entry] = attrs.Factory(list)
    entered: list[bytes] = attrs.Factory(list)
    """Subdirectories captured as trees (listed or reused)."""
    others: list[bytes] = attrs.Factory(list)
    """Subdirectories a later walk must look at again (skipped with a record, unreadable)."""
    quiet: list[bytes] = attrs.Factory(list)
    """Subdirectories skipped without a record (``.git``): nothing in them is captured."""


@attrs.frozen
class Captured:
    """A stored file or symlink: its tree entry and the decision that captured it."""

    entry: Entry
    decision: Decision


class Capturer:
    """One walk of the worktree into the store (objects only; no ref is moved here).

    With ``parent`` (the previous snapshot's state) the budgets apply: a directory that gained
    more than ``dir_new_file_budget`` entries is skipped as one record, and reading stops at
    ``snapshot_byte_budget`` bytes of new content. The first snapshot has no budgets.
    """

    def __init__(
        self,
        store: Store,
        root: bytes,
        policy: Policy,
        cache: StatCache,
        *,
        parent: State | None = None,
        dirty: frozenset[bytes] | None = None,
        cancel: threading.Event | None = None,
        progress: ProgressFn | None = None,
    ) -> None:
        self.store = store
        self.root = root
        self.policy = policy
        self.cache = cache
        self.parent = parent
        self.cancel = cancel
        self.progress = progress
        self.counts = Counts()
        self._seen = 0
        off = set(policy.options.disabled_rules)
        self._dir_budget = None if "new-files-budget" in off else policy.options.dir_new_file_budget
        self._byte_budget = (
            None if "snapshot-budget" in off else policy.options.snapshot_byte_budget
        )
        self._skipped: IO[bytes] | None = None
        self._generated: IO[bytes] | None = None
        # Incremental mode: only directories on the way to a dirty path are listed; every other
        # subtree (and its manifest records) is reused from the parent snapshot.
        self.incremental = dirty is not None and parent is not None
        paths = set(dirty or ())
        for path in dirty or ():
            head, _, name = path.rpartition(b"/")
            if name in RESCAN_NAMES:
                # A changed rule file can change decisions anywhere below its directory:
                # naming the directory makes the walk rescan it in full (no reuse).
                paths.add(head)
        self._dirty_paths: frozenset[bytes] = frozenset(paths)
        # What the parent skipped only for a budget is retried: never copied forward.
        budgeted = BudgetRecords.read(store, parent.manifest) if parent else BudgetRecords()
        self._budgeted = budgeted
        ancestors: set[bytes] = {b""}
        for path in (*self._dirty_paths, *budgeted.paths()):
            parts = path.split(b"/")
            for i in range(1, len(parts)):
                ancestors.add(b"/".join(parts[:i]))
        self._dirty_dirs = frozenset(ancestors)
        self._parent_skipped: ManifestReader | None = None
        self._parent_generated: ManifestReader | None = None
        self.reused_trees = 0
        self._now = time.time_ns()
        self.reused_decisions = 0
        self._from_cache: dict[bytes, CacheEntry] = {}
        """Files listed with their cached final decision (not a fresh phase-1 one)."""
        self.listings: dict[bytes, Record] = {}
        """The directory map's records of the directories this walk listed."""
        self.checked: Check | None = None
        """The directory map's check whose dirty set made a full walk incremental."""

    def capture(self) -> State:
        """Walk the worktree and write its captured state.

        Raises:
            Cancelled: ``cancel`` was set; nothing was referenced, so nothing is half-written.
            OSError: the root itself cannot be read.
        """
        spool = tempfile.SpooledTemporaryFile
        with spool(max_size=1 << 20) as skipped_fh, spool(max_size=1 << 20) as generated_fh:
            self._skipped, self._generated = skipped_fh, generated_fh
            parent_tree = self.parent.tree if self.parent is not None else None
            if self.incremental and self.parent is not None:
                self._parent_skipped = ManifestReader(self.store, self.parent.manifest)
                self._parent_generated = ManifestReader(self.store, self.parent.generated)
            # The first snapshot writes nearly every object: one pack instead of loose files.
            bulk = self.store.bulk() if self.parent is None else contextlib.nullcontext()
            with bulk:
                tree = self._walk(parent_tree) or self.store.write_tree([])
            ids = []
            for fh in (skipped_fh, generated_fh):
                size = fh.tell()
                fh.seek(0)
                ids.append(self.store.write_blob_from(fh, size))
        return State(tree, ids[0], ids[1])

    # -- walking -------------------------------------------------------------------------------

    def _clean(self, rel: bytes, full_scan: bool) -> bool:
        """True if nothing under ``rel`` can have changed (incremental mode only)."""
        return (
            self.incremental
            and not full_scan
            and rel not in self._dirty_dirs
            and rel not in self._dirty_paths
        )

    def _reuse(self, key_lo: bytes, key_hi: bytes) -> None:
        """Copy the parent's manifest records in ``[key_lo, key_hi)`` (a reused range)."""
        for records, out in (
            (self._parent_skipped, self._skipped),
            (self._parent_generated, self._generated),
        ):
            if records is not None and out is not None:
                records.copy(key_lo, key_hi, out)

    def _walk(self, parent_tree: str | None) -> str | None:
        """Capture the whole worktree; the root tree's id, or None when nothing was captured.

        Depth first in git tree order (manifest records come out sorted), with an explicit
        stack rather than recursion: a worktree may be nested deeper than Python's recursion
        limit, and one such directory must not fail every snapshot.

        Raises:
            OSError: the root itself cannot be listed.
        """
        stack = [self._open(b"", parent_tree, self.policy.stamp)]
        while True:
            frame = stack[-1]
            child = self._advance(frame)
            if child is not None:
                stack.append(child)
                continue
            stack.pop()
            tree = self._finish(frame)
            if not stack:
                return tree
            if tree is not None:
                stack[-1].entries.append(Entry(frame.name, MODE_TREE, tree))

    def _open(
        self,
        rel: bytes,
        parent_tree: str | None,
        stamp: bytes | None,
        *,
        forced_only: bool = False,
        full_scan: bool = False,
    ) -> _Frame:
        """List one directory and decide its entries; ``forced_only`` inside a skipped one.

        In incremental mode a directory named dirty itself (created, renamed, or holding a
        changed ignore file) is scanned in full: its new entries may predate their events. On a
        full walk a file keeps its cached decision only under the same ``stamp`` (its parent's,
        chained here with this directory's rule files).

        Raises:
            _OverBudget: it gained more new entries than ``dir_new_file_budget``.
            OSError: it cannot be listed.
        """
        full_scan = full_scan or rel in self._dirty_paths
        full = os.path.join(self.root, rel) if rel else self.root
        listing: list[tuple[Candidate, Decision]] = []
        trust_cache = self.incremental and not full_scan
        # Before the listing: an entry added or removed while it is read moves this signature.
        own = None if forced_only else os.lstat(full)
        found = sorted_entries(full)
        rules = [e for e in found if e[0] in RULE_FILES]
        stamp = dir_stamp(stamp, rel, rules, self._now, self.policy.read_rule_files)
        for name, st in found:
            cand = Candidate(rel=join(rel, name), st=st)
            cached = None
            if cand.kind is Kind.FILE and cand.rel not in self._dirty_paths:
                # Incremental: an unchanged file (no rule file changed in its directory: that
                # would have forced a full scan) keeps its decision. Full walk: only when no
                # policy input changed either. The rest are decided.
                cached = (
                    self.cache.lookup(cand.rel, st)
                    if trust_cache
                    else self.cache.decided(cand.rel, st, stamp)
                )
            if cached is not None:
                self._from_cache[cand.rel] = cached
                self.reused_decisions += 1
            decision = cached.decision if cached is not None else self.policy.decide(cand)
            if cached is None and not decision.captured and cand.kind is Kind.FILE:
                # The policy changed its mind (an ignore rule, .git/info/exclude or the git
                # index changed): a cached "captured" must not come back on a later walk.
                self.cache.discard(cand.rel)
            if forced_only and decision.rule != "force-include":
                if cand.kind is not Kind.DIR or not self.policy.forced_below(cand.rel):
                    self._from_cache.pop(cand.rel, None)
                    continue  # covered by the skipped ancestor's record
                decision = skipped("force-include", "not forced", record=False)
            listing.append((cand, decision))
        listed = None
        if own is not None:
            files = ((n, signature(s)) for n, s in found if not stat.S_ISDIR(s.st_mode))
            listed = record_of(own, files, (), (), (), self._now, self.cache.racy_ns)
        parent_entries = (
            {e.name: e for e in self.store.read_tree(parent_tree)} if parent_tree else {}
        )
        # Paths a user forced in are exempt: the budget guesses at generated content.
        if rel and self.parent is not None and self._dir_budget is not None and not forced_only:
            captured = (c.rel.rsplit(b"/", 1)[-1] for c, d in listing if d.captured)
            counted = self._budgeted.new_entries(rel, captured, parent_entries)
            if counted is not None and counted[0] > self._dir_budget:
                raise _OverBudget(*counted)
        listing.reverse()  # taken from the end
        return _Frame(
            rel=rel,
            name=rel.rsplit(b"/", 1)[-1],
            parent_tree=parent_tree,
            parent_entries=parent_entries,
            listing=listing,
            full_scan=full_scan,
            stamp=stamp,
            listed=listed,
        )

    def _advance(self, frame: _Frame) -> _Frame | None:
        """Capture ``frame``'s entries in order up to the next subdirectory to enter.

        Returns:
            The subdirectory's frame (its parent resumes after it), or None when ``frame``
            has no entry left.
        """
        full_scan = frame.full_scan
        parent_entries = frame.parent_entries
        entries = frame.entries
        while frame.listing:
            cand, decision = frame.listing.pop()
            if self.cancel is not None and self.cancel.is_set():
                raise Cancelled
            self._seen += 1
            if self.progress is not None and self._seen % 500 == 0:
                self.progress(self._seen, cand.rel)
            name = cand.rel.rsplit(b"/", 1)[-1]
            if (hit := self._from_cache.pop(cand.rel, None)) is not None:
                # Listed with its cached decision: unchanged content, nothing to decide or read.
                self._count(cand.st.st_size)
                mode = MODE_EXEC if cand.st.st_mode & 0o111 else MODE_FILE
                self._add(cand, Captured(Entry(name, mode, hit.oid), hit.decision), entries)
                continue
            if (
                cand.kind is Kind.DIR
                and not decision.captured
                and self._clean(cand.rel, full_scan)
                and self._parent_skipped is not None
                and self._skipped is not None
                and self._parent_skipped.copy(cand.rel + b"/", cand.rel + b"/\0", self._skipped)
            ):
                frame.others.append(name)
                continue  # an unchanged skipped directory keeps its recorded summary
            if not decision.captured:
                self._skip(cand, decision)
                forced = cand.kind is Kind.DIR and self.policy.forced_below(cand.rel)
                if cand.kind is Kind.DIR:
                    # Its summary or forced paths: looked at again; else nothing below counts.
                    (frame.others if decision.record or forced else frame.quiet).append(name)
                if forced:
                    before = parent_entries.get(name)
                    try:
                        return self._open(
                            cand.rel,
                            before.id if before and before.is_tree else None,
                            frame.stamp,
                            forced_only=True,
                        )
                    except FileNotFoundError:
                        continue
                    except OSError as exc:
                        # Already recorded as skipped by its rule: the forced paths below it
                        # are not captured this time, but nothing else fails.
                        if not isinstance(exc, PermissionError) and (
                            exc.errno not in UNLISTABLE_ERRNOS
                        ):
                            raise
                continue
            if cand.kind is Kind.DIR:
                before = parent_entries.get(name)
                if before is not None and before.is_tree and self._clean(cand.rel, full_scan):
                    self._reuse(cand.rel + b"/", cand.rel + b"0")
                    self.reused_trees += 1
                    entries.append(Entry(name, MODE_TREE, before.id))
                    frame.entered.append(name)
                    continue
                frame.others.append(name)  # until it is listed
                try:
                    child = self._open(
                        cand.rel,
                        before.id if before and before.is_tree else None,
                        frame.stamp,
                        full_scan=full_scan,
                    )
                    frame.others.pop()
                    frame.entered.append(name)
                    return child
                except _OverBudget as over:
                    assert self._dir_budget is not None
                    self._skip(cand, over_budget(over.new, self._dir_budget), count=over.count)
                    continue
                except PermissionError as exc:
                    self._skip(cand, _unreadable(exc))
                    continue
                except FileNotFoundError:
                    continue  # removed while we walked: it is simply not in this snapshot
                except OSError as exc:
                    # A directory the worktree cannot list (a path past PATH_MAX, ...) is
                    # skipped with its reason instead of failing every snapshot. Store errors
                    # (disk full, ...) have other errnos and still fail the snapshot.
                    if exc.errno not in UNLISTABLE_ERRNOS:
                        raise
                    self._skip(cand, _unreadable(exc))
                    continue
            result = self.capture_one(cand, decision, frame.stamp)
            if isinstance(result, Decision):
                self._skip(cand, result)
            elif result is not None:
                self._add(cand, result, entries)
        return None

    def _add(self, cand: Candidate, result: Captured, entries: list[Entry]) -> None:
        entries.append(result.entry)
        if result.decision.generated:
            self._record(self._generated, cand, result.decision)
            rule = result.decision.rule
            self.counts.generated[rule] = self.counts.generated.get(rule, 0) + 1

    def _finish(self, frame: _Frame) -> str | None:
        """Write a captured directory's tree (None when it holds nothing captured)."""
        entries, parent_entries = frame.entries, frame.parent_entries
        if frame.listed is not None:
            subdirs = (tuple(frame.entered), tuple(frame.others), tuple(frame.quiet))
            self.listings[frame.rel] = (*frame.listed[:3], *subdirs)
        if not entries:
            return None
        if (
            frame.parent_tree is not None
            and len(entries) == len(parent_entries)
            and all(parent_entries.get(e.name) == e for e in entries)
        ):
            return frame.parent_tree  # the same entries: the same tree, without hashing it again
        return self.store.write_tree(entries)

    def _count(self, size: int) -> None:
        self.counts.files += 1
        self.counts.bytes += size

    def _record(
        self, fh: IO[bytes] | None, cand: Candidate, decision: Decision, count: int | None = None
    ) -> None:
        if fh is None:
            return
        st = cand.st
        meta = ManifestEntry(
            path=cand.rel,
            kind=cand.kind.value,
            size=st.st_size if cand.kind is not Kind.DIR else 0,
            mode=st.st_mode,
            mtime_ns=st.st_mtime_ns,
            rule=decision.rule,
            reason=decision.reason,
            evidence=decision.evidence,
            count=count,
        )
        fh.write(meta.to_line())

    def _skip(self, cand: Candidate, decision: Decision, count: int | None = None) -> None:
        if not decision.record:
            return
        self.counts.skipped += 1
        self.counts.rules[decision.rule] = self.counts.rules.get(decision.rule, 0) + 1
        if cand.kind is not Kind.DIR:
            self.counts.skipped_bytes += cand.st.st_size
            self._record(self._skipped, cand, decision, count)
            return
        # A skipped directory is one record; a bounded stat walk gives it a file count, a total
        # size and the newest mtime, so a diff can say "build/ modified 224 MiB -> 224 MiB"
        # when a build rewrites files in place (the directory's own mtime would not change).
        files, size, mtime = summarise(os.path.join(self.root, cand.rel), cand.st.st_mtime_ns)
        self.counts.skipped_bytes += size
        meta = ManifestEntry(
            path=cand.rel,
            kind=Kind.DIR.value,
            size=size,
            mode=cand.st.st_mode,
            mtime_ns=mtime,
            rule=decision.rule,
            reason=decision.reason,
            evidence=decision.evidence,
            count=count if count is not None else files,
        )
        if self._skipped is not None:
            self._skipped.write(meta.to_line())

    def capture_one(
        self, cand: Candidate, decision: Decision, stamp: bytes | None = None
    ) -> Captured | Decision | None:
        """Store one symlink or regular file that phase 1 (``decision``) did not skip.

        ``stamp`` is what the decision was made under (the cache keeps it with the file).

        Returns:
            What was stored and the final decision, a skip decision (unreadable, content rule,
            budget, unstable), or None when the file vanished.
        """
        name = cand.rel.rsplit(b"/", 1)[-1]
        if cand.kind is Kind.SYMLINK:
            try:
                target = os.readlink(os.path.join(self.root, cand.rel))
            except FileNotFoundError:
                return None
            except OSError as exc:
                return _unreadable(exc)
            self._count(len(target))
            return Captured(Entry(name, MODE_LINK, self.store.write_blob(target)), decision)
        return self._file(cand, name, decision, stamp)

    def _file(
        self, cand: Candidate, name: bytes, decision: Decision, stamp: bytes | None
    ) -> Captured | Decision | None:
        mode = MODE_EXEC if cand.st.st_mode & 0o111 else MODE_FILE
        cached = self.cache.lookup(cand.rel, cand.st)
        ckey = self.policy.content_key
        if cached is not None and still_holds(cached, decision, ckey):
            # Unchanged content, and its content decision still follows from this phase 1.
            if stamp is not None:
                self.cache.restamp(cand.rel, cached, stamp)
            self._count(cand.st.st_size)
            return Captured(Entry(name, mode, cached.oid), cached.decision)
        phase1 = decision
        if (
            self.parent is not None
            and self._byte_budget is not None
            and self.counts.hashed_bytes + cand.st.st_size > self._byte_budget
        ):
            return skipped(
                "snapshot-budget",
                "this snapshot already read its byte budget of new content",
                f"{self.counts.hashed_bytes} bytes read, budget {self._byte_budget}",
            )
        full = os.path.join(self.root, cand.rel)
        for _attempt in range(READ_RETRIES):
            try:
                result = reading.read_file(self.store, self.policy, full, cand, decision)
            except FileNotFoundError:
                return None
            except OSError as exc:
                if exc.errno == errno.ELOOP:  # swapped for a symlink after lstat
                    continue
                if exc.errno in STORE_WRITE_ERRNOS:
                    raise  # the store's disk is full: fail the snapshot, never skip the file
                return _unreadable(exc)
            if result is None:
                continue  # changed while read: try again
            if isinstance(result, Decision):
                return result
            oid, st, decision = result
            self.counts.hashed += 1
            self.counts.hashed_bytes += st.st_size
            self.cache.store(
                cand.rel, st, oid, decision, time.time_ns(), stamp=stamp, phase1=phase1, ckey=ckey
            )
            self._count(st.st_size)
            return Captured(
                Entry(name, MODE_EXEC if st.st_mode & 0o111 else MODE_FILE, oid), decision
            )
        return skipped("unstable", "kept changing while it was read", f"{READ_RETRIES} tries")


STORE_WRITE_ERRNOS: Final = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})
"""Errors that only writing (the store) can raise: a file being captured is never "unreadable"
because of them."""


def _unreadable(exc: OSError) -> Decision:
    return skipped("unreadable", f"cannot be read: {exc.strerror}", f"errno {exc.errno}")
