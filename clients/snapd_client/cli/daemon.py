"""``snapd daemon start|stop|status``: the worktree's shared daemon, by hand.

The other commands start the daemon when none runs and leave it running for the next one (it
stops by itself when idle), so these are rarely needed: ``start`` warms it up ahead of time
(e.g. from an editor's start-up), ``stop`` ends it now (SIGTERM: it finishes what it writes,
releases the store and removes its socket), ``status`` shows who is connected and what they
are doing. ``status`` exits with 3 when no daemon runs, as ``systemctl status`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import TYPE_CHECKING, Any

from snapd.autostart import Place, connect_or_start, locate_from_env, stop_daemon
from snapd.rendezvous import holder

if TYPE_CHECKING:
    from snapd_client.cli.output import Output

NOT_RUNNING = 3
"""Exit status of ``snapd daemon status`` when no daemon runs (LSB's "program is not running")."""


async def cmd_daemon(args: argparse.Namespace, out: Output) -> int:
    """``snapd daemon ACTION``; the exit status."""
    place = locate_from_env(args.root, args.store, os.environ)
    if args.action == "start":
        return await _start(place, args, out)
    if args.action == "stop":
        return await _stop(place, args, out)
    return await _status(place, args, out)


def _facts(place: Place, pid: int | None) -> dict[str, Any]:
    return {
        "running": pid is not None,
        "pid": pid,
        "root": place.root,
        "store": place.store,
        "socket": os.fspath(place.socket),
        "log": os.fspath(place.log),
    }


def _where(place: Place, out: Output) -> None:
    from snapd_client.cli.text import safe

    out.print(("socket  ", "bold"), safe(os.fspath(place.socket)))
    out.print(("log     ", "bold"), safe(os.fspath(place.log)))


async def _start(place: Place, args: argparse.Namespace, out: Output) -> int:
    from snapd_client.cli.text import safe

    pid = holder(place.socket)
    already = pid is not None
    if not already:
        sock = await asyncio.to_thread(connect_or_start, place, uid=os.getuid(), env=os.environ)
        sock.close()
        pid = holder(place.socket)
    if args.json:
        out.json({**_facts(place, pid), "started": not already})
        return 0
    verb = "is already running" if already else "started"
    out.print(f"snapd daemon (pid {pid}) for {safe(place.root)}: {verb}")
    _where(place, out)
    return 0


async def _stop(place: Place, args: argparse.Namespace, out: Output) -> int:
    from snapd_client.cli.text import safe

    pid = await asyncio.to_thread(stop_daemon, place)
    if args.json:
        out.json({**_facts(place, None), "stopped": pid})
        return 0
    if pid is None:
        out.print(f"no snapd daemon runs for {safe(place.root)}")
    else:
        out.print(f"snapd daemon (pid {pid}) for {safe(place.root)}: stopped")
    return 0


async def _status(place: Place, args: argparse.Namespace, out: Output) -> int:
    from snapd_client._client import AsyncClient
    from snapd_client.cli.text import safe

    if holder(place.socket) is None:
        if args.json:
            out.json(_facts(place, None))
        else:
            out.print(f"no snapd daemon runs for {safe(place.root)}")
        return NOT_RUNNING
    async with await AsyncClient.connect(place.root, store=place.store, client_name="cli") as c:
        status = await c.daemon_status()
    if args.json:
        from snapd import protocol

        out.json(protocol.converter().unstructure(status))
        return 0
    out.start_pager()
    rows = [
        ("pid", str(status.pid)),
        ("version", status.version),
        ("root", safe(status.root)),
        ("store", safe(status.store)),
        ("socket", safe(status.socket or "(none: standalone)")),
        ("log", safe(os.fspath(place.log))),
        ("started", _when(status.started_at)),
        (
            "idle stop",
            f"after {status.idle_timeout:g} s with no client"
            if status.idle_timeout is not None
            else "with its client (a standalone daemon)",
        ),
    ]
    for key, value in rows:
        out.print((f"{key:<10}", "bold"), value)
    out.print((f"clients ({len(status.clients)})", "bold"))
    for client in status.clients:
        doing = ", ".join(client.requests) if client.requests else "idle"
        who = safe(client.name) or "(unnamed)"
        pid = f"pid {client.pid}" if client.pid is not None else "pid ?"
        mark = "  (this command)" if client.you else ""
        out.print(
            f"  {who}  ",
            (f"{pid}, since {_when(client.connected_at)}  ", "dim"),
            doing,
            (mark, "dim"),
        )
    return 0


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


MANAGE = {"daemon": cmd_daemon}
"""Commands that manage the daemon rather than ask it (they connect, or not, themselves)."""
