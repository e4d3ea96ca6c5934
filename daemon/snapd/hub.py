"""What every connection to one daemon shares: the served worktree's session and its clients.

A daemon serves one worktree (one store, one watcher, one writer). Each connection is a full
LSP session of its own (``initialize``, cancellation, progress tokens, ``shutdown``/``exit``);
the :class:`Hub` gives them all the same :class:`~snapd.session.Session`, opened by the first
``initialize``. It is closed when the last client leaves (standalone ``--stdio``) or when the
daemon stops (a shared daemon keeps it warm between clients, see :mod:`snapd.listener`).
Notifications (``snapd/didSnapshot``, ``snapd/didChange``) go to every connected client, so a
snapshot one client takes appears to all of them at once. ``snapd/daemonStatus`` reads who the
daemon is and who its clients are here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any, Protocol

import attrs

from snapd import errors
from snapd.config import Options, per_connection, wire_key
from snapd.requests.common import map_errors
from snapd.requests.daemon import Client
from snapd.session import Session
from snapd.worktree import Worktree

logger = logging.getLogger(__name__)


class Peer(Client, Protocol):
    """A connected client, as the hub sees it."""

    @property
    def connection(self) -> int:
        """Its rank among the daemon's connections: clients are listed in this order."""

    def notify(self, method: str, params: Any) -> None:
        """Send a notification to this client."""


class Hub:
    """The session shared by every connection of one daemon.

    Args:
        keep_open: Keep the session (and its watcher) when the last client leaves, for the
            next one; :meth:`close` closes it. Otherwise the last client out closes it.
        socket: Where a shared daemon listens (None: a standalone daemon).
        idle_timeout: Seconds a shared daemon stays up with no client (None: its worktree's
            ``idleTimeout`` option decides).
    """

    def __init__(
        self,
        *,
        keep_open: bool = False,
        socket: str | None = None,
        idle_timeout: float | None = None,
    ) -> None:
        self.session: Session | None = None
        self.peers: dict[Peer, str] = {}
        """Connected clients that sent ``initialize``, with their ``clientInfo`` names."""
        self.keep_open = keep_open
        self.socket = socket
        self._idle_timeout = idle_timeout
        self.started_at = time.time()
        """When the daemon started (its hub is made before it serves anyone)."""
        self._lock = asyncio.Lock()

    async def attach(
        self,
        peer: Peer,
        name: str,
        root: str,
        store: str,
        options: Options,
        *,
        asked: str | None = None,
    ) -> Session:
        """Serve ``peer``: open the session on the first ``initialize``, else join it.

        ``asked`` is the worktree the client named in ``initialize`` (``root`` may come from
        the daemon's command line instead); a shared daemon serves no other.

        Raises:
            errors.InvalidParams: the daemon already serves another worktree, or the client
                asks for a capture policy other than the running one (it shapes the shared
                history, so one client may not change it for the others).
        """
        async with self._lock:
            if self.keep_open and asked is not None:
                self._check_root(self.session.worktree.root if self.session else root, asked)
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

    @property
    def idle_timeout(self) -> float | None:
        """Seconds a shared daemon stays up with no client (None: standalone).

        Its command line's, else the served worktree's ``idleTimeout`` option (the default
        before a session is open).
        """
        if not self.keep_open:
            return None
        if self._idle_timeout is not None:
            return self._idle_timeout
        return (self.session.options if self.session else Options()).idle_timeout

    @property
    def shared(self) -> bool:
        """True for a shared daemon (``--listen``): it outlives its clients."""
        return self.keep_open

    def clients(self) -> list[Peer]:
        """The connected clients that sent ``initialize``, in the order they connected."""
        return sorted(self.peers, key=lambda peer: peer.connection)

    @staticmethod
    def _check_root(served: str, asked: str) -> None:
        served, asked = os.path.realpath(served), os.path.realpath(asked)
        if asked != served:
            raise errors.InvalidParams(
                f"this snapd serves {served}, not {asked}: each worktree has its own daemon",
                field="rootUri",
            )

    @classmethod
    def _check_joins(cls, session: Session, root: str, options: Options) -> None:
        cls._check_root(session.worktree.root, root)
        for field in attrs.fields(Options):
            if per_connection(field):
                continue  # page sizes and the frame limit are each client's own
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
        """Forget ``peer``; the last one out closes the session unless it is kept open."""
        async with self._lock:
            if self.peers.pop(peer, None) is None:
                return
            logger.info("a client left (%d connected)", len(self.peers))
            if not self.peers and not self.keep_open:
                await self._close()

    async def _close(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            await session.close()

    async def close(self) -> None:
        """Close the session whoever is connected (the daemon is stopping)."""
        async with self._lock:
            self.peers.clear()
            await self._close()
