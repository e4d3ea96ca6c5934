"""Find a worktree's shared daemon, starting it when none runs (issue 15, items 2 and 3).

The forwarder (``snapd --stdio``), the command line and the Python client all reach the shared
daemon the same way, as gopls's ``-remote=auto`` does:

1. :func:`locate` computes where it lives: the store (``--store``, else the default under the
   XDG data directory), the socket in the per-user runtime directory named after the store,
   and the daemon's log, ``daemon.log`` inside the store.
2. :func:`connect_or_start` connects to the socket. When no daemon listens there (no socket,
   or a stale one left by a daemon killed with -9), it starts one: ``python -P -m snapd
   --listen SOCKET`` in a session of its own (so the terminal's Ctrl-C and hang-up do not reach
   it), stdin from ``/dev/null``, stdout and stderr appended to the log. The daemon says on a
   pipe whether it listens (``ready``), lost a race to another daemon starting for the same
   store (``served``: that one will answer), or could not start (``error`` and a sentence);
   then the client connects. Several clients racing to start a daemon end with exactly one:
   the listening socket's lock (:func:`snapd.rendezvous.listen`) admits one listener, and the
   others connect to it. A daemon that is starting or stopping leaves short gaps in which
   nobody answers; the client retries a bounded number of times, then gives up with a
   sentence.

A leaf like :mod:`snapd.rendezvous`: the standard library only (a client imports it on its
fast path), and no environment variable read here: callers pass ``$XDG_RUNTIME_DIR``,
``$XDG_DATA_HOME``, the temp directory and the environment the daemon inherits.
"""

from __future__ import annotations

import os
import select
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final, NamedTuple

from snapd.rendezvous import (
    NoDaemon,
    RendezvousError,
    connect,
    default_store_path,
    holder,
    runtime_dir,
    socket_path,
    wait_released,
)

__all__ = [
    "DaemonStartFailed",
    "Place",
    "connect_or_start",
    "data_home",
    "locate",
    "locate_from_env",
    "start_daemon",
    "stop_daemon",
    "stop_listener",
]

LOG_NAME: Final = "daemon.log"
"""The shared daemon's log, inside its store."""

START_TIMEOUT: Final = 60.0
"""Seconds a new daemon may take to listen (imports, a slow disk) before the client gives up."""

ATTEMPTS: Final = 40
"""How many times a client looks for a daemon before giving up (see :func:`connect_or_start`)."""

BACKOFF: Final = (0.005, 0.25)
"""First and longest pause (seconds) between two attempts while another daemon starts or stops."""

READY, SERVED, ERROR = "ready", "served", "error"
"""What a starting daemon writes on its ready pipe (:func:`snapd.cli.main`'s ``--ready-fd``)."""


class DaemonStartFailed(RendezvousError):
    """No daemon could be reached or started; ``str()`` says why and where its log is."""


class Place(NamedTuple):
    """Where one worktree's shared daemon lives (a named tuple: no dataclasses to import)."""

    root: str
    """The worktree (absolute, as the user named it)."""
    store: str
    """The store directory."""
    socket: Path
    """The daemon's Unix socket."""

    @property
    def log(self) -> Path:
        """The daemon's log file, inside the store."""
        return Path(self.store, LOG_NAME)


def locate(
    root: str | os.PathLike[str],
    store: str | os.PathLike[str] | None,
    *,
    data_home: str,
    runtime: str | None,
    tmp: str,
    uid: int,
) -> Place:
    """Where the daemon of ``root`` lives (its store defaults as the daemon's own does).

    Args:
        root: The worktree.
        store: The store given by the user (``--store``), or None for the default.
        data_home: ``$XDG_DATA_HOME`` or ``~/.local/share``.
        runtime: ``$XDG_RUNTIME_DIR`` (None when unset).
        tmp: The temp directory, for the runtime directory when ``runtime`` is not usable.
        uid: The user's uid.

    Raises:
        RendezvousError: the runtime directory is unsafe, or the socket path too long.
    """
    root = os.path.abspath(root)
    store_path = (
        os.path.abspath(store) if store is not None else default_store_path(data_home, root)
    )
    return Place(root, store_path, socket_path(runtime_dir(runtime, tmp, uid), store_path))


def data_home(env: Mapping[str, str]) -> str:
    """``$XDG_DATA_HOME``, else ``~/.local/share``, from the environment ``env``."""
    given = env.get("XDG_DATA_HOME")
    if given and os.path.isabs(given):
        return given
    home = env.get("HOME") or os.path.expanduser("~")
    return os.path.join(home, ".local", "share")


def locate_from_env(
    root: str | os.PathLike[str], store: str | os.PathLike[str] | None, env: Mapping[str, str]
) -> Place:
    """:func:`locate` with the XDG directories of ``env`` (a client's ``os.environ``)."""
    import tempfile

    return locate(
        root,
        store,
        data_home=data_home(env),
        runtime=env.get("XDG_RUNTIME_DIR"),
        tmp=tempfile.gettempdir(),
        uid=os.getuid(),
    )


def daemon_argv(place: Place, ready_fd: int, args: Sequence[str] = ()) -> list[str]:
    """The command line of a shared daemon for ``place`` reporting on ``ready_fd``."""
    return [
        sys.executable,
        "-P",  # never the current directory on sys.path (a json.py there would shadow json)
        "-m",
        "snapd",
        "--listen",
        os.fspath(place.socket),
        "--root",
        place.root,
        "--store",
        place.store,
        "--log-file",
        os.fspath(place.log),
        "--ready-fd",
        str(ready_fd),
        *args,
    ]


