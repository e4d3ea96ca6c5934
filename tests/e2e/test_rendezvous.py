"""The rendezvous between real processes: racing listeners, a daemon killed with -9, other uids.

Each listener is a child process that calls :func:`snapd.rendezvous.listen` when told to, then
serves connections (checking each peer's uid) until its stdin closes, reporting on stdout.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from snapd.rendezvous import StaleSocket, connect, runtime_dir, socket_path

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

UID = os.getuid()
NOBODY = 65534

LISTENER = r"""
import os, selectors, sys
from pathlib import Path
from snapd.rendezvous import AlreadyServed, ForeignPeer, check_peer, listen

def say(*words):
    print(*words, flush=True)

say("ready")
os.read(0, 3)  # "go\n"
try:
    server = listen(Path(sys.argv[1]))
except AlreadyServed as exc:
    say("already", exc.pid)
    sys.exit(0)
say("listening")
sel = selectors.DefaultSelector()
sel.register(server, selectors.EVENT_READ)
sel.register(0, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        if key.fileobj == 0:
            if not os.read(0, 100):
                server.close()
                say("closed")
                sys.exit(0)
            continue
        conn, _ = server.accept()
        with conn:
            try:
                check_peer(conn, os.getuid())
            except ForeignPeer as exc:
                say("refused", exc.peer)
                continue
            conn.sendall(b"served by %d\n" % os.getpid())
"""

CLIENT = r"""
import errno, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1])
except OSError as exc:
    print("error", errno.errorcode.get(exc.errno, exc.errno))
    sys.exit(0)
data = s.recv(100)
print("got " + data.decode().strip() if data else "eof")
"""


class Listener:
    """A child process that listens at ``path`` once told to go."""

    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", LISTENER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.line() == "ready"

    def line(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def stop(self) -> str:
        """Close stdin; returns the last line the child printed."""
        out, _ = self.proc.communicate(timeout=60)
        return out.strip().splitlines()[-1] if out.strip() else ""


def served_by(path: Path) -> int:
    reply = b""
    with connect(path, uid=UID) as sock:
        while not reply.endswith(b"\n") and (chunk := sock.recv(100)):
            reply += chunk
    assert reply.startswith(b"served by "), reply
    return int(reply.split()[-1])


def stale_socket(path: Path) -> None:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()


@pytest.fixture
def run_dir() -> Iterator[Path]:
    """A real runtime directory under a short temp base that every user may traverse."""
    base = Path(tempfile.mkdtemp(prefix="rdv"))
    base.chmod(0o755)
    try:
        yield runtime_dir(None, str(base), UID)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("stale", [False, True], ids=["fresh", "stale"])
def test_processes_racing_to_listen_end_with_one_listener(run_dir: Path, stale: bool) -> None:
    path = socket_path(run_dir, "/some/store")
    if stale:
        stale_socket(path)
    children = [Listener(path) for _ in range(6)]
    try:
        for child in children:
            child.go()
        said = {child.proc.pid: child.line() for child in children}
        winners = [pid for pid, line in said.items() if line == "listening"]
        assert len(winners) == 1, said
        for pid, line in said.items():
            if pid != winners[0]:
                assert line in (f"already {winners[0]}", "already None"), said
        assert served_by(path) == winners[0]
    finally:
        lasts = {child.proc.pid: child.stop() for child in children}
    assert lasts[winners[0]] == "closed"
    assert not path.exists()


def test_a_daemon_killed_with_9_leaves_a_stale_socket_the_next_one_replaces(run_dir: Path) -> None:
    path = socket_path(run_dir, "/some/store")
    first = Listener(path)
    first.go()
    assert first.line() == "listening"
    assert served_by(path) == first.proc.pid
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(timeout=60)
    first.stop()
    assert path.exists()
    with pytest.raises(StaleSocket):
        connect(path)
    second = Listener(path)
    second.go()
    try:
        assert second.line() == "listening"
        assert served_by(path) == second.proc.pid
    finally:
        assert second.stop() == "closed"


def as_nobody(*argv: str) -> list[str]:
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv]


@pytest.fixture
def nobody() -> None:
    if UID != 0:
        pytest.skip("running a client as another uid needs root (setpriv)")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    probe = subprocess.run(
        as_nobody(sys.executable, "-I", "-S", "-c", "pass"), capture_output=True, cwd="/"
    )
    if probe.returncode != 0:
        pytest.skip(f"uid {NOBODY} cannot run {sys.executable}: {probe.stderr.decode()!r}")


def client_as_nobody(path: Path) -> str:
    done = subprocess.run(
        as_nobody(sys.executable, "-I", "-S", "-c", CLIENT, str(path)),
        capture_output=True,
        text=True,
        cwd="/",
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_another_uid_cannot_reach_the_socket(run_dir: Path, nobody: None) -> None:
    path = socket_path(run_dir, "/some/store")
    daemon = Listener(path)
    daemon.go()
    try:
        assert daemon.line() == "listening"
        assert client_as_nobody(path) == "error EACCES"  # the 0700 directory stops it
        assert served_by(path) == daemon.proc.pid
    finally:
        assert daemon.stop() == "closed"  # it printed nothing else: nobody got through


def test_another_uid_that_gets_through_is_refused_by_its_uid(run_dir: Path, nobody: None) -> None:
    path = socket_path(run_dir, "/some/store")
    daemon = Listener(path)
    daemon.go()
    try:
        assert daemon.line() == "listening"
        # Permissions loosened by hand: the file system lets anyone in, SO_PEERCRED does not.
        run_dir.chmod(0o755)
        path.chmod(0o666)
        assert client_as_nobody(path) == "eof"
        assert daemon.line() == f"refused {NOBODY}"
        assert served_by(path) == daemon.proc.pid  # and its owner is still served
    finally:
        assert daemon.stop() == "closed"
