"""Every method and notification with its params and result types.

This is the one table the envelopes (:mod:`snapd.protocol.messages`), the JSON Schema, the
clients' types and protocol.md's test are generated from or checked against.
"""

from __future__ import annotations

from typing import Final

import attrs

from snapd.protocol.changes import (
    DiffParams,
    DiffResult,
    ExplainParams,
    ExplainResult,
    HunksParams,
    HunksResult,
)
from snapd.protocol.daemon import DaemonStatusParams, DaemonStatusResult
from snapd.protocol.notifications import DidChangeParams, DidSnapshotParams
from snapd.protocol.restore import RestoreParams, RestoreResult
from snapd.protocol.revert import RevertParams, RevertResult
from snapd.protocol.snapshots import (
    SnapshotParams,
    SnapshotResult,
    SnapshotsParams,
    SnapshotsResult,
    StatusParams,
    StatusResult,
)
from snapd.protocol.upkeep import GcParams, GcResult, PinParams, PinResult, StatsParams, StatsResult

SNAPD_SNAPSHOT: Final = "snapd/snapshot"
SNAPD_SNAPSHOTS: Final = "snapd/snapshots"
SNAPD_STATUS: Final = "snapd/status"
SNAPD_DIFF: Final = "snapd/diff"
SNAPD_HUNKS: Final = "snapd/hunks"
SNAPD_EXPLAIN: Final = "snapd/explain"
SNAPD_RESTORE: Final = "snapd/restore"
SNAPD_REVERT: Final = "snapd/revert"
SNAPD_PIN: Final = "snapd/pin"
SNAPD_GC: Final = "snapd/gc"
SNAPD_STATS: Final = "snapd/stats"
SNAPD_DAEMON_STATUS: Final = "snapd/daemonStatus"

SNAPD_DID_CHANGE: Final = "snapd/didChange"
SNAPD_DID_SNAPSHOT: Final = "snapd/didSnapshot"


@attrs.frozen
class Method:
    """A client-to-server request: its params and result types."""

    params: type
    result: type


METHODS: Final[dict[str, Method]] = {
    SNAPD_SNAPSHOT: Method(SnapshotParams, SnapshotResult),
    SNAPD_SNAPSHOTS: Method(SnapshotsParams, SnapshotsResult),
    SNAPD_STATUS: Method(StatusParams, StatusResult),
    SNAPD_DIFF: Method(DiffParams, DiffResult),
    SNAPD_HUNKS: Method(HunksParams, HunksResult),
    SNAPD_EXPLAIN: Method(ExplainParams, ExplainResult),
    SNAPD_RESTORE: Method(RestoreParams, RestoreResult),
    SNAPD_REVERT: Method(RevertParams, RevertResult),
    SNAPD_PIN: Method(PinParams, PinResult),
    SNAPD_GC: Method(GcParams, GcResult),
    SNAPD_STATS: Method(StatsParams, StatsResult),
    SNAPD_DAEMON_STATUS: Method(DaemonStatusParams, DaemonStatusResult),
}
"""Every ``snapd/*`` request, in protocol.md's order."""

NOTIFICATIONS: Final[dict[str, type]] = {
    SNAPD_DID_CHANGE: DidChangeParams,
    SNAPD_DID_SNAPSHOT: DidSnapshotParams,
}
"""Every server-to-client notification and its params type."""


@attrs.frozen
class MethodTypes:
    """The classes of one method, envelopes included."""

    request: type
    response: type
    params: type
    result: type
