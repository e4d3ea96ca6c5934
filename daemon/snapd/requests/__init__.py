"""The request layer: one function per ``snapd/*`` method, from wire params to a wire result.

Each function takes the :class:`~snapd.worktree.Worktree` and the method's params, calls the
worktree's small internal API, builds the result through :mod:`~snapd.requests.wire`, and
translates every failure into a wire error once (:func:`~snapd.requests.common.map_errors`).
They block: the server runs them in worker threads. One module per concern:
:mod:`~snapd.requests.snapshots`, :mod:`~snapd.requests.changes`,
:mod:`~snapd.requests.restore`, :mod:`~snapd.requests.revert`, :mod:`~snapd.requests.upkeep`
and :mod:`~snapd.requests.daemon`.
"""

from __future__ import annotations

from snapd.requests.changes import diff, explain, hunks
from snapd.requests.daemon import daemon_status
from snapd.requests.restore import restore
from snapd.requests.revert import revert
from snapd.requests.snapshots import snapshot, snapshots, status
from snapd.requests.upkeep import gc, pin, stats

__all__ = [
    "daemon_status",
    "diff",
    "explain",
    "gc",
    "hunks",
    "pin",
    "restore",
    "revert",
    "snapshot",
    "snapshots",
    "stats",
    "status",
]
