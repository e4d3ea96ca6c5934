"""The directory map: what each captured directory held when a walk last listed it.

A full walk ("reconcile") has to find every change, but on a large tree almost nothing
changed. The map lets it find the changes at the cost of the file system's ``lstat`` calls,
without listing, deciding or reading what is unchanged (git's untracked cache and cache-tree
ideas together):

- each directory a snapshot captured as a tree has a record: its own ``lstat`` signature
  taken *before* it was listed, the signature of every non-directory entry as listed, the
  subdirectories the walk entered (each with a record of its own), the other
  subdirectories (skipped ones, whose recorded summary must be measured again; unreadable
  ones) and the quiet ones (skipped without a record, like ``.git``: never looked into);
- :meth:`DirMap.check` walks the records, ``lstat``-ing every directory and every known file:
  a directory whose signature changed (or whose file system does not promise that adding or
  removing an entry changes it) is listed again and compared by name; a file whose signature
  changed, a name that came or went and every skipped subdirectory is *dirty*;
- the dirty set then drives the same incremental capture a watcher's dirty set does: only the
  directories on the way to a dirty path are listed, every other subtree keeps its tree id.

Every signature recorded within the racy window of the walk's start is recorded as unknown
(:data:`UNKNOWN` for a file, None for a directory) and never matches, so a change in the same
timestamp tick as a listing is found. The
map is valid only for the snapshot state it was committed with and the policy stamp (options,
code, the user's git metadata) it was made under; anything else walks everything. It lives in
the store next to the stat cache and survives restarts; a lost, damaged or foreign map only
costs one full walk.
"""

from __future__ import annotations

import functools
import itertools
import logging
import operator
import os
import stat
import struct
import time
from collections.abc import Iterable, Sequence
from typing import Final, TypeAlias

import attrs

from snapd.capture.decision import RACY_NS, SIGNATURE, signature
from snapd.capture.sealed import read_sealed, write_sealed
from snapd.paths import join
from snapd.store.history import State

logger = logging.getLogger(__name__)

FileSig: TypeAlias = tuple[int, int, int, int, int]
"""A non-directory's signature: mtime_ns, ctime_ns, size, ino, mode."""

DirSig: TypeAlias = tuple[int, int, int, int]
"""A directory's signature: mtime_ns, ctime_ns, ino, mode."""

Record: TypeAlias = tuple[
    DirSig | None,
    tuple[bytes, ...],
    bytes,
    tuple[bytes, ...],
    tuple[bytes, ...],
    tuple[bytes, ...],
]
"""One directory: its signature, its non-directory names and their signatures (same order,
packed by :func:`pack_sigs`), the subdirectories the walk entered, the other subdirectories
(looked at again on every walk: skipped with a record, unreadable), and the quiet ones
(skipped without a record, like ``.git``: nothing in them can change the snapshot)."""

UNKNOWN: Final[FileSig] = (-1, -1, 0, 0, 0)
"""Recorded for a file listed within the racy window: no ``lstat`` has a ctime of -1."""

MISSING: Final[FileSig] = (-2, -2, 0, 0, 0)
"""What a file that cannot be ``lstat``-ed now compares as."""

dir_sig: Final = operator.attrgetter("st_mtime_ns", "st_ctime_ns", "st_ino", "st_mode")

