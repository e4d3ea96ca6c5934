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
    InvalidParams,
    MethodNotFound,
    PathOutsideRoot,
    PlanStale,
    RequestCancelled,
    RequestTooLarge,
    ResponseError,
    ServerNotInitialized,
    SnapdClientError,
    StoreLocked,
    TransportClosed,
    UnknownSnapshot,
)
from snapd_client._sync import Client
from snapd_client._transport import StdioTransport, Transport, daemon_command, encode_frame

__all__ = [
    "AsyncClient",
    "BadCursor",
    "Client",
    "InvalidParams",
    "MethodNotFound",
    "PathOutsideRoot",
    "PlanStale",
    "RequestCancelled",
    "RequestTooLarge",
    "ResponseError",
    "ServerNotInitialized",
    "SnapdClientError",
    "StdioTransport",
    "StoreLocked",
    "Transport",
    "TransportClosed",
    "UnknownSnapshot",
    "daemon_command",
    "encode_frame",
]