def start_daemon(place: Place, env: Mapping[str, str], args: Sequence[str] = ()) -> str:
    """Start a shared daemon for ``place`` in the background; what it said once it listened.

    Args:
        place: Where it lives.
        env: Its environment.
        args: More daemon flags (``--idle-timeout``, ``-v``, ``--content-limit``, ...).

    Returns:
        :data:`READY` (it listens) or :data:`SERVED` (another daemon holds the socket).

    Raises:
        DaemonStartFailed: it could not start, said why, or exited without a word.
    """
    try:
        os.makedirs(place.store, exist_ok=True)
        log_fd = os.open(place.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        where = exc.filename or place.store
        raise DaemonStartFailed(
            f"cannot start the snapd daemon for {place.root}: {where}: {exc.strerror or exc}"
        ) from exc
    read_end, write_end = os.pipe()
    null_fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.set_inheritable(write_end, True)
        pid = os.posix_spawn(
            sys.executable,
            daemon_argv(place, write_end, args),
            dict(env),
            file_actions=[
                (os.POSIX_SPAWN_DUP2, null_fd, 0),
                (os.POSIX_SPAWN_DUP2, log_fd, 1),
                (os.POSIX_SPAWN_DUP2, log_fd, 2),
            ],
            setsid=True,  # its own session: the terminal's signals are not its business
        )
    except OSError as exc:
        os.close(read_end)
        raise DaemonStartFailed(
            f"cannot start the snapd daemon for {place.root}: {exc.strerror or exc}"
        ) from exc
    finally:
        os.close(write_end)
        os.close(log_fd)
        os.close(null_fd)
    try:
        said = _read_line(read_end, START_TIMEOUT)
    finally:
        os.close(read_end)
    word, _, rest = said.partition(" ")
    if word in (READY, SERVED):
        return word
    _reap(pid)
    if word == ERROR and rest:
        raise DaemonStartFailed(f"the snapd daemon for {place.root} did not start: {rest}")
    why = "did not say it listens" if said else "exited during start-up"
    raise DaemonStartFailed(
        f"the snapd daemon for {place.root} {why}; its log is {place.log}"
        + (f" (last line: {tail})" if (tail := _log_tail(place.log)) else "")
    )


def _read_line(fd: int, timeout: float) -> str:
    """One line from ``fd`` ('' at EOF or after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return ""
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data.partition(b"\n")[0].decode("utf-8", "replace").strip()


def _reap(pid: int) -> None:
    """Collect a daemon that failed to start, if it has exited (no zombie left behind)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _log_tail(path: Path) -> str | None:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - 4096))
            lines = [ln for ln in f.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    except OSError:
        return None
    return lines[-1].strip() if lines else None


def connect_or_start(
    place: Place,
    *,
    uid: int,
    env: Mapping[str, str],
    args: Sequence[str] = (),
    attempts: int = ATTEMPTS,
) -> socket.socket:
    """A connection to the daemon of ``place``, started first if none runs.

    Args:
        place: Where the daemon lives (:func:`locate`).
        uid: The daemon must run as this uid (the caller's).
        env: The environment of a daemon started here.
        args: Its extra flags (see :func:`start_daemon`).
        attempts: How many times to look before giving up.

    Returns:
        A connected, blocking socket; the caller speaks LSP-framed JSON-RPC on it.

    Raises:
        DaemonStartFailed: no daemon could be reached or started.
        RendezvousError: the socket belongs to another user, or its path is unusable.
    """
    pause = BACKOFF[0]
    for _ in range(attempts):
        try:
            return connect(place.socket, uid=uid)
        except NoDaemon:
            pass
        if start_daemon(place, env, args) == READY:
            continue  # connect at once
        # Another daemon holds the socket's lock: it is starting (it will listen in a moment)
        # or stopping (its lock is released in a moment). Either way, look again shortly.
        time.sleep(pause)
        pause = min(pause * 2, BACKOFF[1])
    raise DaemonStartFailed(
        f"no snapd daemon answers at {place.socket} for {place.root}, and none could be "
        f"started there after {attempts} attempts; its log is {place.log}"
    )


def stop_listener(path: Path, *, timeout: float = 30.0) -> int | None:
    """Stop the daemon listening at the socket ``path`` (SIGTERM) and wait until it is gone.

    Returns:
        Its pid, once it is gone; None when no daemon held the socket.

    Raises:
        RendezvousError: it is still there after ``timeout`` seconds.
    """
    import signal

    pid = holder(path)
    if pid is None:
        return None
    try:
        os.kill(pid, signal.SIGTERM)  # it finishes what it writes, then exits
    except ProcessLookupError:
        pass  # it is exiting already; its lock goes with it
    if not wait_released(path, timeout):
        raise RendezvousError(
            f"the snapd daemon (pid {pid}) at {path} is still running {timeout:g} s after it "
            "was asked to stop"
        )
    return pid


def stop_daemon(place: Place, *, timeout: float = 30.0) -> int | None:
    """Stop the daemon of ``place``; its pid once it is gone, None when none ran.

    Raises:
        RendezvousError: it is still there after ``timeout`` seconds (its log is named).
    """
    try:
        return stop_listener(place.socket, timeout=timeout)
    except RendezvousError as exc:
        raise RendezvousError(f"{exc}; its log is {place.log}") from exc
