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

from snapd.capture.policy import Policy
from snapd.capture.statcache import StatCache
from snapd.capture.walk import Capturer
from snapd.config import Options
from snapd.store.history import State
from snapd.worktree import Worktree

OPEN_SERVICES: list[Worktree] = []
"""Services made by tests; conftest closes any left open (dulwich warns about open packs)."""


def make_service(root: Path, store: Path, **options: object) -> Worktree:
    svc = Worktree(str(root), str(store), Options(**options))  # type: ignore[arg-type]
    OPEN_SERVICES.append(svc)
    return svc


def fresh_capture(svc: Worktree, parent: State | None) -> State:
    """What a walk from scratch captures: a fresh policy, an empty stat cache, no map."""
    policy = Policy(svc.root_b, svc.options)
    return Capturer(svc.store, svc.root_b, policy, StatCache(), parent=parent).capture()


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

    Each is asked as ``snapd daemon stop`` asks (SIGTERM, then its lock is awaited); one that
    is not gone within ``within`` seconds is killed.
    """
    import os
    import signal

    from snapd.autostart import stop_listener
    from snapd.rendezvous import RendezvousError, holder, wait_released

    stopped = []
    for lock in sorted(runtime.glob("*.sock.lock")) if runtime.is_dir() else []:
        sock = lock.with_name(lock.name.removesuffix(".lock"))
        try:
            pid = stop_listener(sock, timeout=within)
        except RendezvousError:
            pid = holder(sock)
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                wait_released(sock, within)
        if pid is not None:
            stopped.append(pid)
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
