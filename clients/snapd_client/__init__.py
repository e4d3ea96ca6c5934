"""snapd_client: a typed asyncio client for the snapd daemon, and the ``snapd`` client commands.

Quick use::

    async with await AsyncClient.spawn("path/to/worktree", log_file="snapd.log") as client:
        snap = await client.snapshot(label="turn 1")
        async for change in client.iter_diff(snap.id):
            print(change.path, change.status)

or, without asyncio, the blocking :class:`Client` (generated from :class:`AsyncClient` by
``scripts/gen_sync_client.py``)::

    with Client.spawn("path/to/worktree", log_file="snapd.log") as client:
        snap = client.snapshot(label="turn 1")
        for change in client.iter_diff(snap.id):
            print(change.path, change.status)
"""

from snapd_client._client import AsyncClient
from snapd_client._errors import (
    BadCursor,
    InternalError,
    InvalidParams,
    InvalidRequest,
    MethodNotFound,
    NoWorktree,
    ParseError,
    PathOutsideRoot,
    PlanStale,
    RequestCancelled,
    RequestTooLarge,
    ResponseError,
    ServerNotInitialized,
    SnapdClientError,
    StoreFailure,
    StoreLocked,
    TransportClosed,
    UnknownSnapshot,
    WorktreeFailure,
)
from snapd_client._sync import Client
from snapd_client._transport import (
    SocketTransport,
    StdioTransport,
    Transport,
    daemon_command,
    encode_frame,
)

__all__ = [
    "AsyncClient",
    "BadCursor",
    "Client",
    "InternalError",
    "InvalidParams",
    "InvalidRequest",
    "MethodNotFound",
    "NoWorktree",
    "ParseError",
    "PathOutsideRoot",
    "PlanStale",
    "RequestCancelled",
    "RequestTooLarge",
    "ResponseError",
    "ServerNotInitialized",
    "SnapdClientError",
    "SocketTransport",
    "StdioTransport",
    "StoreFailure",
    "StoreLocked",
    "Transport",
    "TransportClosed",
    "UnknownSnapshot",
    "WorktreeFailure",
    "daemon_command",
    "encode_frame",
]
