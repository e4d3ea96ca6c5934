"""What can go wrong below the request layer, in words a person reads.

The domain layers (worktree, capture, diff, restore) raise these; the request layer translates
them into wire errors once (:func:`snapd.requests.common.map_errors`), with the same message and
data. So a lower layer never needs to know an error code, and a wire error is built in one
place.
"""

from __future__ import annotations


class Failure(Exception):
    """A failure with a sentence for a person and structured data for a program."""

    def __init__(self, message: str, **data: object) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class RootLost(Failure):
    """The worktree cannot be opened, or its path no longer leads to the directory served."""


class StoreLost(Failure):
    """The store directory was deleted or replaced while it was open."""


class NoSuchSnapshot(Failure):
    """No retained snapshot has that id, or a prefix matches several."""


class Refused(Failure):
    """A request asks for something that cannot be done as asked (``data.field`` says which)."""


class ThroughSymlink(Failure):
    """A path lies under a symlink in the worktree, and snapd never writes through one."""


class Changed(Failure):
    """What a plan was made from changed since (the worktree, or a file's hunks)."""
