"""Capture the worktree into the store: walk, decide, stream blobs, build trees, commit.

A snapshot is a commit whose tree is exactly the captured worktree (so ``git diff A B``
between two snapshots works), named by its own ref ``refs/snapd/snapshots/<seq>``; the
previous snapshot is named in a ``Snapd-Parent`` trailer, not linked as a commit parent, so
retention can drop any snapshot without rewriting the others. What was *not* captured, and
what was captured but generated, is recorded in two manifests (JSON lines sorted by path
bytes, ``skipped.jsonl`` and ``generated.jsonl``) in the tree of a small root commit that is
the snapshot's only parent: reachable from the ref, so ``git fsck`` and any gc keep them.

Files are hashed only when their stat signature changed since they were last hashed (a stat
cache with a racy-mtime guard, persisted in the store); with a watcher's dirty set, only the
directories on the way to a changed path are listed and every other subtree is reused.
Nothing is held whole in memory beyond a bounded chunk.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import stat
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Container, Iterable, Iterator
from typing import IO, Final

import attrs

from snapd import capture
from snapd.capture import Candidate, Decision, Kind, LStat, Policy, StatLike
from snapd.enums import Outcome
from snapd.paths import join, under
from snapd.store import (
    CHUNK,
    MODE_EXEC,
    MODE_FILE,
    MODE_LINK,
    MODE_TREE,
    CorruptObject,
    Entry,
    MissingObject,
    SizeMismatch,
    Store,
)

logger = logging.getLogger(__name__)

EMPTY_TREE: Final = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
EMPTY_BLOB: Final = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
MANIFEST_NAME: Final = b"skipped.jsonl"
GENERATED_NAME: Final = b"generated.jsonl"

RESCAN_NAMES: Final = frozenset({b".gitignore", b".snapdignore", b".gitattributes"})
"""Rule files: a change to one can change capture decisions in its whole directory subtree."""

RACY_NS: Final = 2_000_000_000
"""A file modified less than this long before it was hashed is re-hashed next time: its mtime
may not change on a further write in the same timestamp tick (git's "racy clean" problem)."""

READ_RETRIES: Final = 3
"""Attempts to read a file that keeps changing while it is read, before it is skipped."""


class Cancelled(Exception):
    """The capture was cancelled by its caller."""


@attrs.frozen(kw_only=True)
class Skipped:
    """Metadata of one path whose content is not in a snapshot."""

    path: bytes
    kind: str
    size: int
    mode: int
    mtime_ns: int
    rule: str
    reason: str
    evidence: str | None = None
    count: int | None = None
    """Entries a skipped directory held, when a budget skipped it."""

    def to_line(self) -> bytes:
        """Serialise as one manifest line."""
        obj = {
            "path": self.path.decode("utf-8", "surrogateescape"),
            "kind": self.kind,
            "size": self.size,
            "mode": self.mode,
            "mtimeNs": self.mtime_ns,
            "rule": self.rule,
            "reason": self.reason,
        }
        if self.evidence is not None:
            obj["evidence"] = self.evidence
        if self.count is not None:
            obj["count"] = self.count
        # ensure_ascii keeps lone surrogates (undecodable names) representable.
        return json.dumps(obj, separators=(",", ":")).encode("ascii") + b"\n"

    @classmethod
    def from_line(cls, line: bytes) -> Skipped:
        """Parse one manifest line."""
        obj = json.loads(line)
        return cls(
            path=obj["path"].encode("utf-8", "surrogateescape"),
            kind=obj["kind"],
            size=obj["size"],
            mode=obj["mode"],
            mtime_ns=obj["mtimeNs"],
            rule=obj["rule"],
            reason=obj["reason"],
            evidence=obj.get("evidence"),
            count=obj.get("count"),
        )

    def same_content(self, other: Skipped) -> bool:
        """Best evidence without content that nothing changed: kind, size, mode and mtime."""
        return (self.kind, self.size, self.mode, self.mtime_ns) == (
            other.kind,
            other.size,
            other.mode,
            other.mtime_ns,
        )


@attrs.frozen
class State:
    """A captured worktree state.

    The tree of captured content, and two manifests (sorted JSON lines): paths skipped
    (metadata only) and captured paths a tool generated.
    """

    tree: str
    manifest: str
    generated: str = EMPTY_BLOB


@attrs.define
class Counts:
    """What a capture saw."""

    files: int = 0
    bytes: int = 0
    skipped: int = 0
    skipped_bytes: int = 0
    hashed: int = 0
    hashed_bytes: int = 0
    rules: dict[str, int] = attrs.Factory(dict)
    """Skipped paths by rule."""
    generated: dict[str, int] = attrs.Factory(dict)
    """Captured-but-generated files by rule."""


_SIG = struct.Struct("<qqQQQ")  # mtime_ns, ctime_ns, size, ino, mode


@attrs.frozen
class _CacheEntry:
    """One cached file, kept compact (a daemon may cache 100,000s of them).

    The signature is packed into 40 bytes and the blob id kept as 20 raw bytes.
    """

    packed_sig: bytes
    raw_oid: bytes
    decision: Decision
    hashed_at_ns: int

    @property
    def sig(self) -> tuple[int, int, int, int, int]:
        """The stat signature."""
        a, b, c, d, e = _SIG.unpack(self.packed_sig)
        return (a, b, c, d, e)

    @property
    def oid(self) -> str:
        """The blob id (hex)."""
        return self.raw_oid.hex()


_DECISIONS: dict[Decision, Decision] = {}


def _shared(decision: Decision) -> Decision:
    """One instance per distinct decision (most cached files share plain ``captured``)."""
    if len(_DECISIONS) > 10_000:  # evidence strings can make decisions unique: stay bounded
        return decision
    return _DECISIONS.setdefault(decision, decision)


class StatCache:
    """Path -> (stat signature, blob id) of the files this process hashed.

    Only the store writer (which holds the writer lock) touches it.
    """

    FORMAT: Final = 1

    def __init__(self) -> None:
        self._entries: dict[bytes, _CacheEntry] = {}
        self.changed = False

    @staticmethod
    def signature(st: StatLike) -> tuple[int, int, int, int, int]:
        """The stat fields that change when content may have changed."""
        return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino, st.st_mode)

    def lookup(self, rel: bytes, st: StatLike) -> _CacheEntry | None:
        """The cached entry if ``st`` matches and the entry is not racily clean."""
        ent = self._entries.get(rel)
        if ent is None or ent.packed_sig != _SIG.pack(*self.signature(st)):
            return None
        if st.st_mtime_ns >= ent.hashed_at_ns - RACY_NS:
            return None
        return ent

    def store(self, rel: bytes, st: StatLike, oid: str, decision: Decision, at_ns: int) -> None:
        """Remember a hashed file and its content decision."""
        self._entries[rel] = _CacheEntry(
            _SIG.pack(*self.signature(st)), bytes.fromhex(oid), _shared(decision), at_ns
        )
        self.changed = True

    def discard(self, rel: bytes) -> None:
        """Forget one path (its cached decision no longer holds: the policy now skips it)."""
        if self._entries.pop(rel, None) is not None:
            self.changed = True

    def forget(self, oids: set[str]) -> None:
        """Drop entries whose blob was deleted (by garbage collection)."""
        raw = {bytes.fromhex(o) for o in oids}
        stale = [rel for rel, ent in self._entries.items() if ent.raw_oid in raw]
        for rel in stale:
            del self._entries[rel]
        if stale:
            self.changed = True

    def save(self, path: str) -> None:
        """Write the cache atomically (temp file + rename) as JSON lines.

        A crash mid-write leaves the previous file; a lost or stale cache only costs re-hashing,
        never a wrong snapshot (every entry is re-validated against a fresh lstat).
        """
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="ascii") as fh:
            fh.write(json.dumps({"format": self.FORMAT, "entries": len(self._entries)}) + "\n")
            for rel, ent in self._entries.items():
                d = ent.decision
                row = [
                    rel.decode("utf-8", "surrogateescape"),
                    list(ent.sig),
                    ent.oid,
                    ent.hashed_at_ns,
                    d.outcome.value,
                    d.rule,
                    d.reason,
                    d.evidence,
                    d.binary,
                ]
                fh.write(json.dumps(row, separators=(",", ":")) + "\n")
        os.replace(tmp, path)
        self.changed = False

    @classmethod
    def load(cls, path: str, store: Store) -> StatCache:
        """Read a saved cache, dropping entries whose blob is no longer in the store.

        A missing, unreadable or foreign-format file gives an empty cache.
        """
        cache = cls()
        try:
            fh = open(path, encoding="ascii")  # closed by the with below
        except OSError:
            return cache
        with fh:
            try:
                header = json.loads(fh.readline() or "{}")
                if header.get("format") != cls.FORMAT:
                    return cache
                for line in fh:
                    rel, sig, oid, at_ns, outcome, rule, reason, evidence, binary = json.loads(line)
                    if not store.contains(oid):
                        continue
                    decision = Decision(
                        outcome=Outcome(outcome),
                        rule=rule,
                        reason=reason,
                        evidence=evidence,
                        binary=binary,
                    )
                    cache._entries[rel.encode("utf-8", "surrogateescape")] = _CacheEntry(
                        _SIG.pack(*sig), bytes.fromhex(oid), _shared(decision), at_ns
                    )
            except (ValueError, TypeError, UnicodeError) as exc:
                logger.warning("ignoring unreadable stat cache %s: %s", path, exc)
                return cls()
        return cache

    def __len__(self) -> int:
        return len(self._entries)


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
    full_scan: bool
    pos: int = 0
    """The next entry of ``listing`` to capture."""
    entries: list[Entry] = attrs.Factory(list)


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
        self._parent_skipped: _ParentRecords | None = None
        self._parent_generated: _ParentRecords | None = None
        self.reused_trees = 0

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
                self._parent_skipped = _ParentRecords(self.store, self.parent.manifest)
                self._parent_generated = _ParentRecords(self.store, self.parent.generated)
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
        stack = [self._open(b"", parent_tree)]
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
        *,
        forced_only: bool = False,
        full_scan: bool = False,
    ) -> _Frame:
        """List one directory and decide its entries; ``forced_only`` inside a skipped one.

        In incremental mode a directory named dirty itself (created, renamed, or holding a
        changed ignore file) is scanned in full: its new entries may predate their events.

        Raises:
            _OverBudget: it gained more new entries than ``dir_new_file_budget``.
            OSError: it cannot be listed.
        """
        full_scan = full_scan or rel in self._dirty_paths
        full = os.path.join(self.root, rel) if rel else self.root
        listing: list[tuple[Candidate, Decision]] = []
        trust_cache = self.incremental and not full_scan
        for name, st in _sorted_entries(full):
            cand = Candidate(rel=join(rel, name), st=st)
            cached = (
                self.cache.lookup(cand.rel, st)
                if trust_cache and cand.kind is Kind.FILE and cand.rel not in self._dirty_paths
                else None
            )
            # An unchanged file (same stat signature, no rule file changed in its directory:
            # that would have forced a full scan) keeps its decision; the rest are decided.
            decision = cached.decision if cached is not None else self.policy.decide(cand)
            if cached is None and not decision.captured and cand.kind is Kind.FILE:
                # The policy changed its mind (an ignore rule, .git/info/exclude or the git
                # index changed): a cached "captured" must not come back on a later walk.
                self.cache.discard(cand.rel)
            if forced_only and decision.rule != "force-include":
                if cand.kind is not Kind.DIR or not self.policy.forced_below(cand.rel):
                    continue  # covered by the skipped ancestor's record
                decision = capture.skipped("force-include", "not forced", record=False)
            listing.append((cand, decision))
        parent_entries = (
            {e.name: e for e in self.store.read_tree(parent_tree)} if parent_tree else {}
        )
        # Paths a user forced in are exempt: the budget guesses at generated content.
        if rel and self.parent is not None and self._dir_budget is not None and not forced_only:
            captured = (c.rel.rsplit(b"/", 1)[-1] for c, d in listing if d.captured)
            counted = self._budgeted.new_entries(rel, captured, parent_entries)
            if counted is not None and counted[0] > self._dir_budget:
                raise _OverBudget(*counted)
        return _Frame(
            rel=rel,
            name=rel.rsplit(b"/", 1)[-1],
            parent_tree=parent_tree,
            parent_entries=parent_entries,
            listing=listing,
            full_scan=full_scan,
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
        while frame.pos < len(frame.listing):
            cand, decision = frame.listing[frame.pos]
            frame.pos += 1
            if self.cancel is not None and self.cancel.is_set():
                raise Cancelled
            self._seen += 1
            if self.progress is not None and self._seen % 500 == 0:
                self.progress(self._seen, cand.rel)
            name = cand.rel.rsplit(b"/", 1)[-1]
            if (
                cand.kind is Kind.DIR
                and not decision.captured
                and self._clean(cand.rel, full_scan)
                and self._parent_skipped is not None
                and self._skipped is not None
                and self._parent_skipped.copy(cand.rel + b"/", cand.rel + b"/\0", self._skipped)
            ):
                continue  # an unchanged skipped directory keeps its recorded summary
            if not decision.captured:
                self._skip(cand, decision)
                if cand.kind is Kind.DIR and self.policy.forced_below(cand.rel):
                    before = parent_entries.get(name)
                    try:
                        return self._open(
                            cand.rel,
                            before.id if before and before.is_tree else None,
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
                    continue
                try:
                    return self._open(
                        cand.rel,
                        before.id if before and before.is_tree else None,
                        full_scan=full_scan,
                    )
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
            result = self.capture_one(cand, decision)
            if isinstance(result, Decision):
                self._skip(cand, result)
            elif result is not None:
                entries.append(result.entry)
                if result.decision.generated:
                    self._record(self._generated, cand, result.decision)
                    rule = result.decision.rule
                    self.counts.generated[rule] = self.counts.generated.get(rule, 0) + 1
        return None

    def _finish(self, frame: _Frame) -> str | None:
        """Write a captured directory's tree (None when it holds nothing captured)."""
        entries, parent_entries = frame.entries, frame.parent_entries
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
        meta = Skipped(
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
        files, size, mtime = _summarise(os.path.join(self.root, cand.rel), cand.st.st_mtime_ns)
        self.counts.skipped_bytes += size
        meta = Skipped(
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

    def capture_one(self, cand: Candidate, decision: Decision) -> Captured | Decision | None:
        """Store one symlink or regular file that phase 1 (``decision``) did not skip.

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
        return self._file(cand, name, decision)

    def _file(self, cand: Candidate, name: bytes, decision: Decision) -> Captured | Decision | None:
        mode = MODE_EXEC if cand.st.st_mode & 0o111 else MODE_FILE
        cached = self.cache.lookup(cand.rel, cand.st)
        if cached is not None:
            self._count(cand.st.st_size)
            return Captured(Entry(name, mode, cached.oid), cached.decision)
        if (
            self.parent is not None
            and self._byte_budget is not None
            and self.counts.hashed_bytes + cand.st.st_size > self._byte_budget
        ):
            return capture.skipped(
                "snapshot-budget",
                "this snapshot already read its byte budget of new content",
                f"{self.counts.hashed_bytes} bytes read, budget {self._byte_budget}",
            )
        full = os.path.join(self.root, cand.rel)
        for _attempt in range(READ_RETRIES):
            try:
                result = self._read_file(full, cand, decision)
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
            self.cache.store(cand.rel, st, oid, decision, time.time_ns())
            self._count(st.st_size)
            return Captured(
                Entry(name, MODE_EXEC if st.st_mode & 0o111 else MODE_FILE, oid), decision
            )
        return capture.skipped(
            "unstable", "kept changing while it was read", f"{READ_RETRIES} tries"
        )

    def _read_file(
        self, full: bytes, cand: Candidate, decision: Decision
    ) -> tuple[str, os.stat_result, Decision] | Decision | None:
        """Stream one file into a blob; None if it changed while being read."""
        fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb", buffering=0) as fh:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return None
            phase1 = decision
            cand = Candidate(rel=cand.rel, st=st)
            if st.st_size <= CHUNK:
                # Small file (most of them): one bounded read, hash before any write.
                data = fh.read(CHUNK + 1)
                if len(data) != st.st_size:
                    return None
                decision = self.policy.decide_file(cand, data, lambda: data[-512:], phase1)
                if not decision.captured:
                    return decision
                if StatCache.signature(os.fstat(fd)) != StatCache.signature(st):
                    return None
                return self.store.write_small_blob(data), st, decision
            first = fh.read(CHUNK)
            # The size limit again on the fstat (the file may have grown since lstat), then
            # the content phase on its first bytes.
            decision = self.policy.decide_file(
                cand, first, lambda: _pread_tail(fd, st.st_size), phase1
            )
            if not decision.captured:
                return decision
            writer = self.store.blob_writer(st.st_size)
            try:
                writer.write(first)
                while chunk := fh.read(CHUNK):
                    writer.write(chunk)
                after = os.fstat(fd)
                if StatCache.signature(after) != StatCache.signature(st):
                    writer.abort()
                    return None
                oid = writer.finish()
            except SizeMismatch:
                writer.abort()
                return None
            except BaseException:
                writer.abort()
                raise
            return oid, st, decision


def over_budget(count: int, budget: int) -> Decision:
    """The skip decision of a directory that gained ``count`` > ``budget`` new entries."""
    return capture.skipped(
        "new-files-budget",
        "a directory that suddenly gained many files (likely generated)",
        f"{count} new entries since the last snapshot > budget {budget}",
    )


BUDGET_RULES: Final = frozenset({"new-files-budget", "snapshot-budget"})
"""Rules that skip a path only because of what else one snapshot saw: the next one retries."""


@attrs.frozen
class BudgetRecords:
    """A snapshot's records of paths skipped only by a budget (the next snapshot retries them)."""

    dirs: dict[bytes, int] = attrs.Factory(dict)
    """Directories skipped by ``new-files-budget``, with the count of entries it knew of
    (all those not captured by a snapshot)."""
    files: tuple[bytes, ...] = ()
    """Files skipped by ``snapshot-budget``."""

    @classmethod
    def read(cls, store: Store, manifest: str) -> BudgetRecords:
        """Stream a manifest for budget records (other lines are not even parsed).

        The last manifest's records are kept by id: the skipped set rarely changes between
        snapshots, so the next snapshot and ``snapd/explain`` usually ask for the same
        manifest, and an id always names the same content (it was checked when streamed).
        """
        if manifest == EMPTY_BLOB:
            return cls()
        memo = _BUDGET_MEMO.get(manifest)
        if memo is not None:
            return memo
        records = cls._read(store, manifest)
        _BUDGET_MEMO.clear()  # one entry: records can be as many as the manifest's lines
        _BUDGET_MEMO[manifest] = records
        return records

    @classmethod
    def _read(cls, store: Store, manifest: str) -> BudgetRecords:
        dirs: dict[bytes, int] = {}
        files: list[bytes] = []
        for line in _manifest_lines(store, manifest):
            if b'-budget"' not in line:
                continue
            rec = Skipped.from_line(line)
            if rec.rule == "new-files-budget":
                dirs[rec.path] = rec.count or 0
            elif rec.rule == "snapshot-budget":
                files.append(rec.path)
        return cls(dirs, tuple(files))

    def paths(self) -> tuple[bytes, ...]:
        """Every budget-skipped path."""
        return (*self.dirs, *self.files)

    def new_entries(
        self, rel: bytes, captured: Iterable[bytes], before: Container[bytes]
    ) -> tuple[int, int] | None:
        """What ``new-files-budget`` counts for directory ``rel`` (the walk and explain share it).

        Args:
            rel: The directory.
            captured: Names of its entries a snapshot captures now.
            before: Names in the snapshot's tree for it (empty when it had none).

        Returns:
            (entries new since the snapshot, entries not in its tree), or None when the
            snapshot knew all of them. A directory it skipped by ``new-files-budget`` was
            known as one record with the count of its uncaptured entries: only entries beyond
            that count are new since. A directory below one was known only as part of that
            record: all of it is known (it was never captured, so without this the budget
            would skip it again, one level deeper per snapshot, or forever).
        """
        known = self.dirs.get(rel, 0)
        if rel not in self.dirs and self.dirs and under(rel, tuple(self.dirs)):
            return None
        unseen = sum(1 for name in captured if name not in before)
        return unseen - known, unseen


_BUDGET_MEMO: dict[str, BudgetRecords] = {}
"""The last manifest read by :meth:`BudgetRecords.read`, by id (immutable: never invalidated)."""


def explain_budget(
    store: Store, policy: Policy, parent: State, rel: bytes, *, is_dir: bool
) -> Decision | None:
    """The ``new-files-budget`` skip a snapshot taken now would give ``rel`` or an ancestor.

    The walk's count (:meth:`BudgetRecords.new_entries`) for each directory on the way, with
    the walk's exemption: below a directory that is not captured itself (listed only for
    the forced paths under it), no budget applies. ``snapd/explain`` asks this so it says
    what the next snapshot does.
    """
    off = set(policy.options.disabled_rules)
    if "new-files-budget" in off or not rel:
        return None
    budget = policy.options.dir_new_file_budget
    budgeted = BudgetRecords.read(store, parent.manifest)
    parts = rel.split(b"/")
    # The parent's entries of the directory above the one checked (the root's, first).
    above = {e.name: e for e in store.read_tree(parent.tree)}
    for i in range(1, len(parts) + (1 if is_dir else 0)):
        directory = b"/".join(parts[:i])
        full = os.path.join(policy.root, directory)
        try:
            st = os.lstat(full)
            listed = _sorted_entries(full)
        except OSError:
            return None  # policy.explain says why it cannot be listed
        if not policy.decide(Candidate(rel=directory, st=st)).captured:
            return None  # the walk lists it only for the forced paths below: no budget
        before = above.get(parts[i - 1])
        had = (
            {e.name: e for e in store.read_tree(before.id)}
            if before is not None and before.is_tree
            else {}
        )
        above = had
        captured = (
            name
            for name, entry_st in listed
            if policy.decide(Candidate(rel=join(directory, name), st=entry_st)).captured
        )
        counted = budgeted.new_entries(directory, captured, had)
        if counted is None:
            return None  # inside a directory the parent skipped for its budget: all known
        if counted[0] > budget:
            return over_budget(counted[0], budget)
    return None


class _ParentRecords:
    """The parent snapshot's manifest records, consumed in walk (sort-key) order."""

    def __init__(self, store: Store, blob: str) -> None:
        self._records = iter_manifest(store, blob) if blob != EMPTY_BLOB else iter(())
        self._current = next(self._records, None)

    def copy(self, lo: bytes, hi: bytes, out: IO[bytes]) -> int:
        """Drop records before ``lo``; write those in ``[lo, hi)`` to ``out``; return how many.

        Calls come in increasing key order, so one forward pass serves the whole walk.
        """
        copied = 0
        while self._current is not None:
            key = self._current.path + (b"/" if self._current.kind == "dir" else b"")
            if key >= hi:
                break
            if key >= lo:
                out.write(self._current.to_line())
                copied += 1
            self._current = next(self._records, None)
        return copied


SUMMARY_MAX_ENTRIES: Final = 10_000
"""A skipped directory's summary walk stops after this many entries (bounded work)."""


def _summarise(full: bytes, own_mtime_ns: int) -> tuple[int, int, int]:
    """(files, total bytes, newest mtime_ns) under a directory, from lstat only, bounded."""
    files = size = 0
    newest = own_mtime_ns
    seen = 0
    stack = [full]
    while stack and seen < SUMMARY_MAX_ENTRIES:
        try:
            with os.scandir(stack.pop()) as it:
                for ent in it:
                    seen += 1
                    if seen > SUMMARY_MAX_ENTRIES:
                        break
                    try:
                        st = ent.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    newest = max(newest, st.st_mtime_ns)
                    if stat.S_ISDIR(st.st_mode):
                        stack.append(ent.path)
                    else:
                        files += 1
                        size += st.st_size
        except OSError:
            continue
    return files, size, newest


def _pread_tail(fd: int, size: int) -> bytes:
    return os.pread(fd, 512, max(0, size - 512))


STORE_WRITE_ERRNOS: Final = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})
"""Errors that only writing (the store) can raise: a file being captured is never "unreadable"
because of them."""

UNLISTABLE_ERRNOS: Final = frozenset({errno.ENAMETOOLONG, errno.ELOOP, errno.ENOTDIR, errno.EIO})
"""Errors listing a worktree directory that skip it (as ``unreadable``) rather than fail."""


def _unreadable(exc: OSError) -> Decision:
    return capture.skipped("unreadable", f"cannot be read: {exc.strerror}", f"errno {exc.errno}")


def _sorted_entries(full: bytes) -> list[tuple[bytes, LStat]]:
    """A directory's entries with their lstat, in git tree order (directories sort as 'name/')."""
    out: list[tuple[bytes, bytes, LStat]] = []
    with os.scandir(full) as it:
        for ent in it:
            try:
                st = LStat.of(ent.stat(follow_symlinks=False))
            except FileNotFoundError:
                continue
            key = ent.name + b"/" if stat.S_ISDIR(st.st_mode) else ent.name
            out.append((key, ent.name, st))
    out.sort(key=lambda item: item[0])
    return [(name, st) for _key, name, st in out]


# -- snapshot commits -----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SnapshotInfo:
    """A snapshot commit as snapd reads it back."""

    id: str
    parent: str | None
    time: int
    label: str | None
    files: int
    bytes: int
    skipped: int
    skipped_bytes: int
    changed: int
    state: State
    rules: dict[str, int] = attrs.Factory(dict)
    """Skipped paths by rule."""
    generated: dict[str, int] = attrs.Factory(dict)
    """Generated (captured) files by rule."""
    consistency: str = "reconciled"
    """``exact`` (watcher-synced incremental capture) or ``reconciled`` (full walk)."""
    auto: bool = False
    """Taken by the daemon after a quiet period rather than on request."""
    seq: int = 0
    """Sequence number of its ref (0 when read without one)."""
    is_snapshot: bool = True
    """False for a commit that is not a snapshot (e.g. a manifest commit)."""


TRAILERS: Final = ("Files", "Bytes", "Skipped", "Skipped-Bytes", "Changed")


def commit_snapshot(
    store: Store,
    state: State,
    counts: Counts,
    *,
    parent: str | None,
    label: str | None,
    changed: int,
    consistency: str = "reconciled",
    auto: bool = False,
) -> str:
    """Write the snapshot commit (and its manifest commit); the ref is not moved here."""
    meta_tree = store.write_tree(
        [
            Entry(MANIFEST_NAME, MODE_FILE, state.manifest),
            Entry(GENERATED_NAME, MODE_FILE, state.generated),
        ]
    )
    meta = store.write_commit(meta_tree, [], "snapd manifests: skipped and generated files\n")
    values = (counts.files, counts.bytes, counts.skipped, counts.skipped_bytes, changed)
    lines = [label or "snapshot", ""]
    lines += [f"Snapd-{name}: {value}" for name, value in zip(TRAILERS, values, strict=True)]
    lines.append("Snapd-Rules: " + json.dumps(counts.rules, sort_keys=True))
    lines.append("Snapd-Generated: " + json.dumps(counts.generated, sort_keys=True))
    lines.append(f"Snapd-Parent: {parent or 'none'}")
    lines.append(f"Snapd-Consistency: {consistency}")
    if auto:
        lines.append("Snapd-Auto: true")
    if label is not None:
        lines.append("Snapd-Label: " + json.dumps(label))
    # The only commit parent is the manifest commit: the previous snapshot is named in a
    # trailer, not linked, so retention can drop any snapshot without rewriting later ones
    # (their ids stay stable) and without a kept snapshot holding older ones alive.
    return store.write_commit(state.tree, [meta], "\n".join(lines) + "\n")


def read_snapshot(store: Store, oid: str) -> SnapshotInfo:
    """Read a snapshot commit written by :func:`commit_snapshot`.

    Raises:
        store.MissingObject: no such commit.
    """
    info = store.read_commit(oid)
    if not info.parents or "\nSnapd-Files: " not in info.message:
        return SnapshotInfo(
            id=oid,
            parent=None,
            time=info.time,
            label=None,
            files=0,
            bytes=0,
            skipped=0,
            skipped_bytes=0,
            changed=0,
            state=State(info.tree, EMPTY_BLOB),
            is_snapshot=False,
        )
    meta = info.parents[-1]
    parent: str | None = None
    meta_entries = {e.name: e.id for e in store.read_tree(store.read_commit(meta).tree)}
    fields: dict[str, int] = {}
    label: str | None = None
    maps: dict[str, dict[str, int]] = {"Rules": {}, "Generated": {}}
    words: dict[str, str] = {}
    for line in info.message.splitlines():
        key, sep, value = line.partition(": ")
        if not sep or not key.startswith("Snapd-"):
            continue
        name = key[len("Snapd-") :]
        if name == "Label":
            label = json.loads(value)
        elif name in maps:
            maps[name] = {str(k): int(v) for k, v in json.loads(value).items()}
        elif name in TRAILERS and value.isdigit():
            fields[name] = int(value)
        elif name in ("Consistency", "Auto"):
            words[name] = value.strip()
        elif name == "Parent" and value.strip() != "none":
            parent = value.strip()
    return SnapshotInfo(
        id=oid,
        parent=parent,
        time=info.time,
        label=label,
        files=fields.get("Files", 0),
        bytes=fields.get("Bytes", 0),
        skipped=fields.get("Skipped", 0),
        skipped_bytes=fields.get("Skipped-Bytes", 0),
        changed=fields.get("Changed", 0),
        state=State(
            info.tree,
            meta_entries.get(MANIFEST_NAME, EMPTY_BLOB),
            meta_entries.get(GENERATED_NAME, EMPTY_BLOB),
        ),
        rules=maps["Rules"],
        generated=maps["Generated"],
        consistency=words.get("Consistency", "reconciled"),
        auto=words.get("Auto") == "true",
    )


def iter_history(store: Store, before_seq: int | None = None) -> Iterator[SnapshotInfo]:
    """Retained snapshots newest first (optionally only those with ``seq < before_seq``).

    A ref whose commit is missing or damaged is skipped and recorded in
    ``store.damaged_refs``: one damaged snapshot must not hide the others.
    """
    for seq, oid in reversed(store.snapshot_refs()):
        if before_seq is not None and seq >= before_seq:
            continue
        try:
            info = read_snapshot(store, oid)
        except MissingObject as exc:
            store.damaged_ref(seq, oid, f"its commit is missing ({exc})")
            continue
        except CorruptObject as exc:
            store.damaged_ref(seq, oid, str(exc))
            continue
        yield attrs.evolve(info, seq=seq)


def iter_manifest(store: Store, manifest: str) -> Iterator[Skipped]:
    """Stream a manifest's entries in path order without loading it whole."""
    for line in _manifest_lines(store, manifest):
        yield Skipped.from_line(line)


def _manifest_lines(store: Store, manifest: str) -> Iterator[bytes]:
    rest = b""
    for chunk in store.iter_blob(manifest):
        rest += chunk
        *lines, rest = rest.split(b"\n")
        for line in lines:
            if line:
                yield line
    if rest.strip():
        yield rest
