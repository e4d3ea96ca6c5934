"""A shared daemon: many clients on one Unix socket, one LSP session per connection, one hub.

Every accepted connection gets its own :class:`~snapd.server.SnapdServer` (its own
``initialize``, cancellation, progress tokens, ``shutdown`` and ``exit``) over the same
:class:`~snapd.hub.Hub`, so all of them share the worktree's session, watcher and writer. A
peer of another user is refused before a byte is read (:func:`snapd.rendezvous.check_peer`).
``exit`` ends that connection only; the daemon stops when it has had no client for
``idleTimeout`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable

from pygls.io_ import StdoutWriter

from snapd.config import Options
from snapd.hub import Hub
from snapd.rendezvous import RendezvousError, check_peer
from snapd.server import SnapdServer

logger = logging.getLogger(__name__)

ServerFactory = Callable[[Hub], SnapdServer]
"""Makes the server of one connection (every handler registered) over the shared hub."""


def serve_socket(
    sock: socket.socket, make_server: ServerFactory, idle_timeout: float | None
) -> int:
    """Serve every client that connects to ``sock`` until the daemon is idle; exit code.

    ``idle_timeout`` (seconds with no client before stopping) comes from the command line;
    when None, the served worktree's ``idleTimeout`` option decides (600 before it is open).
    """
    try:
        asyncio.run(_serve(sock, make_server, idle_timeout))
    finally:
        sock.close()  # a ListeningSocket removes its file and releases its lock
    return 0


async def _serve(
    sock: socket.socket, make_server: ServerFactory, idle_timeout: float | None
) -> None:
    loop = asyncio.get_running_loop()
    hub = Hub(keep_open=True)
    idle = asyncio.Event()
    connections: set[asyncio.Task[None]] = set()

    def patience() -> float:
        if idle_timeout is not None:
            return idle_timeout
        return hub.session.options.idle_timeout if hub.session else Options().idle_timeout

    timer: asyncio.TimerHandle | None = loop.call_later(patience(), idle.set)

    def closed(task: asyncio.Task[None]) -> None:
        nonlocal timer
        connections.discard(task)
        if not connections:
            timer = loop.call_later(patience(), idle.set)

    sock.setblocking(False)
    accepting = asyncio.ensure_future(loop.sock_accept(sock))
    stopping = asyncio.ensure_future(idle.wait())
    try:
        while True:
            await asyncio.wait({accepting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if stopping.done():
                break
            conn, _addr = accepting.result()
            accepting = asyncio.ensure_future(loop.sock_accept(sock))
            try:
                check_peer(conn, os.getuid())
            except RendezvousError as exc:
                logger.warning("%s", exc)
                conn.close()
                continue
            if timer is not None:
                timer.cancel()
                timer = None
            task = loop.create_task(_connection(conn, hub, make_server))
            connections.add(task)
            task.add_done_callback(closed)
    finally:
        accepting.cancel()
        stopping.cancel()
        for task in list(connections):
            task.cancel()
        await hub.close()
    logger.info("no client for %s s: stopping", patience())


async def _connection(conn: socket.socket, hub: Hub, make_server: ServerFactory) -> None:
    """One client's LSP session over its connection, until EOF or ``exit``."""
    conn.setblocking(True)
    server = make_server(hub)
    server.hang_up = lambda: _hang_up(conn)
    reader = conn.makefile("rb")
    writer = conn.makefile("wb")
    server.protocol.set_writer(StdoutWriter(writer))
    try:
        await server.serve_frames(reader)
    finally:
        await server.close_session()
        with contextlib.suppress(OSError):
            writer.close()
        reader.close()
        conn.close()


def _hang_up(conn: socket.socket) -> None:
    """End a connection from our side: its reader sees EOF and the session is left."""
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)
