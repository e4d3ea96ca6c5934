"""The capture policy: the one predicate that decides what a snapshot stores.

Snapshot, diff against the live tree, ``snapd/explain`` (and restore, later) all ask a
:class:`Policy`. It decides in two phases so that nothing is read before it must be:

1. :meth:`Policy.decide` looks only at the path and its ``lstat`` result (ignore files, ``.git``,
   file kind, the size limit). A file over the limit is never opened.
2. :meth:`Policy.decide_content` looks at a bounded prefix (``Options.sniff_bytes``) of a file
   that passed phase 1: binary detection now, content-marker rules later.

Rules are small named objects tried in order; the first that returns a :class:`Decision` wins.
New rules (generated-artifact detection) plug in by joining :attr:`Policy.rules`.
"""

from __future__ import annotations

import enum
import logging
import os
import re
import stat
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import attrs
import pathspec

from snapd.enums import Outcome
from snapd.gitdir import git_dir, git_info_dir
from snapd.paths import join

if TYPE_CHECKING:
    from snapd.config import Options

logger = logging.getLogger(__name__)

IGNORE_FILE_MAX = 1024 * 1024
"""An ignore file bigger than this is not read (a guard against a generated multi-GiB file)."""

SNAPD_IGNORE = b".snapdignore"
"""snapd's own ignore file (gitignore syntax); unlike .gitignore it applies to tracked files too."""


class Kind(enum.StrEnum):
    """The file kind, from ``lstat`` (symlinks are never followed)."""

    FILE = "file"
    """A regular file."""

    DIR = "dir"
    """A directory."""

    SYMLINK = "symlink"
    """A symbolic link; its target string is the content."""

    SPECIAL = "special"
    """A FIFO, socket or device: never opened."""

    @classmethod
    def of(cls, st: StatLike) -> Kind:
        """Classify an ``lstat`` result."""
        if stat.S_ISREG(st.st_mode):
            return cls.FILE
        if stat.S_ISDIR(st.st_mode):
            return cls.DIR
        if stat.S_ISLNK(st.st_mode):
            return cls.SYMLINK
        return cls.SPECIAL


class StatLike(Protocol):
    """The ``lstat`` fields snapd uses: an ``os.stat_result`` or a compact :class:`LStat`."""

    @property
    def st_mode(self) -> int:
        """File type and permission bits."""

    @property
    def st_size(self) -> int:
        """Size in bytes."""

    @property
    def st_mtime_ns(self) -> int:
        """Modification time."""

    @property
    def st_ctime_ns(self) -> int:
        """Status change time."""

    @property
    def st_ino(self) -> int:
        """Inode number."""


@attrs.frozen(slots=True)
class LStat:
    """The ``lstat`` fields snapd keeps per listed entry.

    An ``os.stat_result`` holds about 20 objects (~580 bytes): the 100,000 entries of one
    directory held 58 MiB of them while it was captured; these take about a third.
    """

    st_mode: int
    st_size: int
    st_mtime_ns: int
    st_ctime_ns: int
    st_ino: int

    @classmethod
    def of(cls, st: os.stat_result) -> LStat:
        """Keep what snapd needs of a full ``stat`` result."""
        return cls(st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


@attrs.frozen(kw_only=True)
class Decision:
    """The policy's answer for one path."""

    outcome: Outcome
    """Captured or skipped."""

    rule: str
    """Name of the rule that decided (``captured`` when no rule objected)."""

    reason: str
    """One human-readable sentence."""

    evidence: str | None = None
    """What the rule saw: the ignore file and line, the size against the limit, ..."""

    record: bool = True
    """False for paths never worth listing as skipped (``.git`` itself)."""

    binary: bool = False
    """A captured file whose prefix looks binary (diffs give no hunks)."""

    @property
    def captured(self) -> bool:
        """True if the content is stored (plain or generated)."""
        return self.outcome is not Outcome.SKIPPED

    @property
    def generated(self) -> bool:
        """True for captured content a tool wrote."""
        return self.outcome is Outcome.GENERATED


CAPTURED = Decision(outcome=Outcome.CAPTURED, rule="captured", reason="captured")


@attrs.frozen(kw_only=True)
class Candidate:
    """A path under consideration: its relative path and ``lstat`` result."""

    rel: bytes
    """Worktree-relative path."""

    st: StatLike
    """``os.lstat`` of the path."""

    kind: Kind = attrs.field(init=False)
    """The file kind (computed once: every rule asks)."""

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "kind", Kind.of(self.st))


class Rule(Protocol):
    """A metadata-phase rule: decides from the path and ``lstat`` alone, or returns None."""

    name: str

    def decide(self, cand: Candidate) -> Decision | None:
        """Return a decision, or None to let later rules decide."""


class ContentRule(Protocol):
    """A content-phase rule: decides from a bounded prefix of a regular file."""

    name: str

    def decide_content(self, cand: Candidate, prefix: bytes, tail: bytes) -> Decision | None:
        """Return a decision, or None to let later rules decide.

        ``prefix`` is at most ``Options.sniff_bytes`` from the start, ``tail`` at most 512 bytes
        from the end (the same bytes as the prefix's end for a small file).
        """


