"""Wire errors: every error snapd sends to a client is one of these classes.

Hierarchy::

    pygls JsonRpcException
    └── SnapdError                      (abstract: carries CODE, MESSAGE and structured data)
        ├── InvalidParams        -32602 a param has the wrong type/value; data.field names it
        ├── RequestTooLarge      -31005 a frame's Content-Length is over the limit
        ├── UnknownSnapshot      -31001 no snapshot has that name (or several have)
        ├── BadCursor            -31002 a cursor is malformed, stale or from another query
        ├── PathOutsideRoot      -31003 a path is absolute, has '..', or leaves the worktree
        ├── StoreLocked          -31004 another process holds the store; data.holder says who
        ├── NoWorktree           -31006 no worktree: neither --root nor rootUri was given
        ├── StoreFailure         -31007 the store could not be read or written (disk full, ...)
        ├── WorktreeFailure      -31008 the worktree could not be read
        └── PlanStale            -31009 the worktree changed since a restore plan was made

JSON-RPC's own codes (-32700 parse error, -32600 invalid request, -32601 method not found,
-32002 server not initialized, -32800 request cancelled) are sent by the server module with
pygls' exception classes. snapd's own codes live in the block -31001..-31099, outside the range
reserved by JSON-RPC and LSP (-32768..-32000).

Library, OS and domain errors are translated into these once, at the request boundary
(:func:`snapd.requests.common.map_errors`); lower layers raise :mod:`snapd.failures`.
"""

from __future__ import annotations

from typing import Any

from pygls.exceptions import JsonRpcException


class SnapdError(JsonRpcException):
    """Base class of every snapd wire error."""

    CODE = -31000
    MESSAGE = "snapd error"

    def __init__(self, message: str | None = None, **data: Any) -> None:
        super().__init__(message=message or self.MESSAGE, code=self.CODE, data=data or None)


class InvalidParams(SnapdError):
    """A parameter has the wrong type or value; ``data.field`` names it."""

    CODE = -32602
    MESSAGE = "invalid params"


class UnknownSnapshot(SnapdError):
    """No snapshot has the given name, or several do (an ambiguous label or id prefix)."""

    CODE = -31001
    MESSAGE = "unknown snapshot"


class BadCursor(SnapdError):
    """A cursor is malformed, stale, or belongs to a different query."""

    CODE = -31002
    MESSAGE = "bad cursor"


class PathOutsideRoot(SnapdError):
    """A path is absolute, contains '..' or NUL, or resolves outside the worktree."""

    CODE = -31003
    MESSAGE = "path outside worktree root"


class StoreLocked(SnapdError):
    """Another live process holds the store's lock; ``data.holder`` names it."""

    CODE = -31004
    MESSAGE = "store is locked by another process"


class RequestTooLarge(SnapdError):
    """A frame's ``Content-Length`` exceeds the server's limit; the body is discarded unread."""

    CODE = -31005
    MESSAGE = "request too large"


class NoWorktree(SnapdError):
    """No worktree is known: start with ``--root`` or send ``rootUri``/``workspaceFolders``."""

    CODE = -31006
    MESSAGE = "no worktree"


class StoreFailure(SnapdError):
    """The store could not be read or written (disk full, permissions, corruption)."""

    CODE = -31007
    MESSAGE = "store failure"


class WorktreeFailure(SnapdError):
    """The worktree root could not be read (missing, not a directory, permission denied)."""

    CODE = -31008
    MESSAGE = "worktree failure"


class PlanStale(SnapdError):
    """A restore's ``planToken``, or a hunk digest it selects, no longer matches the worktree."""

    CODE = -31009
    MESSAGE = "the worktree changed since the restore plan was made"


ALL_ERRORS: tuple[type[SnapdError], ...] = (
    InvalidParams,
    UnknownSnapshot,
    BadCursor,
    PathOutsideRoot,
    StoreLocked,
    RequestTooLarge,
    NoWorktree,
    StoreFailure,
    WorktreeFailure,
    PlanStale,
)
"""Every snapd error class; protocol.md's error table is checked against this tuple."""

JSONRPC_CODES: dict[int, str] = {
    -32700: "parse error: the body is not valid JSON",
    -32600: "invalid request: not a JSON-RPC 2.0 object (batches are not supported)",
    -32601: "method not found",
    -32602: "invalid params: data.field names the offending field",
    -32603: "internal error",
    -32002: "server not initialized: a request arrived before initialize",
    -32800: "request cancelled by $/cancelRequest",
}
"""Standard JSON-RPC/LSP codes snapd sends, documented in protocol.md as well."""
