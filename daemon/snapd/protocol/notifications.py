"""Wire types of the server-to-client notifications."""

from __future__ import annotations

import attrs

from snapd.enums import Consistency

# -- server -> client notifications ---------------------------------------------------------------


@attrs.define(kw_only=True)
class DidChangeParams:
    """Paths changed in the worktree (throttled: at most one per ``notifyIntervalMs``)."""

    count: int
    """Changed paths since the previous ``snapd/didChange``."""

    paths: list[str]
    """Up to 50 of them, in no particular order."""

    truncated: bool = False
    """True when ``paths`` lists fewer than ``count``."""


@attrs.define(kw_only=True)
class DidSnapshotParams:
    """A snapshot was recorded (by a request or automatically)."""

    id: str
    """The new snapshot's id."""

    changed: int
    """Paths changed against its parent."""

    consistency: Consistency
    """``exact`` or ``reconciled``."""

    auto: bool = False
    """True when the daemon took it after a quiet period."""

    parent: str | None = None
    """The previous snapshot's id."""

    label: str | None = None
    """The snapshot's label."""

    client: str | None = None
    """The ``clientInfo.name`` of the client that took it; absent when it sent none (and for
    automatic snapshots)."""

    session: str | None = None
    """The ``session`` given to ``snapd/snapshot``; absent when none was given."""
