"""The wire contract of snapd's ``snapd/*`` methods: lsprotocol-shaped attrs classes.

One module per concern (:mod:`~snapd.protocol.snapshots`, :mod:`~snapd.protocol.changes`,
:mod:`~snapd.protocol.restore`, :mod:`~snapd.protocol.revert`, :mod:`~snapd.protocol.upkeep`,
:mod:`~snapd.protocol.daemon`,
:mod:`~snapd.protocol.notifications`), the method table (:mod:`~snapd.protocol.methods`), the
generated envelopes (:mod:`~snapd.protocol.messages`) and the one converter
(:mod:`~snapd.protocol.convert`: ``wire_converter()`` for clients, ``converter()`` with
lsprotocol's LSP types for the daemon). ``protocol.md`` documents exactly these classes, and
``tests/test_protocol_doc.py`` checks it against :data:`METHOD_TO_TYPES`. Everything is
re-exported here, so ``from snapd import protocol`` reaches all of it; the envelopes load on
first use (PEP 562), since a client needs only the params and result types (issue 15).

Paths on the wire are ``str``: see :mod:`snapd.paths` for the encoding of non-UTF-8 names.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from snapd.enums import (
    ChangeStatus,
    Consistency,
    Outcome,
    RestoreActionKind,
    RevertActionKind,
    SkipSide,
)
from snapd.protocol.changes import (
    DiffParams,
    DiffResult,
    ExplainParams,
    ExplainResult,
    FileChange,
    Hunk,
    HunksParams,
    HunksResult,
)
from snapd.protocol.common import (
    GeneratedInfo,
    MsgId,
    ProgressToken,
    SkipInfo,
)
from snapd.protocol.convert import (
    converter,
    wire_converter,
    wire_name,
)
from snapd.protocol.daemon import (
    DaemonClient,
    DaemonStatusParams,
    DaemonStatusResult,
)
from snapd.protocol.methods import (
    METHODS,
    NOTIFICATIONS,
    SNAPD_DAEMON_STATUS,
    SNAPD_DID_CHANGE,
    SNAPD_DID_SNAPSHOT,
    SNAPD_DIFF,
    SNAPD_EXPLAIN,
    SNAPD_GC,
    SNAPD_HUNKS,
    SNAPD_PIN,
    SNAPD_RESTORE,
    SNAPD_REVERT,
    SNAPD_SNAPSHOT,
    SNAPD_SNAPSHOTS,
    SNAPD_STATS,
    SNAPD_STATUS,
    Method,
    MethodTypes,
)
from snapd.protocol.notifications import (
    DidChangeParams,
    DidSnapshotParams,
)
from snapd.protocol.restore import (
    HunkSelection,
    RestoreAction,
    RestoreParams,
    RestoreResult,
)
from snapd.protocol.revert import (
    RevertAction,
    RevertParams,
    RevertResult,
)
from snapd.protocol.snapshots import (
    SnapshotParams,
    SnapshotResult,
    SnapshotsParams,
    SnapshotsResult,
    SnapshotSummary,
    StatusParams,
    StatusResult,
)
from snapd.protocol.upkeep import (
    GcParams,
    GcResult,
    PathBytes,
    PinParams,
    PinResult,
    StatsParams,
    StatsResult,
)

if TYPE_CHECKING:
    from snapd.protocol.messages import (
        METHOD_TO_TYPES,
        NOTIFICATION_TO_TYPES,
        DaemonStatusRequest,
        DaemonStatusResponse,
        DidChangeNotification,
        DidSnapshotNotification,
        DiffRequest,
        DiffResponse,
        ExplainRequest,
        ExplainResponse,
        GcRequest,
        GcResponse,
        HunksRequest,
        HunksResponse,
        PinRequest,
        PinResponse,
        RestoreRequest,
        RestoreResponse,
        RevertRequest,
        RevertResponse,
        SnapshotRequest,
        SnapshotResponse,
        SnapshotsRequest,
        SnapshotsResponse,
        StatsRequest,
        StatsResponse,
        StatusRequest,
        StatusResponse,
    )

__all__ = [
    "METHODS",
    "METHOD_TO_TYPES",
    "NOTIFICATIONS",
    "NOTIFICATION_TO_TYPES",
    "SNAPD_DAEMON_STATUS",
    "SNAPD_DID_CHANGE",
    "SNAPD_DID_SNAPSHOT",
    "SNAPD_DIFF",
    "SNAPD_EXPLAIN",
    "SNAPD_GC",
    "SNAPD_HUNKS",
    "SNAPD_PIN",
    "SNAPD_RESTORE",
    "SNAPD_REVERT",
    "SNAPD_SNAPSHOT",
    "SNAPD_SNAPSHOTS",
    "SNAPD_STATS",
    "SNAPD_STATUS",
    "ChangeStatus",
    "Consistency",
    "DaemonClient",
    "DaemonStatusParams",
    "DaemonStatusRequest",
    "DaemonStatusResponse",
    "DaemonStatusResult",
    "DidChangeNotification",
    "DidChangeParams",
    "DidSnapshotNotification",
    "DidSnapshotParams",
    "DiffParams",
    "DiffRequest",
    "DiffResponse",
    "DiffResult",
    "ExplainParams",
    "ExplainRequest",
    "ExplainResponse",
    "ExplainResult",
    "FileChange",
    "GcParams",
    "GcRequest",
    "GcResponse",
    "GcResult",
    "GeneratedInfo",
    "Hunk",
    "HunkSelection",
    "HunksParams",
    "HunksRequest",
    "HunksResponse",
    "HunksResult",
    "Method",
    "MethodTypes",
    "MsgId",
    "Outcome",
    "PathBytes",
    "PinParams",
    "PinRequest",
    "PinResponse",
    "PinResult",
    "ProgressToken",
    "RestoreAction",
    "RestoreActionKind",
    "RestoreParams",
    "RestoreRequest",
    "RestoreResponse",
    "RestoreResult",
    "RevertAction",
    "RevertActionKind",
    "RevertParams",
    "RevertRequest",
    "RevertResponse",
    "RevertResult",
    "SkipInfo",
    "SkipSide",
    "SnapshotParams",
    "SnapshotRequest",
    "SnapshotResponse",
    "SnapshotResult",
    "SnapshotSummary",
    "SnapshotsParams",
    "SnapshotsRequest",
    "SnapshotsResponse",
    "SnapshotsResult",
    "StatsParams",
    "StatsRequest",
    "StatsResponse",
    "StatsResult",
    "StatusParams",
    "StatusRequest",
    "StatusResponse",
    "StatusResult",
    "converter",
    "wire_converter",
    "wire_name",
]

_LAZY: dict[str, str] = dict.fromkeys(
    [
        "METHOD_TO_TYPES",
        "NOTIFICATION_TO_TYPES",
        "DaemonStatusRequest",
        "DaemonStatusResponse",
        "DidChangeNotification",
        "DidSnapshotNotification",
        "DiffRequest",
        "DiffResponse",
        "ExplainRequest",
        "ExplainResponse",
        "GcRequest",
        "GcResponse",
        "HunksRequest",
        "HunksResponse",
        "PinRequest",
        "PinResponse",
        "RestoreRequest",
        "RestoreResponse",
        "RevertRequest",
        "RevertResponse",
        "SnapshotRequest",
        "SnapshotResponse",
        "SnapshotsRequest",
        "SnapshotsResponse",
        "StatsRequest",
        "StatsResponse",
        "StatusRequest",
        "StatusResponse",
    ],
    "snapd.protocol.messages",
)
"""Names loaded on first use, and their module."""

if not TYPE_CHECKING:  # mypy sees the imports above; at run time the names load on demand.

    def __getattr__(name: str) -> Any:
        if name not in _LAZY:
            raise AttributeError(f"module 'snapd.protocol' has no attribute '{name}'")
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
