"""Fingerprints of the capture policy's inputs, so a full walk re-decides only what changed.

A file's decision (both phases) is a function of its path, its content (which its stat signature
stands for, with the stat cache's racy guard), the options, snapd's own rule code, the user's
git index (the tracked set), ``info/exclude`` and ``info/attributes``, and the ignore and
attribute files of every directory from the root down to the file's own. A *stamp* is a digest
of all of those but the file itself:

- :func:`policy_stamp` covers what applies everywhere (code, options, the git metadata files);
- :func:`dir_stamp` chains one directory's rule files (from its listing's ``lstat``) onto its
  parent's stamp.

The stat cache keeps the stamp a decision was made under; a full walk reuses the decision only
when the file's signature and the stamp of its directory are both unchanged. Any input that was
modified within the racy window gives no stamp (None): everything that depends on it is decided
again, and nothing is cached as reusable under it. Inputs are ``lstat``-ed before the policy
reads them, so a change racing the read leaves a stamp that no later walk matches.
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat
import struct
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Final

from snapd.capture.decision import RACY_NS, Decision, StatLike, packed_signature
from snapd.gitdir import git_dir, git_info_dir

if TYPE_CHECKING:
    from snapd.capture.statcache import CacheEntry
    from snapd.config import Options


RULE_FILES: Final = frozenset({b".gitignore", b".snapdignore", b".gitattributes"})
"""The per-directory policy inputs (read by the ignore and attributes rules)."""

STAMP_BYTES: Final = 16


_CODE_MODULES: Final = ("attributes", "decision", "generated", "policy", "rules", "decisions")


@functools.cache
def code_digest() -> bytes:
    """A digest of the rule code itself: another snapd version re-decides everything."""
    h = hashlib.blake2b(digest_size=STAMP_BYTES)
    here = Path(__file__).parent
    for name in (*_CODE_MODULES, "../gitdir"):
        try:
            h.update((here / f"{name}.py").read_bytes())
        except OSError:
            h.update(os.urandom(16))  # unreadable source: never match a stored stamp
    return h.digest()


def content_key(options: Options) -> bytes:
    """What a content-phase decision depends on besides the content: code and options."""
    h = hashlib.blake2b(code_digest(), digest_size=8)
    h.update(repr(options).encode("utf-8", "surrogateescape"))
    return h.digest()


def policy_stamp(
    root: bytes, options: Options, now_ns: int | None = None
) -> tuple[bytes | None, frozenset[bytes]]:
    """The stamp of the inputs that apply to every path (None: decide everything afresh).

    Call it before the policy reads those inputs, and check that what it then read was there
    (a file that appeared and went again between the two would leave no other trace).

    Returns:
        The stamp, and which of ``exclude``, ``attributes`` and ``index`` existed.
    """
    now_ns = time.time_ns() if now_ns is None else now_ns
    h = hashlib.blake2b(content_key(options), digest_size=STAMP_BYTES)
    present: set[bytes] = set()
    try:
        gitdir = git_dir(root)
        info = git_info_dir(root)
    except OSError:
        return None, frozenset()
    paths = [
        (b".git", os.path.join(root, b".git")),
        (b"exclude", os.path.join(info, b"exclude")),
        (b"attributes", os.path.join(info, b"attributes")),
    ]
    if gitdir is not None:
        paths.append((b"index", os.path.join(gitdir, b"index")))
        paths.append((b"commondir", os.path.join(gitdir, b"commondir")))
    for name, path in paths:
        h.update(path + b"\0")
        for follow in (False, True):
            try:
                st = os.stat(path, follow_symlinks=follow)
            except FileNotFoundError:
                h.update(b"-")
                continue
            except OSError:
                return None, frozenset()
            if follow:
                present.add(name)
            if stat.S_ISDIR(st.st_mode):
                # The usual .git: only what it is counts (git touches the directory itself on
                # every command); what it holds that matters is stamped on its own.
                h.update(struct.pack("<QQ", st.st_ino, st.st_mode))
                continue
            if st.st_mtime_ns >= now_ns - RACY_NS or st.st_ctime_ns >= now_ns - RACY_NS:
                return None, frozenset()
            h.update(packed_signature(st))
    return h.digest(), frozenset(present)


def dir_stamp(
    parent: bytes | None,
    rel: bytes,
    rule_files: Iterable[tuple[bytes, StatLike]],
    now_ns: int,
    read: Callable[[bytes], frozenset[bytes]],
) -> bytes | None:
    """A directory's stamp: its parent's, with its own rule files' ``lstat`` chained on.

    Args:
        parent: The parent directory's stamp (the policy stamp for the root); None gives None.
        rel: The directory (worktree-relative).
        rule_files: Its entries named in :data:`RULE_FILES`, with their ``lstat``.
        now_ns: When the walk began (the racy window is measured from it).
        read: Has the policy read the directory's rule files (after the listing gave
            ``rule_files``) and returns the names it found; one the listing did not have
            means the directory changed meanwhile (no stamp).

    Returns:
        The parent's stamp itself when the directory has no rule file, so that the many
        directories without one share one object.
    """
    if parent is None:
        return None
    own = sorted(rule_files, key=lambda item: item[0])
    if not read(rel) <= {name for name, _st in own}:
        return None
    if not own:
        return parent
    h = hashlib.blake2b(parent, digest_size=STAMP_BYTES)
    h.update(rel + b"\0")
    for name, st in own:
        if st.st_mtime_ns >= now_ns - RACY_NS or st.st_ctime_ns >= now_ns - RACY_NS:
            return None
        h.update(name + b"\0" + packed_signature(st))
    return h.digest()


def still_holds(ent: CacheEntry, phase1: Decision, ckey: bytes) -> bool:
    """True if a cached file's final decision follows from a fresh phase-1 ``phase1``.

    The content is unchanged (the caller matched the stat signature): the final decision is
    the same when the content phase starts from the same phase 1 under the same code and
    options. Entries that do not know what they were decided from never hold.
    """
    return ent.phase1 is not None and ent.phase1 == phase1 and ent.ckey == ckey
