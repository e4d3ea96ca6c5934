"""Hostile worktrees: odd names, deep paths, links, special files, races, permissions, size.

No case may hang, crash or grow memory; every odd case is either captured faithfully or
reported as skipped with a reason (snapshot ``rules`` counts, ``snapd/explain``, ``snapd/diff``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from snapd import protocol, requests
from snapd.capture import reading
from snapd_client import AsyncClient, StdioTransport, daemon_command
from tests.helpers import git, make_service, peak_rss_kib, write
from tests.reliability.harness import MIB, assert_fsck_clean

PATH_MAX = 4096
RSS_BOUND_KIB = 200 * 1024


def pid_of(client: AsyncClient) -> int:
    assert isinstance(client.transport, StdioTransport)
    return client.transport.proc.pid


def make_deep(root: Path) -> tuple[bytes, bytes]:
    """A file whose absolute path is just under PATH_MAX, and one past it (made with dir fds)."""
    cur = os.fsencode(root)
    rel = b""
    target = PATH_MAX - 2  # length of the file's absolute path
    # Directory components of at most 200 bytes, the last one sized so that the file name
    # left over fits NAME_MAX (255) whatever the length of the temporary root.
    while target - len(cur) - 1 > 255:
        step = max(1, min(200, target - len(cur) - 1 - 255 - 1))
        cur += b"/" + b"d" * step
        rel += b"d" * step + b"/"
        os.mkdir(cur)
    near = rel + b"n" * (target - len(cur) - 1)
    with open(os.fsencode(root) + b"/" + near, "wb") as fh:
        fh.write(b"near PATH_MAX\n")
    fd = os.open(cur, os.O_RDONLY)
    for _ in range(3):
        os.mkdir(b"e" * 200, dir_fd=fd)
        nfd = os.open(b"e" * 200, os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    out = os.open(b"past.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
    os.write(out, b"past PATH_MAX\n")
    os.close(out)
    os.close(fd)
    return near, rel + b"e" * 200


@pytest.mark.e2e
@pytest.mark.asyncio
@pytest.mark.timeout(90)
@pytest.mark.fault(
    "hostile names and links: non-UTF-8, 255-byte names, paths near/past PATH_MAX, symlink "
    "loops, symlinks out of the root, FIFO/socket/char device",
    trials=14,
)
async def test_hostile_names_links_and_special_files(tmp_path: Path) -> None:
    root = tmp_path / "work"
    root.mkdir()
    rb = os.fsencode(root)
    with open(rb + b"/caf\xe9.txt", "wb") as fh:
        fh.write(b"latin-1 name\n")
    with open(rb + b"/\xff\xfe\x80.bin", "wb") as fh:
        fh.write(b"not UTF-8 at all\n")
    write(root, "n" * 255, "a 255-byte name\n")
    near, unlistable = make_deep(root)
    links = {
        "loop1": "loop2",
        "loop2": "loop1",
        "self": "self",
        "dirloop": ".",
        "up": "..",
        "escape": "/etc/passwd",
        "escape_dir": "/",
        "dangling": "missing/file",
    }
    for name, target in links.items():
        os.symlink(target, root / name)
    os.mkfifo(root / "fifo")  # opening it for read would block forever
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(root / "sock"))
    specials = 2
    if os.geteuid() == 0:
        os.mknod(root / "null", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        specials += 1
    store = tmp_path / "store"
    try:
        async with await AsyncClient.spawn(root, store=store, log_file=tmp_path / "h.log") as c:
            snap = await c.snapshot()
            assert snap.rules == {"special-file": specials, "unreadable": 1}, snap.rules
            assert snap.files == 3 + 1 + len(links)
            for name in ("fifo", "sock"):
                ex = await c.explain(name)
                assert (ex.outcome.value, ex.rule) == ("skipped", "special-file") and ex.reason
            ex = await c.explain(os.fsdecode(unlistable))
            assert ex.outcome.value == "skipped" or ex.rule  # explained, not an error
            for name in links:
                ex = await c.explain(name)
                assert ex.outcome.value == "captured", (name, ex)  # as a link, never followed
            assert (await c.explain("caf\udce9.txt")).outcome.value == "captured"
            # A diff against the live tree names every skipped path with its reason.
            os.unlink(root / "fifo")
            os.mkfifo(root / "fifo2")
            files = [f async for f in c.iter_diff(snap.id)]
            skipped = {f.path: f.skipped for f in files if f.skipped is not None}
            assert set(skipped) == {"fifo", "fifo2"}, files
            assert all(s.reason for s in skipped.values())
            assert peak_rss_kib(pid_of(c)) < RSS_BOUND_KIB
    finally:
        sock.close()
    ls = subprocess.run(  # noqa: ASYNC221 - the daemon is gone; a one-off git call
        ["git", "--git-dir", str(store), "ls-tree", "-r", "-z", "--full-tree", "HEAD"],
        capture_output=True,
        check=True,
    ).stdout
    entries = {e.split(b"\t", 1)[1]: e.split()[0] for e in ls.split(b"\0") if e}
    assert entries[b"escape"] == b"120000" and entries[b"dirloop"] == b"120000"
    assert git(store, "cat-file", "-p", "HEAD:escape").stdout == "/etc/passwd"
    assert b"n" * 255 in entries and near in entries
    assert b"caf\xe9.txt" in entries and b"\xff\xfe\x80.bin" in entries
    assert_fsck_clean(store)


@pytest.mark.fault(
    "files that vanish, grow or are swapped for a symlink between stat and read", trials=5
)
def test_files_changing_between_stat_and_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "work"
    write(root, "keep.txt", "stable\n")
    write(root, "vanish.txt", "gone soon\n")
    write(root, "grow.txt", "short\n")
    write(root, "swap.txt", "a file\n")
    write(root, "dir/inner.txt", "x\n")
    write(root, "big.bin", b"b" * (300 * 1024))  # the streaming path (over CHUNK)
    service = make_service(root, tmp_path / "store", watch=False)
    real_read = reading.read_file
    done: set[str] = set()

    def racing_read(store, policy, full: bytes, cand, decision):
        name = os.fsdecode(full).rsplit("/", 1)[-1]
        if name not in done:
            done.add(name)
            if name == "vanish.txt":
                os.unlink(full)
            elif name == "grow.txt":
                with open(full, "ab") as fh:
                    fh.write(b"grew between lstat and open\n")
            elif name == "swap.txt":
                os.unlink(full)
                os.symlink("keep.txt", full)
            elif name == "inner.txt":
                shutil.rmtree(root / "dir")
        return real_read(store, policy, full, cand, decision)

    monkeypatch.setattr(reading, "read_file", racing_read)
    snap = requests.snapshot(service, protocol.SnapshotParams())
    names = set(git(tmp_path / "store", "ls-tree", "-r", "--name-only", snap.id).stdout.split())
    assert "vanish.txt" not in names and "dir/inner.txt" not in names
    assert git(tmp_path / "store", "show", f"{snap.id}:grow.txt").stdout.endswith(
        "lstat and open\n"
    )
    assert "keep.txt" in names and "big.bin" in names

    # A file that changes during every read is skipped as unstable, with a reason.
    def always_changing(store, policy, full: bytes, cand, decision):
        if full.endswith(b"big.bin"):
            with open(full, "ab") as fh:
                fh.write(b"more")
            return None  # what read_file answers when fstat changed under the read
        return real_read(store, policy, full, cand, decision)

    monkeypatch.setattr(reading, "read_file", always_changing)
    write(root, "big.bin", b"c" * (300 * 1024))
    snap = requests.snapshot(service, protocol.SnapshotParams())
    assert snap.rules.get("unstable") == 1, snap.rules
    ex = requests.explain(service, protocol.ExplainParams(path="big.bin"))
    assert ex.rule in {"unstable", "captured"}  # explain re-reads once, without the race
    service.close()
    assert_fsck_clean(tmp_path / "store")


def _drop_dac_command() -> list[str] | None:
    """A prefix that makes permission bits apply to the daemon, or None when they already do."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


