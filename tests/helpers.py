"""Shared test helpers: an in-process service and small tree builders."""

from __future__ import annotations

import subprocess
from pathlib import Path

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
