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

import logging
import os
import re
import stat
from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs
import pathspec

from snapd.capture import generated as gen
from snapd.capture.attributes import Attributes
from snapd.capture.decision import (
    CAPTURED,
    Candidate,
    ContentRule,
    Decision,
    Kind,
    Rule,
    StatLike,
    skipped,
)
from snapd.capture.decisions import content_key, policy_stamp
from snapd.capture.rules import (
    BinaryRule,
    GitDirRule,
    IgnoreRule,
    SizeLimitRule,
    SpecialFileRule,
    Tracked,
    read_tracked,
)
from snapd.enums import Outcome

if TYPE_CHECKING:
    from snapd.config import Options


logger = logging.getLogger(__name__)


_ABSENT = os.stat_result((stat.S_IFREG | 0o644, 0, 0, 1, 0, 0, 0, 0, 0, 0))
"""The ``lstat`` a path that does not exist is decided with (by its name, as a regular file)."""


class Policy:
    """The capture predicate for one worktree, configured by :class:`Options`.

    An instance caches ignore and attributes files and the tracked set, so make one per
    snapshot or request: it then sees those files as they are at that moment.

    Order: ``.git`` and special files first (nothing overrides them), then the user's
    ``forceExclude`` and ``forceInclude`` patterns (a forced include still obeys the size
    limit), then the rules in :attr:`rules`, which ``disabledRules`` can switch off by name.
    """

    def __init__(self, root: bytes, options: Options, *, tracked: frozenset[bytes] | None = None):
        self.root = root
        self.options = options
        # Stamped before anything is read: an input changing meanwhile leaves a stale stamp.
        stamp, present = policy_stamp(root, options) if tracked is None else (None, frozenset())
        self.content_key = content_key(options)
        index = read_tracked(root) if tracked is None else Tracked.of(tracked)
        self.tracked = index.paths
        self.tracked_dirs = index.dirs
        self.guards: list[Rule] = [GitDirRule(), SpecialFileRule()]
        self.size_rule = SizeLimitRule(options.content_limit)
        off = set(options.disabled_rules)
        self._ignore = IgnoreRule(root, self.tracked, self.tracked_dirs)
        self._attributes = Attributes(root)
        read = {
            b"exclude": self._ignore.has_exclude,
            b"attributes": self._attributes.has_info,
            b"index": bool(self.tracked),
        }
        self.stamp = stamp if {n for n, seen in read.items() if seen} <= present else None
        """The policy inputs that apply everywhere (None: no decision may be reused)."""
        rules: list[Rule] = [
            self._ignore,
            gen.GitAttributesRule(self._attributes),
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

    def read_rule_files(self, directory: bytes) -> frozenset[bytes]:
        """Read ``directory``'s ignore and attributes files now (this instance keeps them).

        Returns:
            The names of those found (an empty ``.gitattributes`` counts as absent).
        """
        names = self._ignore.read(directory)
        if self._attributes.read(directory):
            names.add(b".gitattributes")
        return frozenset(names)

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
                inside = skipped(
                    verdict.rule,
                    f"inside skipped directory {os.fsdecode(ancestor)}: {verdict.reason}",
                    verdict.evidence,
                )
                return attrs.evolve(inside, within=ancestor), None
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
        if st is None and decision.within is not None:
            # Inside a skipped directory: say whether it exists, as a person asking about
            # build/CMakeCache.txt expects (its lstat only, never through a symlink).
            return decision, self._lstat_below(decision.within, rel)
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

    def _lstat_below(self, ancestor: bytes, rel: bytes) -> StatLike | None:
        """``rel``'s ``lstat`` if every directory between ``ancestor`` and it is a real one.

        Raises:
            OSError: a component cannot be ``lstat``-ed (other than not existing).
        """
        parts = rel.split(b"/")
        st: os.stat_result | None = None
        for i in range(ancestor.count(b"/") + 2, len(parts) + 1):
            if st is not None and not stat.S_ISDIR(st.st_mode):
                return None  # a file or a symlink where a directory should be
            try:
                st = os.lstat(os.path.join(self.root, b"/".join(parts[:i])))
            except (FileNotFoundError, NotADirectoryError):
                return None
        return st


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