@pytest.mark.e2e
@pytest.mark.asyncio
@pytest.mark.fault(
    "permission-denied file and directory (as root: daemon run without CAP_DAC_*)", trials=2
)
async def test_permission_denied_is_skipped_with_a_reason(tmp_path: Path) -> None:
    prefix = _drop_dac_command()
    if prefix is None:
        pytest.skip("running as root without setpriv: permission bits cannot deny reads")
    root = tmp_path / "work"
    write(root, "ok.txt", "fine\n")
    secret = write(root, "secret.txt", "no\n")
    write(root, "locked/inside.txt", "no\n")
    secret.chmod(0)
    (root / "locked").chmod(0)
    store = tmp_path / "store"
    cmd = [*prefix, *daemon_command(store=store, log_file=tmp_path / "p.log")]
    try:
        async with await AsyncClient.spawn(root, command=cmd) as c:
            snap = await c.snapshot()
            assert snap.rules == {"unreadable": 2}, snap.rules
            assert snap.files == 1
            ex = await c.explain("secret.txt")
            assert ex.outcome.value == "skipped" and ex.rule == "unreadable", ex
            assert "ermission denied" in ex.reason
            # The directory's record (explain judges a directory by its lstat alone, so the
            # snapshot's manifest is where its listing failure shows).
            manifest = git(store, "show", f"{snap.id}^2:skipped.jsonl").stdout
            if not manifest:  # first snapshot: the manifest commit is the only parent
                manifest = git(store, "show", f"{snap.id}^1:skipped.jsonl").stdout
            records = {json.loads(line)["path"]: json.loads(line) for line in manifest.splitlines()}
            assert records["locked"]["rule"] == "unreadable"
            assert "ermission denied" in records["locked"]["reason"]
    finally:
        (root / "locked").chmod(0o755)
        secret.chmod(0o644)
    assert_fsck_clean(store)


