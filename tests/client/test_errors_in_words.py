"""CLI errors read as sentences, never a Python repr (issue 15 item 7).

The locked-store case runs against a real lock: a daemon in another process holds the store
while every client command tries it.
"""

from __future__ import annotations

import asyncio
import errno
import json
import re
import socket
import sys
import time
from pathlib import Path

import pytest

from snapd.store.errors import LockedError, describe_holder
from snapd_client import AsyncClient, StdioTransport, StoreLocked, cli

NOON = time.mktime((2026, 3, 4, 12, 0, 0, 0, 0, -1))
"""A fixed local time: the holder's ``since`` and the ``now`` it is described at."""


@pytest.mark.parametrize(
    ("holder", "now", "words"),
    [
        (
            {"pid": 15543, "host": "vm", "since": NOON - 78 * 60},
            NOON,
            "(pid 15543 on vm, since 10:42)",
        ),
        (
            {"pid": 7, "host": "vm", "since": NOON - 86400},
            NOON,
            "(pid 7 on vm, since 2026-03-03 12:00)",
        ),
        ({"pid": 7}, NOON, "(pid 7)"),
        ({"host": "box"}, NOON, "(on box)"),
        ({"since": NOON}, NOON, "(since 12:00)"),
        ({}, NOON, ""),
        ({"pid": "x", "host": ["vm"], "since": "later"}, NOON, ""),  # a scribbled lock file
    ],
)
def test_the_holder_in_words(holder: dict[str, object], now: float, words: str) -> None:
    assert describe_holder(holder, now=now) == f"another snapd {words}".strip()


def test_locked_error_is_a_sentence_and_keeps_the_holder() -> None:
    holder: dict[str, object] = {"pid": 15543, "host": "vm", "since": int(time.time())}
    exc = LockedError("/s/store", holder)
    assert re.fullmatch(
        r"another snapd \(pid 15543 on vm, since \d\d:\d\d\) holds the store /s/store", str(exc)
    )
    assert exc.holder is holder and exc.path == "/s/store"


def test_os_errors_in_words() -> None:
    missing = FileNotFoundError(errno.ENOENT, "No such file or directory", "/w/x")
    assert cli.error_line(missing) == "No such file or directory: /w/x"
    moved = OSError(errno.EXDEV, "Invalid cross-device link", b"/a", None, "/b")
    assert cli.error_line(moved) == "Invalid cross-device link: /a -> /b"
    assert cli.error_line(PermissionError(errno.EACCES, "Permission denied")) == (
        "Permission denied"
    )


def test_a_daemon_log_line_loses_its_stamp(tmp_path: Path) -> None:
    log = tmp_path / "snapd.log"
    log.write_text(
        "2026-12-02 08:30:01,123 INFO snapd.server: starting\n"
        "2026-12-02 08:30:01,456 ERROR snapd.requests.common: the disk is full\n\n"
    )
    assert cli._log_tail(log) == "the disk is full"


COMMANDS = [
    ["log"],
    ["--json", "log"],
    ["status"],
    ["snapshot", "-m", "x"],
    ["diff", "--stat"],
    ["hunks", "src/main.txt"],
    ["explain", "src/main.txt"],
    ["restore"],
    ["gc", "--dry-run"],
    ["stats"],
    ["pin", "latest"],
    ["unpin", "latest"],
]


@pytest.mark.e2e
@pytest.mark.asyncio
async def test_every_command_on_a_locked_store_says_who_holds_it(
    worktree: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    async with await AsyncClient.spawn(
        worktree, store=store, log_file=tmp_path / "holder.log"
    ) as holder:
        await holder.snapshot()  # initialized: the store's lock is held by this daemon
        assert isinstance(holder.transport, StdioTransport)
        pid = holder.transport.proc.pid
        since = json.loads((store / "snapd.lock").read_text())["since"]

        # On the wire the holder stays structured; the message is the sentence.
        with pytest.raises(StoreLocked) as info:
            await AsyncClient.spawn(worktree, store=store, log_file=tmp_path / "second.log")
        assert info.value.data["holder"] == {
            "pid": pid,
            "host": socket.gethostname(),
            "since": since,
        }
        expected = re.compile(
            rf"another snapd \(pid {pid} on {re.escape(socket.gethostname())}, since "
            rf"(\d{{4}}-\d\d-\d\d )?{time.strftime('%H:%M', time.localtime(since))}\) "
            rf"holds the store {re.escape(str(store))}"
        )
        assert expected.fullmatch(info.value.message), info.value.message

        limit = asyncio.Semaphore(3)

        async def run(argv: list[str]) -> tuple[list[str], int | None, bytes, bytes]:
            async with limit:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "snapd_client",
                    "--root",
                    str(worktree),
                    "--store",
                    str(store),
                    *argv,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                )
                out, err = await proc.communicate()
                return argv, proc.returncode, out, err

        for argv, code, out, err in await asyncio.gather(*(run(a) for a in COMMANDS)):
            line = err.decode()
            assert (code, out) == (1, b""), (argv, line)
            assert line.startswith("snapd: ") and line.endswith("\n") and line.count("\n") == 1
            assert expected.fullmatch(line.removeprefix("snapd: ").rstrip("\n")), (argv, line)
            assert not set("{}'[]") & set(line), (argv, line)  # no dict or list repr
        assert (await holder.status()).head is not None  # the holder is unaffected
