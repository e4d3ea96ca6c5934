"""Client-side exceptions, one per documented error code of protocol.md's "Errors" table."""

from __future__ import annotations

from typing import Any


class SnapdClientError(Exception):
    """Base class of everything this library raises."""


class TransportClosed(SnapdClientError):
    """The daemon exited or closed its stdout before answering."""


class ResponseError(SnapdClientError):
    """The daemon answered a request with a JSON-RPC error."""

    code: int = 0

    def __init__(self, message: str, code: int, data: Any = None) -> None:
        super().__init__(f"{message} (code {code})")
        self.message = message
        self.code = code
        self.data = data

    @property
    def field(self) -> str | None:
        """The offending param, when the daemon named one."""
        if isinstance(self.data, dict) and isinstance(self.data.get("field"), str):
            return str(self.data["field"])
        return None


class ParseError(ResponseError):
    """-32700: the frame's body was not valid JSON, or its headers were malformed."""


class InvalidRequest(ResponseError):
    """-32600: not a JSON-RPC request, one after ``shutdown``, or a second ``initialize``."""


class InternalError(ResponseError):
    """-32603: an unexpected server error (the daemon keeps serving)."""


class InvalidParams(ResponseError):
    """-32602: a param has the wrong type or value (``field`` names it)."""


class MethodNotFound(ResponseError):
    """-32601: the daemon does not know the method."""


class ServerNotInitialized(ResponseError):
    """-32002: a request was sent before ``initialize``."""


class RequestCancelled(ResponseError):
    """-32800: the request was cancelled."""


class UnknownSnapshot(ResponseError):
    """-31001: no snapshot matches the reference."""


class BadCursor(ResponseError):
    """-31002: the cursor is malformed, stale or from another query."""


class PathOutsideRoot(ResponseError):
    """-31003: the path is absolute, has '..', or leaves the worktree."""


class StoreLocked(ResponseError):
    """-31004: another process holds the store (``data['holder']`` says who)."""


class RequestTooLarge(ResponseError):
    """-31005: the request frame was over the daemon's limit."""


class NoWorktree(ResponseError):
    """-31006: no worktree: start the daemon with ``--root`` or send ``rootUri``."""


class StoreFailure(ResponseError):
    """-31007: the store could not be read or written (disk full, damage, a vanished store)."""


class WorktreeFailure(ResponseError):
    """-31008: the worktree could not be read, or its path leads elsewhere than at start."""


class PlanStale(ResponseError):
    """-31009: a restore's plan token no longer matches: make a new plan (nothing was written)."""


CODE_TO_ERROR: dict[int, type[ResponseError]] = {
    -32700: ParseError,
    -32600: InvalidRequest,
    -32603: InternalError,
    -32602: InvalidParams,
    -32601: MethodNotFound,
    -32002: ServerNotInitialized,
    -32800: RequestCancelled,
    -31001: UnknownSnapshot,
    -31002: BadCursor,
    -31003: PathOutsideRoot,
    -31004: StoreLocked,
    -31005: RequestTooLarge,
    -31006: NoWorktree,
    -31007: StoreFailure,
    -31008: WorktreeFailure,
    -31009: PlanStale,
}


def error_for(code: int, message: str, data: Any = None) -> ResponseError:
    """The most specific exception for an error code."""
    return CODE_TO_ERROR.get(code, ResponseError)(message, code, data)
