"""The seed workload: large generated artifacts rewritten on every turn.

This is the scenario that motivated snapd: an agent works in an ordinary repository while a
build system rewrites large machine-written text files on every turn. Each turn:

* ``build/CMakeFiles/CMakeConfigureLog.yaml`` becomes exactly ``big1`` bytes of ASCII text,
* ``build/build.ninja`` becomes exactly ``big2`` bytes,
* ``build/.ninja_log`` becomes exactly ``small`` bytes,
* ``src/main.txt`` gets one more line, ``turn N``.

The text is deterministic for a turn and differs between turns, so a content diff of two turns
touches every line of the generated files. Files are streamed in blocks; memory use is small
whatever the sizes.

Run ``python -m snapd_client.workload init ROOT`` or ``... turn ROOT N [BIG1_MIB BIG2_MIB
SMALL_KIB]`` to apply it from a shell.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

KIB = 1024
MIB = 1024 * KIB

LINE_WIDTH = 100
"""Bytes per generated line, newline included."""

BLOCK_LINES = 4096
"""Lines generated and written at a time."""

DEFAULT_BIG1 = 128 * MIB
DEFAULT_BIG2 = 96 * MIB
DEFAULT_SMALL = 512 * KIB

CONFIGURE_LOG = "build/CMakeFiles/CMakeConfigureLog.yaml"
BUILD_NINJA = "build/build.ninja"
NINJA_LOG = "build/.ninja_log"
MAIN_TXT = "src/main.txt"

_GIT_IDENTITY = ["-c", "user.name=snapd-workload", "-c", "user.email=workload@example.com"]


def _block(tag: str, turn: int, first: int) -> bytes:
    """``BLOCK_LINES`` generated lines starting at line number ``first``."""
    lines = []
    for i in range(first, first + BLOCK_LINES):
        body = f"{tag} turn={turn} line={i} value={(i * 2654435761 + turn * 97) % 1000003}"
        lines.append(body.ljust(LINE_WIDTH - 1, ".") + "\n")
    return "".join(lines).encode("ascii")


def write_artifact(path: str | os.PathLike[str], size: int, turn: int, tag: str) -> None:
    """Write exactly ``size`` bytes of deterministic text for ``turn`` to ``path``.

    Args:
        path: The file to (re)write; parent directories are created.
        size: Exact size of the file in bytes (the last line may be cut short).
        turn: Turn number; different turns give different text on every line.
        tag: Word that starts every line (tells the artifacts apart).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        written = 0
        first = 0
        while written < size:
            data = _block(tag, turn, first)[: size - written]
            out.write(data)
            written += len(data)
            first += BLOCK_LINES


def init(root: str | os.PathLike[str]) -> None:
    """Create a fresh git repository at ``root`` holding ``src/main.txt`` (``hello``).

    Args:
        root: Worktree directory; created if missing.
    """
    main = Path(root) / MAIN_TXT
    main.parent.mkdir(parents=True, exist_ok=True)
    main.write_text("hello\n", encoding="ascii")
    git = ["git", "-C", os.fspath(root), *_GIT_IDENTITY]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)


def write_artifacts(
    root: str | os.PathLike[str],
    n: int,
    *,
    big1: int = DEFAULT_BIG1,
    big2: int = DEFAULT_BIG2,
    small: int = DEFAULT_SMALL,
) -> None:
    """Rewrite the three generated files of turn ``n`` (without touching ``src/main.txt``).

    Args:
        root: Worktree directory.
        n: Turn number.
        big1: Size of ``build/CMakeFiles/CMakeConfigureLog.yaml`` in bytes.
        big2: Size of ``build/build.ninja`` in bytes.
        small: Size of ``build/.ninja_log`` in bytes.
    """
    base = Path(root)
    write_artifact(base / CONFIGURE_LOG, big1, n, "cmake-configure")
    write_artifact(base / BUILD_NINJA, big2, n, "build-edge")
    write_artifact(base / NINJA_LOG, small, n, "ninja-log")


def turn(
    root: str | os.PathLike[str],
    n: int,
    big1: int = DEFAULT_BIG1,
    big2: int = DEFAULT_BIG2,
    small: int = DEFAULT_SMALL,
) -> None:
    """Apply turn ``n``: rewrite the generated files and append ``turn N`` to ``src/main.txt``.

    Args:
        root: Worktree directory (made by :func:`init`).
        n: Turn number (1 for the first turn).
        big1: Size of ``build/CMakeFiles/CMakeConfigureLog.yaml`` in bytes.
        big2: Size of ``build/build.ninja`` in bytes.
        small: Size of ``build/.ninja_log`` in bytes.
    """
    write_artifacts(root, n, big1=big1, big2=big2, small=small)
    main = Path(root) / MAIN_TXT
    main.parent.mkdir(parents=True, exist_ok=True)
    with open(main, "a", encoding="ascii") as f:
        f.write(f"turn {n}\n")


def main(argv: list[str]) -> int:
    """Command line: ``init ROOT`` or ``turn ROOT N [BIG1_MIB BIG2_MIB SMALL_KIB]``.

    Args:
        argv: Arguments without the program name.

    Returns:
        The exit status.
    """
    if len(argv) == 2 and argv[0] == "init":
        init(argv[1])
        return 0
    if 3 <= len(argv) <= 6 and argv[0] == "turn":
        sizes = [int(v) for v in argv[3:]]
        units = [MIB, MIB, KIB]
        defaults = [DEFAULT_BIG1, DEFAULT_BIG2, DEFAULT_SMALL]
        big1, big2, small = (
            sizes[i] * units[i] if i < len(sizes) else defaults[i] for i in range(3)
        )
        turn(argv[1], int(argv[2]), big1=big1, big2=big2, small=small)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
