"""The shared daemon's rendezvous: runtime directory, socket name, listen, connect, peer uid."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import stat
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from snapd import rendezvous
from snapd.rendezvous import (
    AlreadyServed,
    ConnectDenied,
    DaemonAbsent,
    ForeignPeer,
    ListeningSocket,
    NoDaemon,
    PeerCredentialsUnavailable,
    RendezvousError,
    SocketPathTooLong,
    StaleSocket,
    UnsafeRuntimeDir,
    check_peer,
    connect,
    listen,
    peer_pid,
    peer_uid,
    runtime_dir,
    socket_path,
)

UID = os.getuid()
OTHER_UID = 65534
root_only = pytest.mark.skipif(UID != 0, reason="chown to another uid needs root")


@pytest.fixture
def short() -> Iterator[Path]:
    """A private directory with a short path: pytest's tmp_path can outgrow a socket address."""
    path = Path(tempfile.mkdtemp(prefix="rdv"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def umask() -> Iterator[None]:
    old = os.umask(0o022)
    os.umask(old)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def stale_socket(path: Path) -> None:
    """A socket file whose listener is gone, as a daemon killed with -9 leaves it."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.listen(1)
    s.close()


def assert_sentence(exc: BaseException) -> None:
    text = str(exc)
    assert text and text[0].islower() and "Error(" not in text and "{" not in text, text


# --- runtime_dir ---------------------------------------------------------------------------


def test_xdg_runtime_dir_is_used_when_private(tmp_path: Path) -> None:
    xdg = tmp_path / "run"
    xdg.mkdir(mode=0o700)
    got = runtime_dir(str(xdg), str(tmp_path / "tmp"), UID)
    assert got == xdg / "snapd"
    assert mode(got) == 0o700 and got.stat().st_uid == UID
    assert not (tmp_path / "tmp").exists()


def test_without_xdg_the_temp_dir_holds_a_dir_named_for_the_uid(tmp_path: Path) -> None:
    got = runtime_dir(None, str(tmp_path), UID)
    assert got == tmp_path / f"snapd-{UID}"
    assert mode(got) == 0o700


@pytest.mark.parametrize("kind", ["empty", "relative", "missing", "a file", "world-writable"])
def test_an_unusable_xdg_runtime_dir_falls_back_to_the_temp_dir(tmp_path: Path, kind: str) -> None:
    xdg = tmp_path / "run"
    value = {"empty": "", "relative": "run", "missing": str(xdg)}.get(kind, str(xdg))
    if kind == "a file":
        xdg.write_text("")
    if kind == "world-writable":
        xdg.mkdir()
        xdg.chmod(0o777)
    assert runtime_dir(value, str(tmp_path), UID) == tmp_path / f"snapd-{UID}"
    assert not (xdg / "snapd").exists()


@root_only
def test_another_users_xdg_runtime_dir_falls_back_to_the_temp_dir(tmp_path: Path) -> None:
    # sudo keeps the invoking user's XDG_RUNTIME_DIR: it is not root's to use.
    xdg = tmp_path / "run"
    xdg.mkdir(mode=0o700)
    os.chown(xdg, OTHER_UID, OTHER_UID)
    assert runtime_dir(str(xdg), str(tmp_path), UID) == tmp_path / f"snapd-{UID}"


@pytest.mark.parametrize("mask", [0o000, 0o022, 0o777], ids=lambda m: f"umask{m:03o}")
def test_created_0700_whatever_the_umask(tmp_path: Path, umask: None, mask: int) -> None:
    os.umask(mask)
    got = runtime_dir(None, str(tmp_path), UID)
    assert mode(got) == 0o700


def test_an_existing_private_dir_is_kept(tmp_path: Path) -> None:
    first = runtime_dir(None, str(tmp_path), UID)
    (first / "x.sock").write_text("")
    assert runtime_dir(None, str(tmp_path), UID) == first
    assert (first / "x.sock").exists()


@pytest.mark.parametrize("bits", [0o750, 0o705, 0o701, 0o770], ids=lambda b: f"{b:04o}")
def test_a_dir_open_to_others_is_refused(tmp_path: Path, bits: int) -> None:
    path = tmp_path / f"snapd-{UID}"
    path.mkdir()
    path.chmod(bits)
    with pytest.raises(UnsafeRuntimeDir, match=rf"mode is {bits:04o}.*chmod 700") as info:
        runtime_dir(None, str(tmp_path), UID)
    assert_sentence(info.value)
    assert mode(path) == bits  # refused, not silently repaired


def test_a_symlink_is_refused_even_to_a_private_dir(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    (tmp_path / f"snapd-{UID}").symlink_to(target)
    with pytest.raises(UnsafeRuntimeDir, match="symlink") as info:
        runtime_dir(None, str(tmp_path), UID)
    assert_sentence(info.value)


def test_a_file_in_its_place_is_refused(tmp_path: Path) -> None:
    (tmp_path / f"snapd-{UID}").write_text("")
    with pytest.raises(UnsafeRuntimeDir, match="not a directory"):
        runtime_dir(None, str(tmp_path), UID)


@root_only
def test_a_dir_of_another_uid_is_refused(tmp_path: Path) -> None:
    path = tmp_path / f"snapd-{UID}"
    path.mkdir(mode=0o700)
    os.chown(path, OTHER_UID, OTHER_UID)
    with pytest.raises(UnsafeRuntimeDir, match=f"belongs to uid {OTHER_UID}, not to uid {UID}"):
        runtime_dir(None, str(tmp_path), UID)


def test_an_unsafe_snapd_dir_under_xdg_is_refused_not_bypassed(tmp_path: Path) -> None:
    xdg = tmp_path / "run"
    (xdg / "snapd").mkdir(parents=True)
    xdg.chmod(0o700)
    (xdg / "snapd").chmod(0o755)
    with pytest.raises(UnsafeRuntimeDir, match="0755"):
        runtime_dir(str(xdg), str(tmp_path), UID)


def test_a_missing_temp_dir_is_a_sentence(tmp_path: Path) -> None:
    with pytest.raises(UnsafeRuntimeDir, match="cannot create") as info:
        runtime_dir(None, str(tmp_path / "nope"), UID)
    assert_sentence(info.value)


# --- socket_path ---------------------------------------------------------------------------


def test_the_socket_is_named_by_a_short_hash_of_the_store(tmp_path: Path) -> None:
    run = tmp_path / "run"
    a = socket_path(run, tmp_path / "a" / ("long-name" * 20))
    assert a.parent == run and a.suffix == ".sock" and len(a.stem) == 16
    int(a.stem, 16)
    assert socket_path(run, tmp_path / "a" / ("long-name" * 20)) == a
    assert socket_path(run, tmp_path / "b") != a


def test_two_spellings_of_one_store_meet_at_one_socket(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "store")
    run = tmp_path / "run"
    want = socket_path(run, tmp_path / "store")
    assert socket_path(run, tmp_path / "link") == want
    assert socket_path(run, str(tmp_path / "x" / ".." / "store")) == want


def deep_dir(base: Path, total: int) -> Path:
    """A directory under ``base`` whose 16-hex-digit ``.sock`` child is ``total`` bytes long."""
    name_len = len("/0123456789abcdef.sock")
    need = total - name_len - len(str(base))
    assert need > 2, "the temp dir is too long for this test"
    path = base
    while need > 0:
        part = min(need - 1, 40)
        if need - 1 - part == 1:  # a last component of 0 characters is impossible
            part -= 1
        path = path / ("d" * part)
        need -= part + 1
    assert len(str(path)) + name_len == total
    path.mkdir(parents=True)
    return path


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's 108-byte sun_path")
def test_the_length_limit_is_the_kernels(short: Path) -> None:
    fits = deep_dir(short / "a", 107)
    path = socket_path(fits, "/some/store")
    assert len(str(path)) == 107
    with listen(path) as sock:  # the kernel takes it
        connect(path).close()
        assert sock.path == path
    over = deep_dir(short / "b", 108)
    with pytest.raises(SocketPathTooLong, match=r"108 bytes.*at most 107") as info:
        socket_path(over, "/some/store")
    assert_sentence(info.value)
    raw = socket.socket(socket.AF_UNIX)
    with raw, pytest.raises(OSError):  # and the kernel would have refused it too
        raw.bind(str(over / "0123456789abcdef.sock"))


def test_macos_has_a_shorter_limit(short: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = deep_dir(short, 104)
    assert socket_path(path, "/s")
    monkeypatch.setattr(sys, "platform", "darwin")
    with pytest.raises(SocketPathTooLong, match="at most 103"):
        socket_path(path, "/s")


def test_listen_and_connect_check_the_length_too(short: Path) -> None:
    over = short / ("x" * 120)
    with pytest.raises(SocketPathTooLong):
        listen(over)
    with pytest.raises(SocketPathTooLong):
        connect(over)


# --- listen --------------------------------------------------------------------------------


def test_listen_binds_0600_and_serves(short: Path, umask: None) -> None:
    os.umask(0)  # the most permissive umask must not leak into the socket's mode
    path = short / "d.sock"
    with listen(path) as server:
        assert stat.S_ISSOCK(os.lstat(path).st_mode) and mode(path) == 0o600
        assert server.family == socket.AF_UNIX and server.type == socket.SOCK_STREAM
        assert sorted(p.name for p in short.iterdir()) == ["d.sock", "d.sock.lock"]
        assert (short / "d.sock.lock").read_text() == f"{os.getpid()}\n"
        with connect(path) as client:
            conn, _ = server.accept()
            with conn:
                client.sendall(b"ping")
                assert conn.recv(4) == b"ping"
                assert peer_uid(conn) == UID
    assert os.umask(0) == 0  # listen left the umask alone


def test_a_live_listener_is_already_served(short: Path) -> None:
    path = short / "d.sock"
    with listen(path):
        with pytest.raises(AlreadyServed) as info:
            listen(path)
        assert info.value.pid == os.getpid() and info.value.path == path
        assert (
            str(info.value) == f"another snapd daemon (pid {os.getpid()}) already listens at {path}"
        )
        connect(path).close()  # the first one still serves


def test_a_stale_socket_is_replaced(short: Path) -> None:
    path = short / "d.sock"
    stale_socket(path)
    with pytest.raises(StaleSocket):
        connect(path)
    with listen(path) as server:
        with connect(path):
            server.accept()[0].close()
        assert mode(path) == 0o600


def test_a_socket_that_answers_without_the_lock_is_left_alone(short: Path) -> None:
    path = short / "d.sock"
    foreign = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with foreign:
        foreign.bind(str(path))
        foreign.listen(1)
        with pytest.raises(AlreadyServed) as info:
            listen(path)
        assert info.value.pid is None
        assert os.path.samestat(os.lstat(path), os.stat(path))  # not replaced
        connect(path).close()
    # the failed listen released its lock
    with listen(path):
        pass


def test_what_is_not_a_socket_is_never_replaced(short: Path) -> None:
    path = short / "d.sock"
    path.write_text("precious")
    with pytest.raises(RendezvousError, match="not a socket") as info:
        listen(path)
    assert not isinstance(info.value, AlreadyServed)
    assert path.read_text() == "precious"
    assert sorted(p.name for p in short.iterdir()) == ["d.sock", "d.sock.lock"]


def test_close_removes_the_socket_and_releases_the_lock(short: Path) -> None:
    path = short / "d.sock"
    server = listen(path)
    server.close()
    server.close()  # twice is harmless
    assert not path.exists()
    with pytest.raises(DaemonAbsent) as info:
        connect(path)
    assert isinstance(info.value, NoDaemon)
    assert_sentence(info.value)
    with listen(path):
        pass


def test_close_leaves_a_socket_it_did_not_bind(short: Path) -> None:
    path = short / "d.sock"
    server = listen(path)
    os.unlink(path)  # removed by hand, and someone else bound the name
    other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with other:
        other.bind(str(path))
        server.close()
        assert stat.S_ISSOCK(os.lstat(path).st_mode)


def test_a_duplicate_owns_neither_path_nor_lock(short: Path) -> None:
    path = short / "d.sock"
    with listen(path) as server:
        dup = server.dup()
        assert isinstance(dup, ListeningSocket) and dup.path is None
        dup.close()
        assert path.exists()
        with pytest.raises(AlreadyServed):
            listen(path)


def test_listen_cleans_up_when_binding_fails(short: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = short / "d.sock"

    def refuse(*_args: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "rename", refuse)
    with pytest.raises(PermissionError):
        listen(path)
    monkeypatch.undo()
    assert sorted(p.name for p in short.iterdir()) == ["d.sock.lock"]  # no temp name left
    with listen(path):  # and the lock was released
        pass


@pytest.mark.parametrize("stale", [False, True], ids=["fresh", "stale"])
def test_threads_racing_to_listen_end_with_one_listener(short: Path, stale: bool) -> None:
    path = short / "d.sock"
    if stale:
        stale_socket(path)
    n = 8
    barrier = threading.Barrier(n)
    won: list[ListeningSocket] = []
    lost: list[AlreadyServed] = []
    other: list[BaseException] = []

    def race() -> None:
        barrier.wait()
        try:
            won.append(listen(path))
        except AlreadyServed as exc:
            lost.append(exc)
        except BaseException as exc:  # reported below, not swallowed
            other.append(exc)

    threads = [threading.Thread(target=race) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert other == [] and len(won) == 1 and len(lost) == n - 1
        with connect(path):
            won[0].accept()[0].close()
    finally:
        for s in won:
            s.close()


@pytest.mark.asyncio
async def test_an_asyncio_server_given_the_socket_cleans_up_on_close(short: Path) -> None:
    path = short / "d.sock"
    seen: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        seen.append(peer_uid(sock))
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_unix_server(serve, sock=listen(path))
    async with server:
        reader, writer = await asyncio.open_unix_connection(sock=connect(path))
        writer.write(b"hello\n")
        assert await reader.readline() == b"hello\n"
        writer.close()
        await writer.wait_closed()
    assert seen == [UID]
    assert not path.exists()
    with listen(path):  # lock released
        pass


# --- peer credentials ----------------------------------------------------------------------


def test_peer_uid_of_a_socketpair_is_ours() -> None:
    a, b = socket.socketpair(socket.AF_UNIX)
    with a, b:
        assert peer_uid(a) == UID == peer_uid(b)
        check_peer(a, UID)
        with pytest.raises(ForeignPeer) as info:
            check_peer(a, UID + 1)
        assert (info.value.peer, info.value.uid) == (UID, UID + 1)
        assert str(info.value) == (
            f"refused a connection from uid {UID}: this snapd daemon serves only uid {UID + 1}"
        )


def test_connect_can_require_the_daemons_uid(short: Path) -> None:
    path = short / "d.sock"
    with listen(path):
        connect(path, uid=UID).close()
        with pytest.raises(ForeignPeer):
            connect(path, uid=UID + 1)


class FakeSocket:
    """Stands in for a socket on a platform this machine is not: records getsockopt calls."""

    def __init__(self, answer: bytes | OSError) -> None:
        self.answer = answer
        self.calls: list[tuple[int, int, int]] = []

    def getsockopt(self, level: int, option: int, buflen: int) -> bytes:
        self.calls.append((level, option, buflen))
        if isinstance(self.answer, OSError):
            raise self.answer
        return self.answer


def xucred(version: int, uid: int) -> bytes:
    return rendezvous.XUCRED.pack(version, uid, 2, 20, 12, *([0] * 14))


def test_the_macos_layout_is_struct_xucred() -> None:
    # u_int cr_version; uid_t cr_uid; short cr_ngroups; gid_t cr_groups[16] (NGROUPS)
    assert rendezvous.XUCRED.size == 76
    assert (rendezvous.SOL_LOCAL, rendezvous.LOCAL_PEERCRED, rendezvous.XUCRED_VERSION) == (0, 1, 0)


def test_macos_asks_local_peercred(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeSocket(xucred(0, 501))
    monkeypatch.setattr(sys, "platform", "darwin")
    got = peer_uid(fake)  # type: ignore[arg-type]
    monkeypatch.undo()
    assert got == 501
    assert fake.calls == [(0, 1, 76)]


@pytest.mark.parametrize(
    "answer",
    [xucred(1, 501), xucred(0, 501)[:40], OSError(22, "Invalid argument")],
    ids=["unknown version", "short", "refused"],
)
def test_macos_credentials_that_cannot_be_trusted_are_refused(
    monkeypatch: pytest.MonkeyPatch, answer: bytes | OSError
) -> None:
    fake = FakeSocket(answer)
    monkeypatch.setattr(sys, "platform", "darwin")
    try:
        with pytest.raises(PeerCredentialsUnavailable) as info:
            check_peer(fake, 501)  # type: ignore[arg-type]
    finally:
        monkeypatch.undo()
    assert_sentence(info.value)


def test_linux_asks_so_peercred(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeSocket(rendezvous.UCRED.pack(1234, 1000, 1000))
    monkeypatch.setattr(sys, "platform", "linux")
    got = peer_uid(fake)  # type: ignore[arg-type]
    monkeypatch.undo()
    assert got == 1000
    assert fake.calls == [(socket.SOL_SOCKET, 17, 12)]  # SO_PEERCRED, sizeof(struct ucred)


def test_a_platform_without_peer_credentials_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeSocket(b"")
    monkeypatch.setattr(sys, "platform", "sunos5")
    try:
        with pytest.raises(PeerCredentialsUnavailable, match="no peer credentials on sunos5"):
            check_peer(fake, UID)  # type: ignore[arg-type]
    finally:
        monkeypatch.undo()
    assert fake.calls == []


def test_peer_pid_is_the_connecting_process(short: Path) -> None:
    with listen(short / "d.sock") as server, connect(short / "d.sock") as client:
        conn, _ = server.accept()
        with conn:
            assert peer_pid(conn) == os.getpid() and peer_pid(client) == os.getpid()


@pytest.mark.parametrize(
    ("platform", "answer", "pid", "call"),
    [
        ("linux", rendezvous.UCRED.pack(4321, 1000, 1000), 4321, (socket.SOL_SOCKET, 17, 12)),
        ("linux", rendezvous.UCRED.pack(0, 1000, 1000), None, (socket.SOL_SOCKET, 17, 12)),
        ("darwin", rendezvous.PID_T.pack(4321), 4321, (0, 2, 4)),  # SOL_LOCAL, LOCAL_PEERPID
        ("darwin", OSError(22, "Invalid argument"), None, (0, 2, 4)),
        ("sunos5", b"", None, None),
    ],
    ids=["linux", "another pid namespace", "macos", "refused", "no way to ask"],
)
def test_peer_pid_on_each_platform(
    monkeypatch: pytest.MonkeyPatch,
    platform: str,
    answer: bytes | OSError,
    pid: int | None,
    call: tuple[int, int, int] | None,
) -> None:
    fake = FakeSocket(answer)
    monkeypatch.setattr(sys, "platform", platform)
    got = peer_pid(fake)  # type: ignore[arg-type]
    monkeypatch.undo()
    assert got == pid  # unknown is None, never an error: the pid is only shown
    assert fake.calls == ([call] if call else [])


# --- connect -------------------------------------------------------------------------------


def test_connect_says_why_there_is_no_daemon(short: Path) -> None:
    with pytest.raises(DaemonAbsent, match="no socket"):
        connect(short / "d.sock")
    with pytest.raises(DaemonAbsent):
        connect(short / "no-dir" / "d.sock")
    stale_socket(short / "d.sock")
    with pytest.raises(StaleSocket, match="left from one that exited") as info:
        connect(short / "d.sock")
    assert isinstance(info.value, NoDaemon)
    assert_sentence(info.value)


def test_connect_denied_is_its_own_error(short: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As root the file system never says EACCES; the other-uid test in tests/e2e shows it live.
    def denied(self: socket.socket, address: str) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(socket.socket, "connect", denied)
    with pytest.raises(ConnectDenied, match="not allowed to connect") as info:
        connect(short / "d.sock")
    assert not isinstance(info.value, NoDaemon)
