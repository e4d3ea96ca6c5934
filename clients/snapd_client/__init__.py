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

Names are imported on first use (PEP 562), so ``import snapd_client.entry`` (the ``snapd``
command's dispatcher, and ``snapd --help``) does not pay for asyncio and the wire types.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from snapd_client._blocking import encode_frame
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

_HOME = {
    "AsyncClient": "snapd_client._client",
    "Client": "snapd_client._sync",
    "SocketTransport": "snapd_client._transport",
    "StdioTransport": "snapd_client._transport",
    "Transport": "snapd_client._transport",
    "daemon_command": "snapd_client._transport",
    "encode_frame": "snapd_client._blocking",
}
"""Where each exported name lives; the rest are exceptions from ``snapd_client._errors``."""

if not TYPE_CHECKING:  # mypy sees the imports above; at run time the names load on demand.

    def __getattr__(name: str) -> Any:
        if name not in __all__:
            raise AttributeError(f"module 'snapd_client' has no attribute '{name}'")
        value = getattr(importlib.import_module(_HOME.get(name, "snapd_client._errors")), name)
        globals()[name] = value
        return value
