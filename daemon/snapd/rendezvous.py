"""Where the shared daemon of a worktree listens, and who may connect to it (issue 15, item 1).

One daemon serves each store; its clients (editor, agents, the command line) find it at a Unix
stream socket whose path both sides compute from the store's path. There is no TCP: a Unix
socket lives in the file system, so its directory's permissions decide who may reach it, and
the kernel tells the daemon the uid of every peer.

* :func:`runtime_dir` is the per-user directory: ``$XDG_RUNTIME_DIR/snapd/`` when that variable
  names a directory the user owns and nobody else may write to, else ``snapd-<uid>`` under the
  temp directory. It is created ``0700``; one that exists but is a symlink, belongs to another
  uid or is open to group or others is refused, as tmux and ssh-agent refuse theirs (someone
  else could otherwise plant a socket there, or read ours).
* :func:`socket_path` names the socket after the first 16 hex digits of the SHA-256 of the
  store's real path: Unix socket addresses hold only 108 bytes on Linux and 104 on macOS,
  terminating NUL included, so the store's own path cannot be part of the name.
* :func:`listen` binds the socket ``0600`` (under a temporary name that is chmod-ed, then
  renamed into place, so the process umask is never touched) and returns a
  :class:`ListeningSocket`. It holds an exclusive ``flock`` on ``<socket>.lock`` for as long as
  it is open, which makes a start-up race end with exactly one listener: a second
  :func:`listen` fails with :class:`AlreadyServed` while the first lives. When the lock is free
  nobody serves, so a socket left by a daemon killed with -9 is stale; it is checked (connect is
  refused) and replaced. Closing the listener (directly, or through an asyncio server given it
  as ``sock=``) removes its socket, then releases the lock. The lock file itself stays: were it
  removed, two listeners could each lock a different file of the same name.
* :func:`connect` is the client side, with one exception per way of finding no daemon:
  :class:`DaemonAbsent` (no socket), :class:`StaleSocket` (a socket nobody listens on), both
  :class:`NoDaemon`, and :class:`ConnectDenied` (the file system refused us).
* :func:`peer_uid` asks the kernel who is at the other end: ``SO_PEERCRED`` on Linux,
  ``LOCAL_PEERCRED`` on macOS (what ``getpeereid`` is built on there). :func:`check_peer`
  refuses a peer of another uid; the daemon calls it on every accepted connection, which
  matters when the directory's permissions were loosened by hand. :func:`peer_pid` names the
  peer's process the same way (``SO_PEERCRED``; ``LOCAL_PEERPID`` on macOS), for
  ``snapd/daemonStatus``.

A daemon hands over to the next one through short gaps a client may see: while a listener
starts (it holds the lock but has not yet renamed its socket into place) or closes (its socket
is gone but the lock not yet released), :func:`listen` raises :class:`AlreadyServed` and
:func:`connect` :class:`DaemonAbsent`. A client that starts daemons on demand tries again a
bounded number of times.

A leaf: it imports nothing of snapd, and reads no environment variable (only ``cli.py`` does,
and passes ``XDG_RUNTIME_DIR``, the temp directory and the uid in).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import os
import socket
import stat
import struct
import sys
import time
from pathlib import Path
from typing import Final

__all__ = [
    "AlreadyServed",
    "ConnectDenied",
    "DaemonAbsent",
    "ForeignPeer",
    "ListeningSocket",
    "NoDaemon",
    "PeerCredentialsUnavailable",
    "RendezvousError",
    "SocketPathTooLong",
    "StaleSocket",
    "UnsafeRuntimeDir",
    "check_peer",
    "connect",
    "default_store_path",
    "holder",
    "listen",
    "peer_pid",
    "peer_uid",
    "runtime_dir",
    "socket_path",
    "wait_released",
]

log = logging.getLogger(__name__)

SOL_LOCAL: Final = 0
"""macOS ``<sys/un.h>``: the option level of ``AF_UNIX`` sockets."""

LOCAL_PEERCRED: Final = 0x001
"""macOS ``<sys/un.h>``: get the peer's ``struct xucred`` (Python's socket module lacks it)."""

LOCAL_PEERPID: Final = 0x002
"""macOS ``<sys/un.h>``: get the peer's ``pid_t`` (Python's socket module lacks it)."""

PID_T: Final = struct.Struct("@i")
"""A ``pid_t``."""

XUCRED_VERSION: Final = 0
"""macOS ``<sys/ucred.h>``: the ``cr_version`` of the ``struct xucred`` layout below."""

XUCRED: Final = struct.Struct("@IIh16I")
"""macOS ``struct xucred``: ``cr_version``, ``cr_uid``, ``cr_ngroups``, ``cr_groups[16]``
(76 bytes: the short is padded to the groups' alignment)."""

UCRED: Final = struct.Struct("@iII")
"""Linux ``struct ucred``: ``pid``, ``uid``, ``gid``."""

HASH_HEX_DIGITS: Final = 16
"""How much of the store path's SHA-256 names its socket: 64 bits, so two stores of one user
never collide in practice, in a name short enough for any runtime directory of sane length."""

BACKLOG: Final = 128
"""Pending connections the kernel queues before the daemon accepts them (16 clients starting
at once must not find the queue full)."""


class RendezvousError(Exception):
    """Base of this module's errors; ``str()`` of each is a sentence to show the user."""


class UnsafeRuntimeDir(RendezvousError):
    """The runtime directory is a symlink, another uid's, open to others, or cannot be made."""


class SocketPathTooLong(RendezvousError):
    """The socket's path does not fit in a Unix socket address on this system."""


class AlreadyServed(RendezvousError):
    """Another listener holds this socket (it is serving, starting or closing)."""

    def __init__(self, path: Path, pid: int | None) -> None:
        who = f"another snapd daemon (pid {pid})" if pid else "another snapd daemon"
        super().__init__(f"{who} already listens at {path}")
        self.path = path
        """The socket's path."""
        self.pid = pid
        """The listener's process id, when its lock file says so."""


class NoDaemon(RendezvousError):
    """No daemon listens at the socket's path: a client may start one."""


class DaemonAbsent(NoDaemon):
    """There is no socket at the path."""


class StaleSocket(NoDaemon):
    """A socket is at the path but nothing listens on it (its daemon exited or was killed)."""


class ConnectDenied(RendezvousError):
    """The file system refused the connection (the socket or its directory is not ours)."""


class ForeignPeer(RendezvousError):
    """The process at the other end runs as another uid."""

    def __init__(self, peer: int, uid: int) -> None:
        super().__init__(
            f"refused a connection from uid {peer}: this snapd daemon serves only uid {uid}"
        )
        self.peer = peer
        """The peer's uid."""
        self.uid = uid
        """The uid that was expected."""


class PeerCredentialsUnavailable(RendezvousError):
    """The kernel could not say who the peer is, so the connection cannot be trusted."""


def _sun_path_max() -> int:
    """Bytes in a Unix socket address's path on this platform, the terminating NUL included."""
    return 104 if sys.platform == "darwin" or "bsd" in sys.platform else 108


def _check_address_fits(path: Path) -> None:
    size = len(os.fsencode(path))
    limit = _sun_path_max()
    if size >= limit:
        raise SocketPathTooLong(
            f"the socket path {path} is {size} bytes, but a Unix socket address on this system"
            f" holds at most {limit - 1}; point XDG_RUNTIME_DIR or TMPDIR at a shorter directory"
        )


def _usable_xdg(xdg_runtime_dir: str | None, uid: int) -> bool:
    """True if ``$XDG_RUNTIME_DIR`` is an absolute directory of ``uid`` that only it can write.

    Under ``sudo`` the variable often still names the invoking user's ``/run/user/<uid>``:
    that directory is not ours, so the temp directory is used instead.
    """
    if not xdg_runtime_dir or not os.path.isabs(xdg_runtime_dir):
        return False
    try:
        st = os.stat(xdg_runtime_dir)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == uid and not st.st_mode & 0o022


def _check_private_dir(path: Path, uid: int) -> None:
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise UnsafeRuntimeDir(
            f"cannot use {path} as snapd's runtime directory: {exc.strerror}"
        ) from exc
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeRuntimeDir(
            f"refusing snapd's runtime directory {path}: it is a symlink; remove it"
        )
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeRuntimeDir(
            f"refusing snapd's runtime directory {path}: it is not a directory; remove it"
        )
    if st.st_uid != uid:
        raise UnsafeRuntimeDir(
            f"refusing snapd's runtime directory {path}: it belongs to uid {st.st_uid},"
            f" not to uid {uid}"
        )
    if st.st_mode & 0o077:
        raise UnsafeRuntimeDir(
            f"refusing snapd's runtime directory {path}: its mode is"
            f" {stat.S_IMODE(st.st_mode):04o}, open to other users; run chmod 700 on it"
        )


def default_store_path(data_home: str, root: str) -> str:
    """Where a worktree's store lives by default: under the XDG data dir, keyed by real path.

    ``data_home`` is ``$XDG_DATA_HOME`` (or ``~/.local/share``), resolved by the caller. The
    daemon and every client that finds it compute the same path (then :func:`socket_path`).
    """
    real = os.path.realpath(root)
    key = hashlib.sha256(os.fsencode(real)).hexdigest()[:16]
    name = os.path.basename(real.rstrip(os.sep)) or "root"
    return os.path.join(data_home, "snapd", "stores", f"{name}-{key}")


def runtime_dir(xdg_runtime_dir: str | None, tmp: str, uid: int) -> Path:
    """The per-user directory that holds the daemons' sockets, created ``0700`` if absent.

    Args:
        xdg_runtime_dir: ``$XDG_RUNTIME_DIR`` (None when unset); used, with ``snapd/`` below
            it, if it is an absolute directory owned by ``uid`` that nobody else can write.
        tmp: the temp directory (``tempfile.gettempdir()``), for ``snapd-<uid>`` otherwise.
        uid: the user's uid (``os.getuid()``).

    Returns:
        The directory, owned by ``uid``, mode ``0700``.

    Raises:
        UnsafeRuntimeDir: it exists but is a symlink, not a directory, another uid's, or open
            to group or others; or it cannot be created.
    """
    if _usable_xdg(xdg_runtime_dir, uid):
        assert xdg_runtime_dir is not None  # _usable_xdg checked it
        path = Path(xdg_runtime_dir, "snapd")
    else:
        if xdg_runtime_dir:
            log.debug(
                "XDG_RUNTIME_DIR %s is not a private directory of uid %d", xdg_runtime_dir, uid
            )
        path = Path(tmp, f"snapd-{uid}")
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise UnsafeRuntimeDir(
            f"cannot create snapd's runtime directory {path}: {exc.strerror}"
        ) from exc
    else:
        # mkdir's mode is masked by the umask; 0700 is what the checks below require.
        os.chmod(path, 0o700)
    _check_private_dir(path, uid)
    return path


def socket_path(runtime: Path, store_path: str | os.PathLike[str]) -> Path:
    """The socket of the daemon that serves ``store_path``, in ``runtime``.

    The name is derived from the store's real path, so two spellings of one store (a
    symlink, ``..``) meet at one daemon.

    Raises:
        SocketPathTooLong: even the short name does not fit in a Unix socket address.
    """
    digest = hashlib.sha256(os.fsencode(os.path.realpath(store_path))).hexdigest()
    path = runtime / f"{digest[:HASH_HEX_DIGITS]}.sock"
    _check_address_fits(path)
    return path


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def holder(path: Path) -> int | None:
    """The pid of the daemon holding the socket at ``path`` (serving, starting or stopping).

    None when no process holds its lock, i.e. no daemon lives there (a socket file may still
    be there, left by one killed with -9).
    """
    try:
        fd = os.open(_lock_path(path), os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd)
        return None
    finally:
        os.close(fd)


def wait_released(path: Path, timeout: float) -> bool:
    """Wait until no process holds the lock of the socket at ``path``; False on timeout."""
    deadline = time.monotonic() + timeout
    pause = 0.005
    while holder(path) is not None:
        if time.monotonic() >= deadline:
            return False
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
    return True


def _answers(path: Path) -> bool:
    """True if something listens at ``path`` (a full accept queue still counts)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.setblocking(False)
    try:
        probe.connect(os.fspath(path))
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except BlockingIOError:
        return True
    except PermissionError as exc:
        raise ConnectDenied(f"not allowed to connect to {path}: {exc.strerror}") from exc
    finally:
        probe.close()
    return True


class ListeningSocket(socket.socket):
    """A listening Unix socket that owns its path and its lock (see :func:`listen`).

    ``close()`` removes the socket's file if it is still the one this listener bound, closes
    the socket, then releases the lock. asyncio's ``start_unix_server(sock=...)`` closes the
    socket it is given when the server closes, so that cleans up too.
    """

    __slots__ = ("_identity", "_lock_fd", "_path")

    def __init__(
        self,
        family: int = socket.AF_UNIX,
        type: int = socket.SOCK_STREAM,
        proto: int = 0,
        fileno: int | None = None,
    ) -> None:
        # socket.dup() calls type(self)(family, type, proto, fileno=...): a duplicate owns
        # neither the path nor the lock.
        super().__init__(family, type, proto, fileno)
        self._lock_fd = -1
        self._path: Path | None = None
        self._identity: tuple[int, int] | None = None

    @property
    def path(self) -> Path | None:
        """Where the socket is bound (None before :func:`listen` finishes)."""
        return self._path

    def _own(self, path: Path, lock_fd: int) -> None:
        st = os.stat(path)
        self._path, self._lock_fd, self._identity = path, lock_fd, (st.st_dev, st.st_ino)

    def close(self) -> None:
        """Remove the socket file, close the socket, and release the lock (once)."""
        if self._path is not None and self._identity is not None:
            try:
                st = os.lstat(self._path)
                if (st.st_dev, st.st_ino) == self._identity:
                    os.unlink(self._path)
            except FileNotFoundError:
                pass
            self._identity = None
        super().close()
        if self._lock_fd >= 0:
            fd, self._lock_fd = self._lock_fd, -1
            os.close(fd)


def listen(path: Path) -> ListeningSocket:
    """Listen at ``path`` with mode ``0600``, replacing a stale socket, and hold its lock.

    Returns:
        The listening socket (blocking; asyncio makes it non-blocking). Close it to stop.

    Raises:
        AlreadyServed: another listener holds the lock, or a socket there still answers.
        SocketPathTooLong: ``path`` does not fit in a Unix socket address.
        RendezvousError: something other than a socket is at ``path`` (it is not removed).
        OSError: binding failed for another reason (no space, the directory is gone, ...).
    """
    _check_address_fits(path)
    lock_fd = os.open(_lock_path(path), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = _read_pid(lock_fd)
        os.close(lock_fd)
        raise AlreadyServed(path, pid) from None
    except BaseException:
        os.close(lock_fd)
        raise
    sock: ListeningSocket | None = None
    # os.urandom is what secrets.token_hex reads; importing secrets (random, base64) would
    # cost a client that only connects here several milliseconds (issue 15).
    tmp = path.with_name(f".{os.urandom(4).hex()}.tmp")
    try:
        # The pid first: a racing listen() names who is starting.
        os.ftruncate(lock_fd, 0)
        os.pwrite(lock_fd, f"{os.getpid()}\n".encode(), 0)
        _replaceable(path)
        sock = ListeningSocket()
        sock.bind(os.fspath(tmp))
        os.chmod(tmp, 0o600)
        sock.listen(BACKLOG)
        os.rename(tmp, path)
        sock._own(path, lock_fd)
    except BaseException:
        if sock is not None:
            sock.close()
        os.close(lock_fd)
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    log.info("listening at %s", path)
    return sock


def _replaceable(path: Path) -> None:
    """Check, under the lock, that whatever is at ``path`` may be replaced by a new socket."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise RendezvousError(f"{path} exists and is not a socket; refusing to replace it")
    if _answers(path):
        # The lock was free, yet something listens: not one of ours; leave it be.
        raise AlreadyServed(path, None)
    log.info("replacing the stale socket %s (its daemon is gone)", path)


def connect(path: Path, *, uid: int | None = None) -> socket.socket:
    """Connect to the daemon listening at ``path``.

    Args:
        path: the socket (see :func:`socket_path`).
        uid: if given, the daemon must run as this uid (:func:`check_peer` on it).

    Returns:
        A connected, blocking stream socket.

    Raises:
        DaemonAbsent: no socket at ``path``.
        StaleSocket: a socket is there but nothing listens on it.
        ConnectDenied: the file system refused (the socket or its directory is not ours).
        ForeignPeer: the daemon runs as another uid than ``uid``.
        SocketPathTooLong: ``path`` does not fit in a Unix socket address.
    """
    _check_address_fits(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(os.fspath(path))
    except (FileNotFoundError, NotADirectoryError) as exc:
        sock.close()
        raise DaemonAbsent(f"no snapd daemon listens at {path}: there is no socket") from exc
    except ConnectionRefusedError as exc:
        sock.close()
        raise StaleSocket(
            f"no snapd daemon listens at {path}: the socket is left from one that exited"
        ) from exc
    except PermissionError as exc:
        sock.close()
        raise ConnectDenied(
            f"not allowed to connect to {path}: {exc.strerror} (it belongs to another user?)"
        ) from exc
    except BaseException:
        sock.close()
        raise
    if uid is not None:
        try:
            check_peer(sock, uid)
        except BaseException:
            sock.close()
            raise
    return sock


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process at the other end of a connected Unix socket, from the kernel.

    Raises:
        PeerCredentialsUnavailable: the platform has no way to ask, or the kernel refused.
    """
    try:
        if sys.platform.startswith("linux"):
            _, uid, _ = UCRED.unpack(
                sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, UCRED.size)
            )
            return int(uid)
        if sys.platform == "darwin":
            return _darwin_peer_uid(sock)
    except OSError as exc:
        raise PeerCredentialsUnavailable(
            f"cannot tell which user is connecting: {exc.strerror or exc}"
        ) from exc
    raise PeerCredentialsUnavailable(
        f"cannot tell which user is connecting: no peer credentials on {sys.platform}"
    )


def _darwin_peer_uid(sock: socket.socket) -> int:
    """``LOCAL_PEERCRED``, which macOS's ``getpeereid(3)`` wraps."""
    raw = sock.getsockopt(SOL_LOCAL, LOCAL_PEERCRED, XUCRED.size)
    if len(raw) < XUCRED.size:
        raise OSError(errno.EINVAL, f"short struct xucred ({len(raw)} bytes)")
    version, uid, *_ = XUCRED.unpack(raw[: XUCRED.size])
    if version != XUCRED_VERSION:
        raise OSError(errno.EINVAL, f"unknown struct xucred version {version}")
    return int(uid)


def peer_pid(sock: socket.socket) -> int | None:
    """The pid of the process at the other end of a connected Unix socket, or None.

    The process that connected (for a client behind a forwarder, the forwarder). None when
    the platform cannot tell or the kernel refused: the pid is for display, never a check.
    """
    try:
        if sys.platform.startswith("linux"):
            pid, _, _ = UCRED.unpack(
                sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, UCRED.size)
            )
        elif sys.platform == "darwin":
            (pid,) = PID_T.unpack(sock.getsockopt(SOL_LOCAL, LOCAL_PEERPID, PID_T.size))
        else:
            return None
    except (OSError, struct.error) as exc:
        log.info("cannot tell which process connected: %s", exc)
        return None
    return int(pid) if pid > 0 else None  # 0: a peer from another pid namespace


def check_peer(sock: socket.socket, uid: int) -> None:
    """Refuse a peer that is not ``uid``.

    Raises:
        ForeignPeer: the peer runs as another uid.
        PeerCredentialsUnavailable: the peer's uid cannot be known (refused too).
    """
    peer = peer_uid(sock)
    if peer != uid:
        raise ForeignPeer(peer, uid)
