"""The rules that skip a path: the git directory, special files, size, binary content, ignores."""

from __future__ import annotations

import logging
import os
import stat
import struct
import threading
import time
from typing import Final

import attrs
import pathspec

from snapd.capture.decision import RACY_NS, Candidate, Decision, Kind, skipped
from snapd.enums import Outcome
from snapd.gitdir import git_dir, git_info_dir
from snapd.paths import join

IGNORE_FILE_MAX = 1024 * 1024
"""An ignore file bigger than this is not read (a guard against a generated multi-GiB file)."""

logger = logging.getLogger(__name__)


SNAPD_IGNORE = b".snapdignore"
"""snapd's own ignore file (gitignore syntax); unlike .gitignore it applies to tracked files too."""


class GitDirRule:
    """``.git`` (the user's repository, or a submodule's) is never captured."""

    name = "git-dir"

    def decide(self, cand: Candidate) -> Decision | None:
        """Skip any path component named ``.git``."""
        if cand.rel.rsplit(b"/", 1)[-1] == b".git":
            return skipped(self.name, "git metadata is never captured", record=False)
        return None


class SpecialFileRule:
    """FIFOs, sockets and devices are recorded but never opened (opening a FIFO blocks)."""

    name = "special-file"

    def decide(self, cand: Candidate) -> Decision | None:
        """Skip anything that is not a file, directory or symlink."""
        if cand.kind is Kind.SPECIAL:
            return skipped(self.name, "not a regular file, directory or symlink")
        return None


class SizeLimitRule:
    """Regular files over the content limit are metadata only, tracked or untracked alike."""

    name = "size-limit"

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def decide(self, cand: Candidate) -> Decision | None:
        """Skip a regular file whose ``lstat`` size is over the limit (it is never opened)."""
        if cand.kind is Kind.FILE and cand.st.st_size > self.limit:
            return skipped(
                self.name,
                "larger than the content limit",
                f"{cand.st.st_size} bytes > limit {self.limit}",
            )
        return None


class BinaryRule:
    """A NUL byte in the prefix marks a file binary: still captured, but diffs give no hunks."""

    name = "binary"

    def decide_content(self, cand: Candidate, prefix: bytes, tail: bytes) -> Decision | None:
        """Mark binary content; never skips by itself."""
        if b"\0" in prefix:
            return Decision(
                outcome=Outcome.CAPTURED,
                rule=self.name,
                reason="captured (binary content)",
                evidence="NUL byte in the first bytes",
                binary=True,
            )
        return None


@attrs.frozen
class _IgnoreFile:
    source: str
    """Where the patterns came from, for evidence (``.gitignore``, ``src/.gitignore``, ...)."""
    base: bytes
    """Directory the patterns are relative to."""
    lines: list[str]
    spec: pathspec.GitIgnoreSpec


class IgnoreRule:
    """The ``.gitignore`` family plus ``.snapdignore``, with git's semantics.

    Precedence, lowest first: ``.git/info/exclude``, then ``.gitignore`` files from the root down
    (deeper files win), then ``.snapdignore`` files the same way. A path tracked in the user's
    index is not ignored by the git files (as in git), but ``.snapdignore`` still applies. A path
    inside an ignored directory is ignored. Ignore files are read lazily and cached per instance.
    """

    name = "ignore-file"

    def __init__(self, root: bytes, tracked: frozenset[bytes], tracked_dirs: frozenset[bytes]):
        self.root = root
        self.tracked = tracked
        self._tracked_dirs = tracked_dirs
        self._files: dict[tuple[bytes, bytes], _IgnoreFile | None] = {}
        self._chains: dict[tuple[bytes, bytes], list[_IgnoreFile]] = {}
        self._exclude = self._load(os.path.join(git_info_dir(root), b"exclude"), b"", None)

    def read(self, directory: bytes) -> set[bytes]:
        """Read ``directory``'s ignore files now (kept for this instance); the names found."""
        return {n for n in (b".gitignore", SNAPD_IGNORE) if self._file(directory, n) is not None}

    @property
    def has_exclude(self) -> bool:
        """True if ``info/exclude`` was read."""
        return self._exclude is not None

    def _load(self, full: bytes, base: bytes, source: str | None) -> _IgnoreFile | None:
        try:
            st = os.lstat(full)
            if not stat.S_ISREG(st.st_mode) or st.st_size > IGNORE_FILE_MAX:
                return None
            with open(full, "rb") as fh:
                text = fh.read(IGNORE_FILE_MAX).decode("utf-8", "surrogateescape")
        except OSError:
            return None
        lines = text.splitlines()
        label = source or os.fsdecode(os.path.relpath(full, self.root))
        return _IgnoreFile(label, base, lines, pathspec.GitIgnoreSpec.from_lines(lines))

    def _file(self, directory: bytes, name: bytes) -> _IgnoreFile | None:
        key = (directory, name)
        if key not in self._files:
            full = (
                os.path.join(self.root, directory, name)
                if directory
                else os.path.join(self.root, name)
            )
            source = os.fsdecode(join(directory, name))
            self._files[key] = self._load(full, directory, source)
        return self._files[key]

    @staticmethod
    def _match(ign: _IgnoreFile, rel: bytes, is_dir: bool) -> tuple[bool, str] | None:
        sub = rel[len(ign.base) + 1 :] if ign.base else rel
        text = os.fsdecode(sub) + ("/" if is_dir else "")
        res = ign.spec.check_file(text)
        if res.include is None or res.index is None:
            return None
        return bool(res.include), f"{ign.source}:{res.index + 1}: {ign.lines[res.index]}"

    def _chain(self, directory: bytes, name: bytes) -> list[_IgnoreFile]:
        """The ignore files named ``name`` from the root down to ``directory`` (cached)."""
        tag = b"\0" + name
        chain = self._chains.get((directory, tag))
        if chain is not None:
            return chain
        # Iterative, not recursive: a worktree may be nested deeper than Python's recursion
        # limit. Climb to the nearest cached ancestor, then build the chains back down.
        missing = [directory]
        while missing[-1]:
            up = missing[-1].rpartition(b"/")[0]
            if (cached := self._chains.get((up, tag))) is not None:
                chain = cached
                break
            missing.append(up)
        else:
            chain = []
        for current in reversed(missing):
            own = self._file(current, name)
            if own is not None:
                chain = [*chain, own]
            self._chains[(current, tag)] = chain
        return chain

    def _verdict(self, rel: bytes, is_dir: bool, name: bytes) -> tuple[bool, str] | None:
        verdict: tuple[bool, str] | None = None
        for ign in self._chain(rel.rpartition(b"/")[0], name):
            if (m := self._match(ign, rel, is_dir)) is not None:
                verdict = m
        return verdict

    def decide(self, cand: Candidate) -> Decision | None:
        """Skip ignored paths; evidence names the ignore file, line and pattern."""
        is_dir = cand.kind is Kind.DIR
        snapd = self._verdict(cand.rel, is_dir, SNAPD_IGNORE)
        if snapd is not None and snapd[0]:
            return skipped(self.name, "ignored by .snapdignore", snapd[1])
        if cand.rel in self.tracked or (is_dir and cand.rel in self._tracked_dirs):
            return None
        verdict: tuple[bool, str] | None = None
        if self._exclude is not None:
            verdict = self._match(self._exclude, cand.rel, is_dir)
        git = self._verdict(cand.rel, is_dir, b".gitignore")
        if git is not None:
            verdict = git
        if verdict is not None and verdict[0]:
            return skipped(self.name, "ignored by the .gitignore family", verdict[1])
        return None