def skipped(
    rule: str, reason: str, evidence: str | None = None, *, record: bool = True
) -> Decision:
    """Build a skipped decision."""
    return Decision(
        outcome=Outcome.SKIPPED, rule=rule, reason=reason, evidence=evidence, record=record
    )


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


_ABSENT = os.stat_result((stat.S_IFREG | 0o644, 0, 0, 1, 0, 0, 0, 0, 0, 0))
"""The ``lstat`` a path that does not exist is decided with (by its name, as a regular file)."""


def read_tracked(root: bytes) -> frozenset[bytes]:
    """Paths in the user's git index, read-only (no git config, hooks or filters run).

    Returns an empty set when the worktree is not a git checkout or the index is unreadable.
    """
    from dulwich.index import Index

    try:
        gitdir = git_dir(root)
        if gitdir is None:
            return frozenset()
        index_path = os.path.join(gitdir, b"index")
        if not os.path.isfile(index_path):
            return frozenset()
        return frozenset(Index(index_path, read=True).paths())
    except (OSError, ValueError, AssertionError, struct.error) as exc:
        # dulwich raises AssertionError/ValueError on an index format it does not know, and
        # struct.error on a truncated one.
        logger.warning("cannot read the git index under %r: %s", root, exc)
        return frozenset()


class Policy:
    """The capture predicate for one worktree, configured by :class:`Options`.

    An instance caches ignore and attributes files and the tracked set, so make one per
    snapshot or request: it then sees those files as they are at that moment.

    Order: ``.git`` and special files first (nothing overrides them), then the user's
    ``forceExclude`` and ``forceInclude`` patterns (a forced include still obeys the size
    limit), then the rules in :attr:`rules`, which ``disabledRules`` can switch off by name.
    """

    def __init__(self, root: bytes, options: Options, *, tracked: frozenset[bytes] | None = None):
        from snapd import generated as gen
        from snapd.attributes import Attributes

        self.root = root
        self.options = options
        self.tracked = read_tracked(root) if tracked is None else tracked
        dirs: set[bytes] = set()
        for path in self.tracked:
            parts = path.split(b"/")[:-1]
            for i in range(1, len(parts) + 1):
                dirs.add(b"/".join(parts[:i]))
        self.tracked_dirs = frozenset(dirs)
        self.guards: list[Rule] = [GitDirRule(), SpecialFileRule()]
        self.size_rule = SizeLimitRule(options.content_limit)
        off = set(options.disabled_rules)
        rules: list[Rule] = [
            IgnoreRule(root, self.tracked, self.tracked_dirs),
            gen.GitAttributesRule(Attributes(root)),
            gen.BuildDirRule(root, self.tracked_dirs),
            gen.BuildFileRule(),
            self.size_rule,
            gen.LockfileRule(),
            gen.GeneratedNameRule(),
        ]
        self.rules = [r for r in rules if r.name not in off or r is self.size_rule]
        content: list[ContentRule] = [BinaryRule(), gen.ContentMarkerRule(), gen.ShapeRule()]
        self.content_rules = [r for r in content if r.name not in off]
        self.force_exclude = _patterns(options.force_exclude)
        self.force_include = _patterns(options.force_include)

    def decide(self, cand: Candidate) -> Decision:
        """Phase 1: decide from the path and ``lstat`` only."""
        for rule in self.guards:
            if (decision := rule.decide(cand)) is not None:
                return decision
        forced = _forced(self.force_exclude, cand)
        if forced is not None:
            return skipped("force-exclude", "excluded by configuration", f"forceExclude: {forced}")
        forced = _forced(self.force_include, cand)
        if forced is not None:
            if (decision := self.size_rule.decide(cand)) is not None:
                return decision
            return Decision(
                outcome=Outcome.CAPTURED,
                rule="force-include",
                reason="included by configuration",
                evidence=f"forceInclude: {forced}",
            )
        for rule in self.rules:
            if (decision := rule.decide(cand)) is not None:
                return decision
        return CAPTURED

    def forced_below(self, directory: bytes) -> bool:
        """True if a ``forceInclude`` pattern names something inside ``directory``.

        A skipped directory is then still entered, for the forced paths only. Only patterns
        with a literal directory part count: ``*.keep`` alone never opens ``node_modules/``.
        """
        if self.force_include is None:
            return False
        prefix = os.fsdecode(directory) + "/"
        for pattern in self.force_include[1]:
            literal = re.split(r"[*?\[]", pattern.lstrip("/"), maxsplit=1)[0]
            if literal.startswith(prefix) or (literal and prefix.startswith(literal + "/")):
                return True
        return False

    def decide_content(self, cand: Candidate, prefix: bytes, tail: bytes = b"") -> Decision:
        """Phase 2: decide from a bounded prefix (and tail) of a file that passed phase 1."""
        prefix = prefix[: self.options.sniff_bytes]
        tail = tail or prefix[-512:]
        for rule in self.content_rules:
            if (decision := rule.decide_content(cand, prefix, tail)) is not None:
                return decision
        return CAPTURED

    def decide_file(
        self,
        cand: Candidate,
        first: bytes,
        read_tail: Callable[[], bytes],
        phase1: Decision | None = None,
    ) -> Decision:
        """Both phases for a regular file whose first bytes were read (forced paths skip 2).

        With ``phase1`` (the walk already decided this path from its lstat), only the size
        limit is checked again on ``cand`` (an fstat: the file may have grown since).
        """
        if phase1 is None:
            decision = self.decide(cand)
        else:
            decision = self.size_rule.decide(cand) or phase1
        if decision.outcome is not Outcome.CAPTURED or decision.rule == "force-include":
            return decision
        size = cand.st.st_size
        tail = first[-512:] if size <= len(first) else read_tail()
        return self.decide_content(cand, first, tail)

    def decide_path(
        self, rel: bytes, dirs: dict[bytes, Decision | None] | None = None
    ) -> tuple[Decision, StatLike | None]:
        """Decide one path from its name and ``lstat`` alone, ancestors included.

        Content rules are not run (see :meth:`explain`). A path that does not exist is decided
        on its name alone, as if it were a regular file.

        Args:
            rel: The worktree-relative path.
            dirs: A cache of the ancestors' decisions (None: not a directory), kept by a caller
                that decides many paths at one moment.

        Returns:
            The decision and the path's ``lstat`` (None if it does not exist or lies inside a
            skipped directory).

        Raises:
            OSError: the path cannot be ``lstat``-ed (other than not existing).
        """
        parts = rel.split(b"/") if rel else []
        forced = _forced(self.force_include, Candidate(rel=rel, st=_ABSENT)) is not None
        for i in range(1, len(parts)):
            ancestor = b"/".join(parts[:i])
            if dirs is not None and ancestor in dirs:
                verdict = dirs[ancestor]
            else:
                try:
                    st = os.lstat(os.path.join(self.root, ancestor))
                except OSError:
                    st = None
                # A missing ancestor, or a file or symlink where a directory should be: the path
                # does not exist inside the worktree (symlinked directories are never followed).
                verdict = None
                if st is not None and stat.S_ISDIR(st.st_mode):
                    verdict = self.decide(Candidate(rel=ancestor, st=st))
                if dirs is not None:
                    dirs[ancestor] = verdict
            if verdict is None:
                return self.decide(Candidate(rel=rel, st=_ABSENT)), None
            if not verdict.captured and not (forced and self.forced_below(ancestor)):
                return (
                    skipped(
                        verdict.rule,
                        f"inside skipped directory {os.fsdecode(ancestor)}: {verdict.reason}",
                        verdict.evidence,
                    ),
                    None,
                )
        try:
            st = os.lstat(os.path.join(self.root, rel) if rel else self.root)
        except FileNotFoundError:
            return self.decide(Candidate(rel=rel, st=_ABSENT)), None
        return self.decide(Candidate(rel=rel, st=st)), st

    def explain(self, rel: bytes) -> tuple[Decision, StatLike | None]:
        """Decide one path the way a snapshot walk would, including its ancestors.

        Returns:
            The decision and the path's ``lstat`` (None if it does not exist). A path that does
            not exist is decided on its name alone, as if it were a regular file.
        """
        decision, st = self.decide_path(rel)
        if st is None:
            return decision, None
        full = os.path.join(self.root, rel) if rel else self.root
        cand = Candidate(rel=rel, st=st)
        if decision.outcome is Outcome.CAPTURED and cand.kind is Kind.FILE:
            try:
                fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
                with os.fdopen(fd, "rb") as fh:
                    prefix = fh.read(self.options.sniff_bytes)
                    decision = self.decide_file(cand, prefix, lambda: _read_tail(fd, st.st_size))
            except OSError as exc:
                return skipped("unreadable", f"cannot be read: {exc.strerror}"), st
        elif decision.captured and cand.kind is Kind.DIR:
            # A snapshot would list it: say so if that fails (permissions, a name too long).
            try:
                with os.scandir(full):
                    pass
            except OSError as exc:
                return skipped("unreadable", f"cannot be read: {exc.strerror}"), st
        return decision, st


TAIL_BYTES = 512


def _read_tail(fd: int, size: int) -> bytes:
    """The last bytes of an open file, read without moving its offset."""
    start = max(0, size - TAIL_BYTES)
    return os.pread(fd, TAIL_BYTES, start)


def _patterns(lines: tuple[str, ...]) -> tuple[pathspec.GitIgnoreSpec, tuple[str, ...]] | None:
    if not lines:
        return None
    return pathspec.GitIgnoreSpec.from_lines(list(lines)), lines


def _forced(
    patterns: tuple[pathspec.GitIgnoreSpec, tuple[str, ...]] | None, cand: Candidate
) -> str | None:
    """The configured pattern that matches ``cand``, if any."""
    if patterns is None:
        return None
    spec, lines = patterns
    text = os.fsdecode(cand.rel) + ("/" if cand.kind is Kind.DIR else "")
    res = spec.check_file(text)
    if res.include and res.index is not None:
        return lines[res.index]
    return None
