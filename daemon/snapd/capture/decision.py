"""What the capture policy decides about a path, and what a rule sees (the candidate, its lstat)."""

from __future__ import annotations

import enum
import operator
import os
import stat
import struct
from typing import Final, Protocol

import attrs

from snapd.enums import Outcome

SIGNATURE: Final = struct.Struct("<qqQQQ")
"""A file's ``stat`` signature packed: mtime_ns, ctime_ns, size, ino, mode."""


signature: Final = operator.attrgetter("st_mtime_ns", "st_ctime_ns", "st_size", "st_ino", "st_mode")
"""``st``'s signature as a tuple: the fields :data:`SIGNATURE` packs, in its order."""


def packed_signature(st: StatLike) -> bytes:
    """``st``'s signature (:data:`SIGNATURE`): what the stat cache and the stamps compare."""
    return SIGNATURE.pack(st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino, st.st_mode)


RACY_NS: Final = 2_000_000_000
"""git's "racy clean" window: a file modified less than this long before it was looked at may
change again within the same timestamp tick without its ``stat`` data changing. The stat
cache re-hashes such a file, a policy input this recent gives no stamp, and a git index this
recent is parsed again."""


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

    within: bytes | None = None
    """The skipped ancestor directory whose decision this is (the path lies inside it)."""

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
