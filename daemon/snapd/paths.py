"""Worktree-relative paths: validation and the wire encoding.

Inside snapd a path is ``bytes``, relative to the worktree root, ``/``-separated, with no empty,
``.`` or ``..`` component: exactly a git tree path. On the wire a path is a ``str``: the bytes
decoded as UTF-8, where bytes that are not valid UTF-8 become lone surrogates U+DC80..U+DCFF
(Python's ``surrogateescape``, what ``os.fsdecode`` does on POSIX). A client that sends such a
string back gets the same bytes. Only this module converts.
"""

from __future__ import annotations

import os
from typing import Final

from snapd.errors import InvalidParams, PathOutsideRoot

PATH_MAX: Final = 4096
"""Longest path (bytes) snapd accepts from a client: Linux's PATH_MAX. A longer one cannot name
anything the worktree holds (no file system call takes it), and refusing it first keeps every
later step (splitting, ignore chains, lookups) bounded by this size rather than the request's."""

NAME_MAX: Final = 255
"""Longest path component (bytes): what Linux file systems allow in one name."""


def to_wire(path: bytes) -> str:
    """Encode a store/worktree path for the wire (UTF-8, surrogateescape for other bytes)."""
    return path.decode("utf-8", "surrogateescape")


def from_wire(path: str, *, field: str = "path") -> bytes:
    """Validate a wire path and return it as a normalised relative ``bytes`` path.

    Args:
        path: The path as the client sent it: relative to the worktree root.
        field: The param name, reported in the error.

    Returns:
        The path as bytes, ``/``-separated, without ``.`` components or trailing slash.
        The empty path (``""`` or ``"."``) is the root itself and returns ``b""``.

    Raises:
        InvalidParams: The path is longer than :data:`PATH_MAX` bytes, or a component is
            longer than :data:`NAME_MAX` bytes: no file system holds it.
        PathOutsideRoot: The path is absolute, contains ``..`` or NUL, or is not encodable.
    """
    if len(path) > PATH_MAX:  # a character is at least one byte: refuse before encoding
        raise _too_long(field, f"{len(path)} characters")
    try:
        raw = path.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise PathOutsideRoot(f"{field}: not encodable as a file name", field=field) from exc
    if len(raw) > PATH_MAX:
        raise _too_long(field, f"{len(raw)} bytes")
    if b"\0" in raw:
        raise PathOutsideRoot(f"{field}: contains NUL", field=field, path=path)
    if raw.startswith(b"/") or (os.sep != "/" and raw.startswith(os.sep.encode())):
        raise PathOutsideRoot(f"{field}: absolute paths are refused", field=field, path=path)
    parts = [p for p in raw.split(b"/") if p not in (b"", b".")]
    if b".." in parts:
        raise PathOutsideRoot(f"{field}: '..' components are refused", field=field, path=path)
    if any(len(part) > NAME_MAX for part in parts):
        raise InvalidParams(
            f"{field}: a name in the path is longer than the file system allows "
            f"({NAME_MAX} bytes), so no file has this path.",
            field=field,
        )
    return b"/".join(parts)


def _too_long(field: str, size: str) -> InvalidParams:
    # The path itself is not echoed back in data: it may be megabytes long.
    return InvalidParams(
        f"{field}: the path is longer than the file system allows ({size}, at most "
        f"{PATH_MAX} bytes), so no file has this path.",
        field=field,
    )


def join(parent: bytes, name: bytes) -> bytes:
    """Join a relative directory path and an entry name."""
    return parent + b"/" + name if parent else name


def under(path: bytes, prefixes: tuple[bytes, ...]) -> bool:
    """True if ``path`` equals one of ``prefixes`` or lies below one (directory prefix match)."""
    return any(
        not pre or path == pre or (path.startswith(pre) and path[len(pre) : len(pre) + 1] == b"/")
        for pre in prefixes
    )


def may_contain(directory: bytes, prefixes: tuple[bytes, ...]) -> bool:
    """True if a directory could hold a path selected by ``prefixes`` (so a walk must enter it)."""
    return any(
        under(directory, (pre,)) or pre.startswith(directory + b"/") or not directory
        for pre in prefixes
    )