LOCAL_FILE_SYSTEMS: Final = frozenset(
    {"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "overlay", "zfs", "f2fs", "bcachefs"}
)
"""File systems that change a directory's mtime whenever an entry is added, removed or renamed
(what skipping a directory's listing relies on). On others (network and FUSE file systems)
every directory is listed again, as git's untracked cache refuses such file systems."""

_MAGIC: Final = b"snapd-dirmap 3\n"


FINE_RACY_NS: Final = 50_000_000
"""The racy window on a local file system with sub-second timestamps: the kernel stamps files
from a clock that advances every tick (at most 10 ms), so a file modified more than this long
before it was looked at gets a different mtime from any later change."""


def racy_window(root_ctime_ns: int, fs: str | None) -> int:
    """The racy window for a worktree on file system ``fs`` whose root has that ctime.

    Fine on local file systems that keep sub-second timestamps (the root's ctime, which only
    the kernel sets, has a sub-second part), else :data:`~snapd.capture.decision.RACY_NS` (an
    ext4 with small inodes keeps whole seconds).
    """
    if fs in LOCAL_FILE_SYSTEMS and root_ctime_ns % 1_000_000_000:
        return FINE_RACY_NS
    return RACY_NS


@functools.lru_cache(maxsize=256)
def _sigs_struct(count: int) -> struct.Struct:
    return struct.Struct("<" + SIGNATURE.format[1:] * count)


def pack_sigs(sigs: Sequence[FileSig]) -> bytes:
    """File signatures as 40 bytes each (a map of 100,000 files holds 4 MB of them)."""
    return _sigs_struct(len(sigs)).pack(*itertools.chain.from_iterable(sigs))


def unpack_sigs(packed: bytes) -> list[FileSig]:
    """The signatures :func:`pack_sigs` packed."""
    flat = _sigs_struct(len(packed) // 40).unpack(packed)
    return [(a, b, c, d, e) for a, b, c, d, e in zip(*[iter(flat)] * 5, strict=True)]


def record_of(
    st: os.stat_result,
    files: Iterable[tuple[bytes, FileSig]],
    entered: Iterable[bytes],
    others: Iterable[bytes],
    quiet: Iterable[bytes],
    now_ns: int,
    racy_ns: int = RACY_NS,
) -> Record:
    """A directory's record from its ``lstat`` (taken before listing it) and its listing."""
    names: list[bytes] = []
    sigs: list[FileSig] = []
    for name, sig in files:
        names.append(name)
        sigs.append(UNKNOWN if sig[0] >= now_ns - racy_ns else sig)
    own = None if st.st_mtime_ns >= now_ns - racy_ns else dir_sig(st)
    return (own, tuple(names), pack_sigs(sigs), tuple(entered), tuple(others), tuple(quiet))


@attrs.define
class Check:
    """What :meth:`DirMap.check` found."""

    dirty: frozenset[bytes]
    """Paths that changed, came or went, and skipped directories to measure again."""
    refreshed: dict[bytes, DirSig]
    """Directories whose signature moved but whose names did not: their new signature."""
    files: int
    """Files whose signature was compared."""


def fs_type(path: str) -> str | None:
    """The type of the file system ``path`` is on (from ``/proc/self/mountinfo``), if known."""
    best, kind = "", None
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                fields = line.split()
                try:
                    sep = fields.index("-")
                except ValueError:
                    continue
                mount = fields[4].replace("\\040", " ")
                inside = path == mount or path.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) >= len(best) and sep + 1 < len(fields):
                    best, kind = mount, fields[sep + 1]
    except OSError:
        return None
    return kind


class DirMap:
    """Records of the directories the committed snapshot ``state`` was captured from.

    Only the store writer (which holds the writer lock) touches it.
    """

    def __init__(self) -> None:
        self.records: dict[bytes, Record] = {}
        self.state: State | None = None
        """The snapshot state the records describe (None: no usable map)."""
        self.stamp: bytes | None = None
        """The policy stamp the records' walk ran under."""
        self.changed = False

    def fits(self, state: State | None, stamp: bytes | None) -> bool:
        """True if the map describes ``state`` and was made under policy stamp ``stamp``."""
        return (
            state is not None
            and stamp is not None
            and self.state == state
            and self.stamp == stamp
            and b"" in self.records
        )

    def check(self, root: bytes, *, trust_mtime: bool, racy_ns: int = RACY_NS) -> Check:
        """``lstat`` every recorded directory and file; list only directories that moved.

        Args:
            root: The worktree root.
            trust_mtime: The file system changes a directory's mtime on every entry added or
                removed; False lists every directory again.
            racy_ns: A directory modified this long before the check began keeps its old
                signature (and is listed again next time): an entry added in the same tick
                might not move the new one.
        """
        old_enough = time.time_ns() - racy_ns
        dirty: set[bytes] = set()
        refreshed: dict[bytes, DirSig] = {}
        records = self.records
        stack = [b""]
        compared = 0
        while stack:
            rel = stack.pop()
            rec = records.get(rel)
            full = os.path.join(root, rel) if rel else root
            if rec is None:
                dirty.add(rel)
                continue
            own, files, sigs, entered, others, quiet = rec
            try:
                st = os.lstat(full)
            except OSError:
                dirty.add(rel)
                continue
            if not stat.S_ISDIR(st.st_mode):
                dirty.add(rel)
                continue
            now = dir_sig(st)
            if own is None or now != own or not trust_mtime:
                try:
                    names = set(os.listdir(full))
                except OSError:
                    dirty.add(rel)
                    continue
                known = {*files, *entered, *others, *quiet}
                if names != known:
                    dirty.update(join(rel, name) for name in names ^ known)
                elif now != own and now[0] < old_enough:
                    refreshed[rel] = now  # same names: only the signature moved
            prefix = full + b"/"
            compared += len(files)
            current: list[FileSig]
            try:
                current = list(map(signature, map(os.lstat, [prefix + n for n in files])))
            except OSError:  # one vanished or cannot be read: compare one by one
                current = list(map(_sig_or_missing, [prefix + n for n in files]))
            if pack_sigs(current) != sigs:
                dirty.update(
                    join(rel, name)
                    for name, was, cur in zip(files, unpack_sigs(sigs), current, strict=True)
                    if was != cur  # UNKNOWN matches nothing
                )
            dirty.update(join(rel, name) for name in others)
            stack.extend(join(rel, name) for name in entered)
        return Check(frozenset(dirty), refreshed, compared)

    def commit(
        self,
        parent: State | None,
        state: State,
        stamp: bytes | None,
        listings: dict[bytes, Record],
        *,
        full: bool,
        refreshed: dict[bytes, DirSig] | None = None,
    ) -> None:
        """Make the map describe ``state``, which a walk producing ``listings`` recorded.

        An incremental walk reused every directory it did not list from ``parent``: their
        records carry over only if the map described ``parent`` under the same stamp;
        otherwise the map is forgotten (the next full walk makes a new one).

        Args:
            parent: The state the walk started from (None for the first snapshot).
            state: The snapshot state now at the head.
            stamp: The policy stamp the walk ran under.
            listings: The records of the directories the walk listed.
            full: The walk listed every directory (the old records are dropped).
            refreshed: New signatures of directories a check found with unchanged names.
        """
        if full:
            self.records = dict(listings)
        elif self.fits(parent, stamp):
            for rel, sig in (refreshed or {}).items():
                rec = self.records.get(rel)
                if rec is not None:
                    self.records[rel] = (sig, *rec[1:])
            left = [
                join(rel, name)
                for rel, rec in listings.items()
                if (old := self.records.get(rel)) is not None
                for name in set(old[3]).difference(rec[3])
            ]
            self.records.update(listings)
            if left:  # a directory went, or is skipped now: its records and those below
                self._prune()
        else:
            self.invalidate()
            return
        self.state = state
        self.stamp = stamp
        self.changed = True

    def invalidate(self) -> None:
        """Forget the records (the head moved to a state no walk listed)."""
        if self.state is not None or self.records:
            self.records = {}
            self.state = None
            self.stamp = None
            self.changed = True

    def _prune(self) -> None:
        """Drop records no longer reachable from the root's (directories gone or skipped)."""
        keep: dict[bytes, Record] = {}
        stack = [b""]
        while stack:
            rel = stack.pop()
            rec = self.records.get(rel)
            if rec is None:
                continue
            keep[rel] = rec
            stack.extend(join(rel, name) for name in rec[3])
        self.records = keep

    # -- persistence ---------------------------------------------------------------------------

    def save(self, path: str) -> None:
        """Write the map atomically (see :mod:`~snapd.capture.sealed`)."""
        value = None
        if self.state is not None:
            state = (self.state.tree, self.state.manifest, self.state.generated)
            value = (state, self.stamp, self.records)
        write_sealed(path, _MAGIC, value)
        self.changed = False

    @classmethod
    def load(cls, path: str) -> DirMap:
        """Read a saved map; a missing, damaged or foreign one gives an empty map."""
        dirmap = cls()
        try:
            loaded = read_sealed(path, _MAGIC, "directory map")
            if loaded is not None:
                (tree, manifest, generated), stamp, records = loaded
                if not isinstance(records, dict) or not isinstance(stamp, bytes | None):
                    raise TypeError("a directory map of the wrong shape")
                dirmap.state = State(tree, manifest, generated)
                dirmap.stamp = stamp
                dirmap.records = records
        except (ValueError, TypeError, EOFError) as exc:
            logger.warning("ignoring an unreadable directory map %s: %s", path, exc)
            return cls()
        return dirmap


def _sig_or_missing(path: bytes) -> FileSig:
    try:
        sig: FileSig = signature(os.lstat(path))
    except OSError:
        return MISSING
    return sig
