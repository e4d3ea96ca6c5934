"""Shared test helpers: an in-process service, small tree builders and :func:`eventually`."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar, overload

from snapd.config import Options
from snapd.worktree import Worktree

OPEN_SERVICES: list[Worktree] = []
"""Services made by tests; conftest closes any left open (dulwich warns about open packs)."""


def make_service(root: Path, store: Path, **options: object) -> Worktree:
    svc = Worktree(str(root), str(store), Options(**options))  # type: ignore[arg-type]
    OPEN_SERVICES.append(svc)
    return svc


def close_services(keep: int = 0) -> None:
    """Close the services made since the first ``keep`` (all of them by default)."""
    while len(OPEN_SERVICES) > keep:
        svc = OPEN_SERVICES.pop()
        try:
            svc.close()
        except (OSError, ValueError):
            pass  # already closed by the test


def stop_daemons(runtime: Path, *, within: float = 15.0) -> list[int]:
    """Stop every shared daemon listening in ``runtime``; the pids that were stopped.

    Each daemon holds an exclusive lock on its ``<socket>.lock`` (its pid inside) while it
    lives: SIGTERM it, then wait for the lock (taking it blocks until the daemon is gone), and
    SIGKILL one that is not gone within ``within`` seconds.
    """
    import fcntl
    import os
    import signal
    import threading

    stopped = []
    for lock in sorted(runtime.glob("*.sock.lock")) if runtime.is_dir() else []:
        fd = os.open(lock, os.O_RDWR)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                continue  # nobody holds it
            except BlockingIOError:
                pass
            text = os.pread(fd, 32, 0).decode().strip()
            if not text.isdigit():
                continue
            pid = int(text)
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            waiter = threading.Thread(target=fcntl.flock, args=(fd, fcntl.LOCK_EX), daemon=True)
            waiter.start()
            waiter.join(within)
            if waiter.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                waiter.join(within)
            stopped.append(pid)
        finally:
            os.close(fd)
    return stopped


def git(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "--git-dir", str(store), *args], capture_output=True, text=True, check=False
    )


def write(root: Path, rel: str, data: bytes | str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


def peak_rss_kib(pid: int) -> int:
    """VmHWM of a live process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


T = TypeVar("T")

EVENTUALLY_LIMIT_S = 60.0
"""How long :func:`eventually` waits before it fails: a bound for a broken test, not a tuning
knob (a loaded 2-core machine running the suite in parallel must never get near it)."""


@overload
async def eventually(
    condition: Callable[[], Awaitable[T]], what: str = ..., *, limit_s: float = ...
) -> T: ...
@overload
async def eventually(condition: Callable[[], T], what: str = ..., *, limit_s: float = ...) -> T: ...
async def eventually(
    condition: Callable[[], Any], what: str = "", *, limit_s: float = EVENTUALLY_LIMIT_S
) -> Any:
    """Wait until ``condition()`` (sync or async) is truthy and return its value.

    Only for states nothing announces (files a restore wrote, a watcher's state): await the
    protocol's event where there is one (``$/progress`` end, ``snapd/didSnapshot``). The first
    checks only yield to the event loop, so a condition that other tasks of this loop make true
    costs no sleep; then the pause doubles up to 50 ms, for one another process makes true.

    Raises:
        AssertionError: ``condition`` did not hold within ``limit_s`` seconds.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    for attempt in itertools.count():
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        assert loop.time() < deadline, f"never happened within {limit_s:g} s: {what or condition}"
        await asyncio.sleep(0 if attempt < 10 else min(0.05, 0.001 * 2 ** (attempt - 10)))
    raise AssertionError  # unreachable: itertools.count() never ends
