"""Wire types of ``snapd/daemonStatus``: who the daemon is and what its clients are doing."""

from __future__ import annotations

import attrs

# -- snapd/daemonStatus ---------------------------------------------------------------------------


@attrs.define(kw_only=True)
class DaemonStatusParams:
    """No parameters."""


@attrs.define(kw_only=True)
class DaemonClient:
    """One connected client of the daemon (a connection that completed ``initialize``)."""

    name: str
    """Its ``clientInfo.name`` from ``initialize``; ``""`` when it sent none."""

    connected_at: int
    """When it connected, seconds since the epoch."""

    you: bool
    """``true`` for the connection that asks."""

    requests: list[str]
    """Methods of its requests in progress now (e.g. ``snapd/snapshot``), oldest first;
    ``snapd/daemonStatus`` requests are not listed."""

    pid: int | None = None
    """The process at the other end of its connection, from the kernel (``SO_PEERCRED`` on
    Linux, ``LOCAL_PEERPID`` on macOS); absent when unknown (a standalone daemon's client)."""


@attrs.define(kw_only=True)
class DaemonStatusResult:
    """Who the daemon is, and its clients."""

    pid: int
    """The daemon's process id."""

    version: str
    """snapd's version."""

    shared: bool
    """``true`` for a shared daemon (``snapd --listen``), ``false`` for a standalone one
    (``snapd --stdio``) that serves only the client that started it."""

    root: str
    """Absolute path of the worktree."""

    store: str
    """Absolute path of the sidecar store."""

    started_at: int
    """When the daemon started, seconds since the epoch."""

    clients: list[DaemonClient]
    """Its clients, in the order they connected."""

    socket: str | None = None
    """Where a shared daemon listens; absent for a standalone one."""

    idle_timeout: float | None = None
    """Seconds a shared daemon stays up with no client connected; absent for a standalone one."""
