"""``snapd/daemonStatus``: who the daemon is and what each of its clients is doing.

The request layer knows neither the hub nor the connections: it sees them through the two
small protocols below, which :class:`~snapd.hub.Hub` and :class:`~snapd.server.SnapdServer`
satisfy.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from snapd import __version__, protocol
from snapd.worktree import Worktree


class Daemon(Protocol):
    """The daemon as the request sees it."""

    @property
    def shared(self) -> bool:
        """True under ``--listen``, false for a standalone ``--stdio`` daemon."""

    @property
    def socket(self) -> str | None:
        """Where a shared daemon listens."""

    @property
    def idle_timeout(self) -> float | None:
        """Seconds a shared daemon stays up with no client."""

    @property
    def started_at(self) -> float:
        """When the daemon started (``time.time()``)."""


class Client(Protocol):
    """One connection as the request sees it."""

    @property
    def client_name(self) -> str | None:
        """``clientInfo.name`` from its ``initialize``."""

    @property
    def peer_pid(self) -> int | None:
        """The pid at the other end of the connection, when the kernel said."""

    @property
    def connected_at(self) -> float:
        """When it connected (``time.time()``)."""

    @property
    def running(self) -> Mapping[Any, str]:
        """Its requests in progress: method by request id, oldest first."""


def daemon_status(
    wt: Worktree, daemon: Daemon, clients: Iterable[Client], asking: Client
) -> protocol.DaemonStatusResult:
    """The daemon and its ``clients`` (in connection order); ``asking`` is the one asking."""
    return protocol.DaemonStatusResult(
        pid=os.getpid(),
        version=__version__,
        shared=daemon.shared,
        socket=daemon.socket,
        root=wt.root,
        store=wt.store_path,
        started_at=int(daemon.started_at),
        idle_timeout=daemon.idle_timeout,
        clients=[
            protocol.DaemonClient(
                name=client.client_name or "",
                pid=client.peer_pid,
                connected_at=int(client.connected_at),
                you=client is asking,
                # Its own kind would only ever list the question being answered.
                requests=[m for m in client.running.values() if m != protocol.SNAPD_DAEMON_STATUS],
            )
            for client in clients
        ],
    )