@attrs.frozen
class Tracked:
    """The paths in the user's git index, and every directory that holds one."""

    paths: frozenset[bytes]
    dirs: frozenset[bytes]

    @classmethod
    def of(cls, paths: frozenset[bytes]) -> Tracked:
        """``paths`` with their directories."""
        dirs: set[bytes] = set()
        for path in paths:
            head = path.rpartition(b"/")[0]
            while head and head not in dirs:
                dirs.add(head)
                head = head.rpartition(b"/")[0]
        return cls(paths, frozenset(dirs))


NOT_TRACKED: Final = Tracked(frozenset(), frozenset())

TRACKED_CACHE_SIZE: Final = 4
"""Indexes whose parsed paths are kept (one per worktree a process serves, with room)."""


_tracked_cache: dict[bytes, tuple[tuple[int, ...], Tracked]] = {}
_tracked_lock = threading.Lock()


def read_tracked(root: bytes) -> Tracked:
    """The user's git index, read-only (no git config, hooks or filters run).

    Parsing a 100,000-entry index takes seconds, and every snapshot and live diff builds a
    policy: the parsed paths are kept with the index file's ``stat`` signature (device,
    inode, size, mtime, ctime) and reused while it is unchanged.

    Returns :data:`NOT_TRACKED` when the worktree is not a git checkout or the index is
    unreadable.
    """
    from dulwich.errors import ChecksumMismatch
    from dulwich.index import Index

    try:
        gitdir = git_dir(root)
        if gitdir is None:
            return NOT_TRACKED
        index_path = os.path.join(gitdir, b"index")
        # The signature is taken before the parse: what is parsed is at least this new.
        st = os.stat(index_path)
        if not stat.S_ISREG(st.st_mode):
            return NOT_TRACKED
        sig = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        with _tracked_lock:
            hit = _tracked_cache.get(index_path)
        if hit is not None and hit[0] == sig:
            return hit[1]
        tracked = Tracked.of(frozenset(Index(index_path, read=True).paths()))
    except FileNotFoundError:
        return NOT_TRACKED
    except (OSError, ValueError, AssertionError, struct.error, ChecksumMismatch) as exc:
        # dulwich raises AssertionError/ValueError on an index format it does not know,
        # struct.error on a truncated one and ChecksumMismatch on a damaged one.
        logger.warning("cannot read the git index under %r: %s", root, exc)
        return NOT_TRACKED
    # An index written within the racy window is parsed again next time: a rewrite in place,
    # of the same size, within its timestamp tick would keep its signature (git renames a new
    # index into place, which changes the inode, but another tool might not).
    if time.time_ns() - st.st_mtime_ns >= RACY_NS:
        with _tracked_lock:
            _tracked_cache.pop(index_path, None)
            _tracked_cache[index_path] = (sig, tracked)
            while len(_tracked_cache) > TRACKED_CACHE_SIZE:
                del _tracked_cache[next(iter(_tracked_cache))]
    return tracked


def tracked_paths(root: bytes) -> frozenset[bytes]:
    """The paths in the user's git index (see :func:`read_tracked`)."""
    return read_tracked(root).paths
