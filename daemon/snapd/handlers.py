"""The ``snapd/*`` handlers each connection's server registers, and :func:`build_server`.

Handlers only parse, call a :mod:`snapd.requests` function in a worker thread (or the
session, for what needs the watcher), and return; snapshot and restore also handle
cancellation and progress. :mod:`snapd.server` is the protocol and lifecycle they run in.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcServerNotInitialized

from snapd import protocol, requests
from snapd.capture.walk import Cancelled
from snapd.hub import Hub
from snapd.progress import ProgressReporter
from snapd.requests.common import map_errors
from snapd.server import SnapdServer
from snapd.session import Session
from snapd.worktree import Worktree


def build_server(
    *,
    root: str | None,
    store: str | None,
    data_home: str,
    home: str | None = None,
    overrides: dict[str, Any] | None = None,
    hub: Hub | None = None,
) -> SnapdServer:
    """Create the server and register every handler.

    ``overrides`` are options given on the command line (camelCase names); they win over the
    config file and ``initializationOptions``. ``home`` is the user's home directory (read by
    the CLI): it is refused as a worktree, like ``/``, unless ``allowBroadRoot`` is set.
    """
    server = SnapdServer(
        root=root, store=store, data_home=data_home, home=home, overrides=overrides, hub=hub
    )

    @server.feature(lsp.INITIALIZE)
    async def initialize(ls: SnapdServer, params: lsp.InitializeParams) -> None:
        try:
            await ls.open_session(params)
        finally:
            ls.initializing = False

    @server.feature(lsp.SHUTDOWN)
    async def shutdown(ls: SnapdServer, *_args: Any) -> None:
        await ls.close_session()

    def session(ls: SnapdServer) -> Session:
        if ls.session is None:
            raise JsonRpcServerNotInitialized("send 'initialize' first")
        return ls.session

    def worktree(ls: SnapdServer) -> Worktree:
        return session(ls).worktree

    @server.feature(protocol.SNAPD_SNAPSHOT)
    async def snapshot(ls: SnapdServer, params: protocol.SnapshotParams) -> protocol.SnapshotResult:
        live = session(ls)
        cancel = threading.Event()
        token = params.work_done_token
        progress = None
        if token is not None:
            progress = ProgressReporter(ls, token, asyncio.get_running_loop())
        work = asyncio.ensure_future(
            live.snapshot(params, client=ls.client_name, cancel=cancel, progress=progress)
        )
        try:
            try:
                return await asyncio.shield(work)
            except asyncio.CancelledError:
                # The worker stops at its next file and nothing it wrote is referenced (then
                # -32800). A snapshot already recorded when the cancel came is answered as
                # such: a client is never told "cancelled" about a snapshot that exists.
                cancel.set()
                if progress is not None:
                    progress.end()
                return await work
        except Cancelled as exc:
            raise asyncio.CancelledError from exc
        finally:
            if progress is not None:
                progress.end()

    @server.feature(protocol.SNAPD_DIFF)
    async def diff(ls: SnapdServer, params: protocol.DiffParams) -> protocol.DiffResult:
        wt, live = worktree(ls), None
        if params.to is None and params.cursor is None:
            # The live side, read through the session: its watcher knows what changed.
            with map_errors():
                live = await session(ls).live_state()
        return await asyncio.to_thread(
            lambda: requests.diff(wt, params, options=ls.options, live=live)
        )

    # Requests that only run their request function in a worker thread. (snapshot and
    # restore, above and below, also handle cancellation and progress.)
    delegated: dict[str, Callable[..., Any]] = {
        protocol.SNAPD_SNAPSHOTS: requests.snapshots,
        protocol.SNAPD_HUNKS: requests.hunks,
        protocol.SNAPD_EXPLAIN: requests.explain,
        protocol.SNAPD_PIN: requests.pin,
        protocol.SNAPD_GC: requests.gc,
        protocol.SNAPD_STATS: requests.stats,
    }
    for method, request in delegated.items():
        server.feature(method)(_delegate(worktree, request))

    @server.feature(protocol.SNAPD_STATUS)
    async def status(ls: SnapdServer, params: protocol.StatusParams) -> protocol.StatusResult:
        return await asyncio.to_thread(session(ls).status)

    @server.feature(protocol.SNAPD_DAEMON_STATUS)
    async def daemon_status(ls: SnapdServer, params: Any) -> protocol.DaemonStatusResult:
        return requests.daemon_status(worktree(ls), ls.hub, ls.hub.clients(), ls)

    # Requests that write the worktree (restore, revert): cancellable between files.
    for method, request in (
        (protocol.SNAPD_RESTORE, requests.restore),
        (protocol.SNAPD_REVERT, requests.revert),
    ):
        server.feature(method)(_writing(worktree, request))

    return server


PAGED: frozenset[Callable[..., Any]] = frozenset({requests.snapshots, requests.hunks})
"""Paged requests: they page with the connection's options."""


def _writing(
    worktree: Callable[[SnapdServer], Worktree], request: Callable[..., Any]
) -> Callable[[SnapdServer, Any], Awaitable[Any]]:
    """A handler for a request that writes the worktree, in a worker thread, cancellably."""

    async def handler(ls: SnapdServer, params: Any) -> Any:
        wt = worktree(ls)
        cancel = threading.Event()
        work = asyncio.ensure_future(
            asyncio.to_thread(
                lambda: request(
                    wt, params, cancel=cancel, client=ls.client_name, options=ls.options
                )
            )
        )
        try:
            try:
                return await asyncio.shield(work)
            except asyncio.CancelledError:
                # The thread stops before its next file. Once it has written something the
                # client gets the real outcome (cancelled, remaining, safety snapshot) instead
                # of -32800, so it is never told "cancelled" while files are still written.
                cancel.set()
                return await work
        except Cancelled as exc:
            raise asyncio.CancelledError from exc  # nothing was written: -32800

    handler.__name__ = request.__name__
    return handler


def _delegate(
    worktree: Callable[[SnapdServer], Worktree], request: Callable[..., Any]
) -> Callable[[SnapdServer, Any], Awaitable[Any]]:
    """A handler that runs ``request(worktree, params)`` in a worker thread."""

    async def handler(ls: SnapdServer, params: Any) -> Any:
        wt = worktree(ls)
        if request in PAGED:
            return await asyncio.to_thread(lambda: request(wt, params, options=ls.options))
        return await asyncio.to_thread(request, wt, params)

    handler.__name__ = request.__name__
    return handler
