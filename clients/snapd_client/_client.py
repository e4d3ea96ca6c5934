"""The async client: one method per protocol method, typed with the daemon's wire types."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

from snapd import protocol
from snapd_client._blocking import RECONNECTS, dial, initialize_params, shared_place
from snapd_client._errors import SnapdClientError, TransportClosed, error_for
from snapd_client._transport import SocketTransport, StdioTransport, Transport, daemon_command

T = TypeVar("T")
R = TypeVar("R")
NotificationHandler = Callable[[dict[str, Any]], None]

NOTIFICATION_HISTORY = 1000
"""How many recent notifications :attr:`AsyncClient.notifications` keeps (oldest dropped first).

A long-lived client receives a ``snapd/didSnapshot`` per automatic snapshot and ``$/progress``
per request, so an unbounded list would grow for as long as the daemon runs. Code that needs
every notification registers a handler with :meth:`AsyncClient.on_notification`.
"""


P = TypeVar("P", bound="_Page")


class _Page(Protocol):
    next_cursor: str | None


async def _follow(
    fetch: Callable[[str | None], Awaitable[P]], items: Callable[[P], list[T]]
) -> AsyncIterator[T]:
    """Yield the items of every page, passing each ``nextCursor`` back until there is none."""
    cursor: str | None = None
    while True:
        page = await fetch(cursor)
        for item in items(page):
            yield item
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


class AsyncClient:
    """A connection to one snapd daemon.

    Use :meth:`spawn` to start a daemon (and ``initialize`` it), or pass any
    :class:`~snapd_client.Transport` to the constructor.
    """

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self._conv = protocol.wire_converter()
        self._ids = itertools.count(1)
        self._pending: dict[int | str, asyncio.Future[Any]] = {}
        self._handlers: dict[str, list[NotificationHandler]] = {}
        self.notifications: deque[dict[str, Any]] = deque(maxlen=NOTIFICATION_HISTORY)
        """The latest notifications (at most :data:`NOTIFICATION_HISTORY`), oldest first."""
        self._closed_reason: str | None = None
        self._reader = asyncio.get_running_loop().create_task(self._read_loop())
        self.initialize_result: dict[str, Any] | None = None

    @classmethod
    async def spawn(
        cls,
        root: str | os.PathLike[str],
        *,
        store: str | os.PathLike[str] | None = None,
        log_file: str | os.PathLike[str] | None = None,
        options: dict[str, Any] | None = None,
        extra_args: Sequence[str] = (),
        command: Sequence[str] | None = None,
        client_name: str | None = None,
    ) -> AsyncClient:
        """Start ``snapd --stdio`` for ``root`` and complete the LSP handshake.

        ``client_name`` is sent as ``clientInfo.name`` and recorded with the snapshots taken.
        """
        cmd = (
            list(command)
            if command
            else daemon_command(store=store, log_file=log_file, extra=extra_args)
        )
        client = cls(await StdioTransport.spawn(cmd))
        try:
            await client.initialize(root, options, client_name=client_name)
        except BaseException:
            await client.close()  # a refused initialize must not leave the process behind
            raise
        return client

    @classmethod
    async def connect(
        cls,
        root: str | os.PathLike[str],
        *,
        store: str | os.PathLike[str] | None = None,
        options: dict[str, Any] | None = None,
        client_name: str | None = None,
        daemon_args: Sequence[str] = (),
    ) -> AsyncClient:
        """Join the shared daemon of ``root`` (starting it if none runs) and initialize.

        Every client of a worktree (editor, agents, the command line) shares one daemon, its
        watcher and its history; its socket is found from the store's path in the per-user
        runtime directory (``$XDG_RUNTIME_DIR/snapd``). ``daemon_args`` are flags for a daemon
        started here (``--idle-timeout``, ``-v``). A daemon that was stopping as we connected
        closes the connection before answering; we then look again (a bounded number of times).

        Raises:
            TransportClosed: no daemon could be reached or started (the reason is a sentence).
        """
        place = shared_place(root, store, os.environ)
        attempt = 0
        while True:
            attempt += 1
            sock = await asyncio.to_thread(dial, place, os.environ, daemon_args)
            client = cls(await SocketTransport.from_socket(sock))
            try:
                await client.initialize(root, options, client_name=client_name)
            except TransportClosed:
                await client.close()
                if attempt >= RECONNECTS:
                    raise
                continue
            except BaseException:
                # Refused (another capture policy, another worktree): an open connection would
                # keep the daemon from ever going idle.
                await client.close()
                raise
            return client

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- plumbing --------------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        reason = "the daemon closed the connection"
        try:
            while (msg := await self.transport.receive()) is not None:
                self._on_message(msg)
        except (TransportClosed, ConnectionError, ValueError) as exc:
            # A broken frame or pipe ends the connection; every waiter hears why.
            reason = f"{reason}: {exc}"
        finally:
            self._closed_reason = reason
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(TransportClosed(reason))
            self._pending.clear()

    def _on_message(self, msg: dict[str, Any]) -> None:
        if "method" in msg and "id" in msg:
            # A server->client request (e.g. window/workDoneProgress/create): accept it.
            asyncio.get_running_loop().create_task(
                self.transport.send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
            )
            return
        if "method" in msg:
            self.notifications.append(msg)
            for handler in self._handlers.get(msg["method"], []):
                handler(msg.get("params") or {})
            return
        fut = self._pending.pop(msg.get("id"), None)  # type: ignore[arg-type]
        if fut is None or fut.done():
            return
        if "error" in msg:
            err = msg["error"] or {}
            fut.set_exception(
                error_for(err.get("code", 0), err.get("message", ""), err.get("data"))
            )
        else:
            fut.set_result(msg.get("result"))

    def on_notification(self, method: str, handler: NotificationHandler) -> None:
        """Call ``handler(params)`` for every notification of ``method``."""
        self._handlers.setdefault(method, []).append(handler)

    async def request(self, method: str, params: Any = None, *, msg_id: int | None = None) -> Any:
        """Send a request with raw (JSON-able) params and return the raw result."""
        if self._reader.done():
            raise TransportClosed(self._closed_reason or "the daemon closed the connection")
        rid = msg_id if msg_id is not None else next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            message["params"] = params
        await self.transport.send(message)
        return await fut

    async def notify(self, method: str, params: Any = None) -> None:
        """Send a notification."""
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        await self.transport.send(message)

    async def cancel(self, msg_id: int) -> None:
        """Send ``$/cancelRequest`` for an earlier request."""
        await self.notify("$/cancelRequest", {"id": msg_id})

    def next_id(self) -> int:
        """Reserve a request id (to cancel a request later)."""
        return next(self._ids)

    async def _call(
        self, method: str, params: Any, result_type: type[R], *, msg_id: int | None = None
    ) -> R:
        """Send ``params`` (a wire params object) and structure the result as ``result_type``.

        ``params`` and ``result_type`` must be the method's classes in
        ``protocol.METHODS``: the caller names the result class so the return type is
        checked statically, and a mismatch with the table is a programming error caught here,
        before anything is sent.
        """
        types = protocol.METHODS[method]
        if result_type is not types.result:
            raise TypeError(f"{method} returns {types.result.__name__}, not {result_type.__name__}")
        if type(params) is not types.params:
            raise TypeError(f"{method} takes {types.params.__name__}, not {type(params).__name__}")
        raw = await self.request(method, self._conv.unstructure(params), msg_id=msg_id)
        return self._conv.structure(raw, result_type)

    # -- lifecycle -------------------------------------------------------------------------------

    async def initialize(
        self,
        root: str | os.PathLike[str] | None,
        options: dict[str, Any] | None = None,
        *,
        client_name: str | None = None,
    ) -> dict[str, Any]:
        """``initialize`` + ``initialized``; returns the raw initialize result.

        ``client_name`` is sent as ``clientInfo.name`` (a shared daemon names its clients).
        """
        params = initialize_params(root, options, client_name)
        result: dict[str, Any] = await self.request("initialize", params)
        await self.notify("initialized", {})
        self.initialize_result = result
        return result

    @property
    def protocol_version(self) -> str | None:
        """The protocol version the daemon announced."""
        caps = (self.initialize_result or {}).get("capabilities", {})
        value = (caps.get("experimental") or {}).get("snapd", {}).get("protocolVersion")
        return str(value) if value is not None else None

    async def close(self) -> None:
        """``shutdown``, ``exit``, and wait for the daemon to stop (or leave the shared one)."""
        try:
            await asyncio.wait_for(self.request("shutdown"), timeout=30)
            await self.notify("exit")
        except (SnapdClientError, ConnectionError, TimeoutError):
            pass  # gone already, or refused (a failed initialize): close all the same
        await self.transport.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader

    # -- snapd methods ---------------------------------------------------------------------------

    async def snapshot(
        self,
        label: str | None = None,
        *,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        msg_id: int | None = None,
        reconcile: bool = False,
        session: str | None = None,
    ) -> protocol.SnapshotResult:
        """Take a snapshot; ``on_progress`` receives each ``$/progress`` value.

        ``reconcile`` walks the whole tree even when the watcher could narrow the capture;
        ``session`` records it under a session (its consecutive snapshots are its steps).
        """
        token: str | None = None
        if on_progress is not None:
            token = f"snapshot-{next(self._ids)}"

            def handler(params: dict[str, Any]) -> None:
                if params.get("token") == token:
                    on_progress(params.get("value") or {})

            self.on_notification("$/progress", handler)
        params = protocol.SnapshotParams(
            label=label, work_done_token=token, reconcile=reconcile, session=session
        )
        try:
            return await self._call(
                protocol.SNAPD_SNAPSHOT, params, protocol.SnapshotResult, msg_id=msg_id
            )
        finally:
            # The daemon sends `end` before the response, so the handler is done with.
            if on_progress is not None:
                self._handlers["$/progress"].remove(handler)

    async def snapshots(
        self,
        *,
        cursor: str | None = None,
        limit: int | None = None,
        max_bytes: int | None = None,
        session: str | None = None,
    ) -> protocol.SnapshotsResult:
        """One page of snapshots, newest first (``session``: only that session's)."""
        params = protocol.SnapshotsParams(
            cursor=cursor, limit=limit, max_bytes=max_bytes, session=session
        )
        return await self._call(protocol.SNAPD_SNAPSHOTS, params, protocol.SnapshotsResult)

    async def iter_snapshots(
        self, *, limit: int | None = None, max_bytes: int | None = None, session: str | None = None
    ) -> AsyncIterator[protocol.SnapshotSummary]:
        """Every snapshot (of ``session``, if given), newest first, following ``nextCursor``."""
        async for item in _follow(
            lambda c: self.snapshots(cursor=c, limit=limit, max_bytes=max_bytes, session=session),
            lambda p: p.snapshots,
        ):
            yield item

    async def status(self) -> protocol.StatusResult:
        """The daemon's state."""
        return await self._call(
            protocol.SNAPD_STATUS, protocol.StatusParams(), protocol.StatusResult
        )

    async def diff(
        self,
        from_: str,
        to: str | None = None,
        *,
        paths: Sequence[str] | None = None,
        patterns: Sequence[str] | None = None,
        cursor: str | None = None,
        limit: int | None = None,
        max_bytes: int | None = None,
    ) -> protocol.DiffResult:
        """One page of changed files (``to`` None: the live worktree)."""
        params = protocol.DiffParams(
            from_=from_,
            to=to,
            paths=list(paths) if paths is not None else None,
            patterns=list(patterns) if patterns is not None else None,
            cursor=cursor,
            limit=limit,
            max_bytes=max_bytes,
        )
        return await self._call(protocol.SNAPD_DIFF, params, protocol.DiffResult)

    async def iter_diff(
        self,
        from_: str,
        to: str | None = None,
        *,
        paths: Sequence[str] | None = None,
        patterns: Sequence[str] | None = None,
        limit: int | None = None,
        max_bytes: int | None = None,
    ) -> AsyncIterator[protocol.FileChange]:
        """Every changed file, following ``nextCursor``."""
        async for item in _follow(
            lambda c: self.diff(
                from_,
                to,
                paths=paths,
                patterns=patterns,
                cursor=c,
                limit=limit,
                max_bytes=max_bytes,
            ),
            lambda p: p.files,
        ):
            yield item

    async def hunks(
        self,
        from_: str,
        path: str,
        to: str | None = None,
        *,
        context: int = 3,
        cursor: str | None = None,
        limit: int | None = None,
        max_bytes: int | None = None,
    ) -> protocol.HunksResult:
        """One page of a file's hunks."""
        params = protocol.HunksParams(
            from_=from_,
            path=path,
            to=to,
            context=context,
            cursor=cursor,
            limit=limit,
            max_bytes=max_bytes,
        )
        return await self._call(protocol.SNAPD_HUNKS, params, protocol.HunksResult)

    async def iter_hunks(
        self,
        from_: str,
        path: str,
        to: str | None = None,
        *,
        context: int = 3,
        limit: int | None = None,
        max_bytes: int | None = None,
    ) -> AsyncIterator[protocol.Hunk]:
        """Every hunk of a file, following ``nextCursor``."""
        async for item in _follow(
            lambda c: self.hunks(
                from_, path, to, context=context, cursor=c, limit=limit, max_bytes=max_bytes
            ),
            lambda p: p.hunks,
        ):
            yield item

    async def pin(self, snapshot: str, pinned: bool = True) -> protocol.PinResult:
        """Pin a snapshot (retention never drops it), or unpin it."""
        return await self._call(
            protocol.SNAPD_PIN, protocol.PinParams(id=snapshot, pinned=pinned), protocol.PinResult
        )

    async def gc(self, *, dry_run: bool = False) -> protocol.GcResult:
        """Apply the retention policy and collect garbage now (or only plan it)."""
        return await self._call(
            protocol.SNAPD_GC, protocol.GcParams(dry_run=dry_run), protocol.GcResult
        )

    async def stats(self) -> protocol.StatsResult:
        """Where the store's disk goes."""
        return await self._call(protocol.SNAPD_STATS, protocol.StatsParams(), protocol.StatsResult)

    async def daemon_status(self) -> protocol.DaemonStatusResult:
        """Who the daemon is (pid, version, shared or standalone) and what its clients are doing."""
        return await self._call(
            protocol.SNAPD_DAEMON_STATUS, protocol.DaemonStatusParams(), protocol.DaemonStatusResult
        )

    async def explain(self, path: str) -> protocol.ExplainResult:
        """Why a path is or is not captured."""
        return await self._call(
            protocol.SNAPD_EXPLAIN, protocol.ExplainParams(path=path), protocol.ExplainResult
        )

    async def restore(
        self,
        from_: str,
        *,
        paths: Sequence[str] | None = None,
        patterns: Sequence[str] | None = None,
        hunks: protocol.HunkSelection | None = None,
        dry_run: bool = True,
        plan_token: str | None = None,
        force: Sequence[str] | None = None,
        cursor: str | None = None,
        limit: int | None = None,
        max_bytes: int | None = None,
    ) -> protocol.RestoreResult:
        """Plan a restore from a snapshot (the default), or apply it with ``dry_run=False``.

        Pass the dry run's ``plan_token`` when applying to refuse (:class:`PlanStale`) a plan
        the worktree no longer matches. The result's ``safety_snapshot`` undoes an applied
        restore: ``restore(result.safety_snapshot, dry_run=False)``. ``paths`` are literal
        names (``app/[id].tsx`` is that file); ``patterns`` are gitignore-syntax patterns.
        """
        params = protocol.RestoreParams(
            from_=from_,
            paths=list(paths) if paths is not None else None,
            patterns=list(patterns) if patterns is not None else None,
            hunks=hunks,
            dry_run=dry_run,
            plan_token=plan_token,
            force=list(force) if force is not None else None,
            cursor=cursor,
            limit=limit,
            max_bytes=max_bytes,
        )
        return await self._call(protocol.SNAPD_RESTORE, params, protocol.RestoreResult)

    async def revert(
        self,
        from_: str,
        to: str,
        *,
        paths: Sequence[str] | None = None,
        dry_run: bool = True,
        plan_token: str | None = None,
        force: Sequence[str] | None = None,
        conflict_markers: bool = False,
        cursor: str | None = None,
        limit: int | None = None,
        max_bytes: int | None = None,
    ) -> protocol.RevertResult:
        """Plan taking the step ``from_`` -> ``to`` out of the worktree (``dry_run=False``: do it).

        Later edits stay: each file the step changed is reverted, merged, or left alone as a
        conflict (``conflict_markers``: written with markers). Pass the dry run's ``plan_token``
        when applying; ``safety_snapshot`` undoes it.
        """
        params = protocol.RevertParams(
            from_=from_,
            to=to,
            paths=list(paths) if paths is not None else None,
            dry_run=dry_run,
            plan_token=plan_token,
            force=list(force) if force is not None else None,
            conflict_markers=conflict_markers,
            cursor=cursor,
            limit=limit,
            max_bytes=max_bytes,
        )
        return await self._call(protocol.SNAPD_REVERT, params, protocol.RevertResult)

    async def iter_revert_plan(
        self,
        first: protocol.RevertResult,
        from_: str,
        to: str,
        *,
        paths: Sequence[str] | None = None,
        force: Sequence[str] | None = None,
        conflict_markers: bool = False,
        limit: int | None = None,
        max_bytes: int | None = None,
    ) -> AsyncIterator[protocol.RevertAction]:
        """Every action of a revert plan: ``first``'s page, then the pages after it."""
        page = first
        while True:
            for item in page.plan:
                yield item
            if page.next_cursor is None:
                return
            page = await self.revert(
                from_,
                to,
                paths=paths,
                force=force,
                conflict_markers=conflict_markers,
                cursor=page.next_cursor,
                limit=limit,
                max_bytes=max_bytes,
            )

    async def iter_restore_plan(
        self,
        first: protocol.RestoreResult,
        from_: str,
        *,
        paths: Sequence[str] | None = None,
        patterns: Sequence[str] | None = None,
        hunks: protocol.HunkSelection | None = None,
        force: Sequence[str] | None = None,
        limit: int | None = None,
        max_bytes: int | None = None,
    ) -> AsyncIterator[protocol.RestoreAction]:
        """Every action of a plan: ``first``'s page, then the pages its ``nextCursor`` leads to.

        ``first`` is the result of :meth:`restore` called with the same ``from_``, ``paths``,
        ``patterns``, ``hunks`` and ``force`` (a dry run or an applied restore).
        """
        page = first
        while True:
            for item in page.plan:
                yield item
            if page.next_cursor is None:
                return
            page = await self.restore(
                from_,
                paths=paths,
                patterns=patterns,
                hunks=hunks,
                force=force,
                cursor=page.next_cursor,
                limit=limit,
                max_bytes=max_bytes,
            )