@pytest.mark.e2e
@pytest.mark.asyncio
@pytest.mark.fault("a 1 GiB sparse file: skipped by size, never read, memory flat", trials=1)
async def test_one_gib_sparse_file(tmp_path: Path) -> None:
    root = tmp_path / "work"
    write(root, "src/a.txt", "a\n")
    with open(root / "huge.img", "wb") as fh:
        fh.truncate(1024 * MIB)
    async with await AsyncClient.spawn(
        root, store=tmp_path / "store", log_file=tmp_path / "g.log"
    ) as c:
        snap = await c.snapshot()
        assert snap.rules == {"size-limit": 1} and snap.skipped_bytes == 1024 * MIB
        with open(root / "huge.img", "r+b") as fh:
            fh.seek(512 * MIB)
            fh.write(b"changed")
        files = [f async for f in c.iter_diff(snap.id)]
        assert [(f.path, f.skipped is not None) for f in files] == [("huge.img", True)]
        assert (await c.explain("huge.img")).rule == "size-limit"
        assert peak_rss_kib(pid_of(c)) < RSS_BOUND_KIB


def fast_dir(tmp_path: Path) -> Path:
    """A directory on tmpfs when there is one (creating 100k files on disk can take 25 s)."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return Path(tempfile.mkdtemp(prefix="snapd-100k-", dir=shm))
    return tmp_path


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.asyncio
@pytest.mark.timeout(150)
@pytest.mark.fault(
    "a directory with 100,000 entries (captured at first, budget-skipped when it appears later)",
    trials=2,
)
async def test_directory_with_100k_entries(tmp_path: Path) -> None:
    base = fast_dir(tmp_path)
    try:
        root = base / "work"
        write(root, "src/a.txt", "a\n")

        def fill(name: str) -> None:
            (root / name).mkdir()
            fd = os.open(root / name, os.O_RDONLY)
            try:
                for i in range(100_000):
                    os.close(os.open(f"f{i:06d}", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
            finally:
                os.close(fd)

        fill("many")
        async with await AsyncClient.spawn(
            root, store=tmp_path / "store", log_file=tmp_path / "m.log", options={"watch": False}
        ) as c:
            first = await c.snapshot()
            assert first.files == 100_001 and first.skipped == 0
            peak = peak_rss_kib(pid_of(c))
            assert peak < 640 * 1024, f"peak RSS {peak // 1024} MiB"
            # The same directory appearing after a snapshot: one skipped record, with a count.
            fill("later")
            second = await c.snapshot()
            assert second.rules == {"new-files-budget": 1}, second.rules
            files = [f async for f in c.iter_diff(first.id, second.id)]
            assert [(f.path, f.skipped is not None) for f in files] == [("later", True)]
            assert files[0].skipped is not None and files[0].skipped.reason
    finally:
        if base != tmp_path:
            shutil.rmtree(base, ignore_errors=True)
