"""Value types of the store: tree entries, commits, modes, ref names and object ids."""

from __future__ import annotations

import zlib
from typing import Final

import attrs
from dulwich.errors import ChecksumMismatch, ObjectFormatException
from dulwich.refs import Ref

CHUNK: Final = 256 * 1024
"""Read/compress granularity for blobs."""


SNAPSHOT_REF: Final = Ref(b"refs/heads/snapshots")
"""Points at the newest snapshot (HEAD points at it), for people using git on the store."""


SNAPSHOTS_PREFIX: Final = b"refs/snapd/snapshots/"
"""One ref per retained snapshot, named by its zero-padded sequence number."""


PINS_PREFIX: Final = b"refs/snapd/pinned/"
"""One ref per pinned snapshot (the value is the snapshot's commit)."""


TMP_PREFIX: Final = "tmp_obj_"


MODE_FILE: Final = 0o100644


MODE_EXEC: Final = 0o100755


MODE_LINK: Final = 0o120000


MODE_TREE: Final = 0o040000


def is_oid(text: str) -> bool:
    """True for a 40-digit lowercase hex object id."""
    return len(text) == 40 and HEX.issuperset(text)


@attrs.define
class Journal:
    """What one writer newly wrote: loose object ids and pack names (see :meth:`Store.journal`)."""

    objects: set[str] = attrs.Factory(set)
    packs: set[str] = attrs.Factory(set)


@attrs.frozen
class Entry:
    """One tree entry."""

    name: bytes
    mode: int
    id: str

    @property
    def is_tree(self) -> bool:
        """True for a subtree."""
        return self.mode == MODE_TREE


@attrs.frozen
class CommitInfo:
    """The parts of a snapshot commit snapd uses."""

    id: str
    tree: str
    parents: tuple[str, ...]
    time: int
    message: str


READ_ERRORS: Final = (zlib.error, ObjectFormatException, ChecksumMismatch, AssertionError)
"""What dulwich raises on a damaged object (it asserts on some malformed input)."""

HEX: Final = frozenset("0123456789abcdef")

BLOB_TYPE: Final = 3

TREE_TYPE: Final = 2
