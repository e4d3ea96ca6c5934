"""What every connection to one daemon shares: the served worktree's session and its clients.

A daemon serves one worktree (one store, one watcher, one writer). Each connection is a full
LSP session of its own (``initialize``, cancellation, progress tokens, ``shutdown``/``exit``);
the :class:`Hub` gives them all the same :class:`~snapd.session.Session`, opened by the first
``initialize`` and closed when the last client leaves (standalone ``--stdio``) or after the
idle timeout (a shared daemon). Notifications (``snapd/didSnapshot``, ``snapd/didChange``) go
to every connected client, so a snapshot one client takes appears to all of them at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any, Protocol

import attrs

from snapd import errors
from snapd.config import Options, wire_key
from snapd.requests.common import map_errors
from snapd.session import Session
from snapd.worktree import Worktree

logger = logging.getLogger(__name__)


class Peer(Protocol):
    """A connected client, as the hub sees it."""

    def notify(self, method: str, params: Any) -> None:
        """Send a notification to this client."""


class Hub:
    """The session shared by every connection of one daemon.

    Args:
        idle_timeout: Seconds to keep the session open once the last client has left; None
            closes it at once (a standalone daemon serves one client).
        on_idle: Called once the session was closed for idleness (a shared daemon exits then).
    """

    def __init__(
        self,
        *,
        idle_timeout: float | None = None,
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        self.session: Session | None = None
        self.peers: dict[Peer, str] = {}
        """Connected clients that sent ``initialize``, with their ``clientInfo`` names."""
        self.idle_timeout = idle_timeout
        self.on_idle = on_idle
        self._lock = asyncio.Lock()
        self._idle: asyncio.TimerHandle | None = None

    async def attach(
        self, peer: Peer, name: str, root: str, store: str, options: Options
    ) -> Session:
        """Serve ``peer``: open the session on the first ``initialize``, else join it.

        Raises:
            errors.InvalidParams: the daemon already serves another worktree, or the client
                asks for a capture policy other than the running one (it shapes the shared
                history, so one client may not change it for the others).
        """
        async with self._lock:
            if self._idle is not None:
                self._idle.cancel()
                self._idle = None
            if self.session is None:
                with map_errors():
                    worktree = await asyncio.to_thread(Worktree, root, store, options)
                session = Session(worktree, self.broadcast)
                try:
                    await session.start()
                except BaseException:
                    await session.close()
                    raise
                self.session = session
                logger.info("serving %s with store %s", worktree.root, worktree.store_path)
            else:
                self._check_joins(self.session, root, options)
            self.peers[peer] = name
            logger.info("client %s connected (%d connected)", name or "?", len(self.peers))
            return self.session

    @staticmethod
    def _check_joins(session: Session, root: str, options: Options) -> None:
        served = session.worktree.root
        if os.path.realpath(root) != served:
            raise errors.InvalidParams(
                f"this snapd serves {served}, not {os.path.realpath(root)}: each worktree has "
                "its own daemon",
                field="rootUri",
            )
        for field in attrs.fields(Options):
            ours, theirs = getattr(session.options, field.name), getattr(options, field.name)
            if ours != theirs:
                key = wire_key(field.name)
                raise errors.InvalidParams(
                    f"initializationOptions.{key}: the running snapd uses {ours!r} for this "
                    f"worktree and another client shares its history, so it cannot be "
                    f"{theirs!r} for you (set it in .snapd.toml and restart the daemon)",
                    field=f"initializationOptions.{key}",
                )

    def broadcast(self, method: str, params: Any) -> None:
        """Send a notification to every connected client."""
        for peer in list(self.peers):
            try:
                peer.notify(method, params)
            except (OSError, RuntimeError) as exc:  # a client that went away meanwhile
                logger.info("cannot notify a client: %s", exc)

    async def detach(self, peer: Peer) -> None:
        """Forget ``peer``; the last one out closes the session (now, or when idle)."""
        async with self._lock:
            if self.peers.pop(peer, None) is None or self.peers:
                return
            if self.idle_timeout is None:
                await self._close()
                return
            loop = asyncio.get_running_loop()
            self._idle = loop.call_later(self.idle_timeout, self._idle_close)

    def _idle_close(self) -> None:
        self._idle = None
        asyncio.get_running_loop().create_task(self._close_idle())

    async def _close_idle(self) -> None:
        async with self._lock:
            if self.peers or self.session is None:
                return
            logger.info("no client for %s s: closing", self.idle_timeout)
            await self._close()
        if self.on_idle is not None:
            self.on_idle()

    async def _close(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            await session.close()

    async def close(self) -> None:
        """Close the session whoever is connected (the daemon is stopping)."""
        async with self._lock:
            if self._idle is not None:
                self._idle.cancel()
                self._idle = None
            self.peers.clear()
            await self._close()
