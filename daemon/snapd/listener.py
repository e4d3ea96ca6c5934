"""A shared daemon: many clients on one Unix socket, one LSP session per connection, one hub.

Every accepted connection gets its own :class:`~snapd.server.SnapdServer` (its own
``initialize``, cancellation, progress tokens, ``shutdown`` and ``exit``) over the same
:class:`~snapd.hub.Hub`, so all of them share the worktree's session, watcher and writer. A
peer of another user is refused before a byte is read (:func:`snapd.rendezvous.check_peer`).
``exit`` ends that connection only; the daemon stops when it has had no client for
``idleTimeout`` seconds, or on SIGTERM or SIGINT (``snapd daemon stop``). Either way it stops
the same way: it stops accepting, cancels every connection's requests and waits for them,
closes the hub (which releases the store's lock), removes its socket and exits with status 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Callable

from pygls.io_ import StdoutWriter

from snapd.hub import Hub
from snapd.rendezvous import RendezvousError, check_peer, peer_pid
from snapd.server import SnapdServer

logger = logging.getLogger(__name__)

ServerFactory = Callable[[Hub], SnapdServer]
"""Makes the server of one connection (every handler registered) over the shared hub."""


def serve_socket(
    sock: socket.socket, make_server: ServerFactory, idle_timeout: float | None
) -> int:
    """Serve every client that connects to ``sock`` until idle, SIGTERM or SIGINT; exit code.

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
    path = getattr(sock, "path", None)  # a ListeningSocket knows where it is bound
    hub = Hub(
        keep_open=True,
        socket=os.fspath(path) if path is not None else sock.getsockname(),
        idle_timeout=idle_timeout,
    )
    idle = asyncio.Event()
    why: str | None = None

    def stop(signum: int) -> None:
        nonlocal why
        why = f"{signal.Signals(signum).name} received"
        idle.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop, signum)
    connections: set[asyncio.Task[None]] = set()

    def patience() -> float:
        seconds = hub.idle_timeout
        assert seconds is not None  # the hub of a shared daemon always has one
        return seconds

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
            task = loop.create_task(_connection(conn, hub, make_server, peer_pid(conn)))
            connections.add(task)
            task.add_done_callback(closed)
    finally:
        if stopping.done():
            logger.info("%s: stopping", why or f"no client for {patience():g} s")
        accepting.cancel()
        stopping.cancel()
        ending = list(connections)
        for task in ending:
            task.cancel()
        # Each connection cancels its requests and leaves the hub before the hub closes the
        # session: a restore or snapshot stops at its next file, never halfway through a write.
        await asyncio.gather(*ending, return_exceptions=True)
        await hub.close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


async def _connection(
    conn: socket.socket, hub: Hub, make_server: ServerFactory, pid: int | None
) -> None:
    """One client's LSP session over its connection, until EOF, ``exit`` or the daemon stops."""
    conn.setblocking(True)
    server = make_server(hub)
    server.hang_up = lambda: _hang_up(conn)
    server.peer_pid = pid
    reader = conn.makefile("rb")
    writer = conn.makefile("wb")
    server.protocol.set_writer(StdoutWriter(writer))
    try:
        await server.serve_frames(reader)
    finally:
        # Cancelled (the daemon stops): this client's requests end before it leaves.
        await server.cancel_requests()
        await server.close_session()
        _hang_up(conn)  # wakes the thread that reads the connection
        with contextlib.suppress(OSError):
            writer.close()
        reader.close()
        conn.close()


def _hang_up(conn: socket.socket) -> None:
    """End a connection from our side: its reader sees EOF and the session is left."""
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)
