"""Where a command prints: stdout (through a pager when it is a terminal, as git does) and stderr.

Output is coloured when stdout is a terminal and plain otherwise (``--color`` overrides;
``NO_COLOR`` is honoured by rich).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
from typing import IO, Any

from rich.console import Console
from rich.text import Text

DEFAULT_PAGER = "less -FRX"
"""The pager when ``$PAGER`` is not set."""


def _stdout_is_tty() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def pager_command(environ: dict[str, str] | os._Environ[str] | None = None) -> str | None:
    """The pager to use (``$PAGER``, else ``less -FRX``), or None for no pager."""
    env = os.environ if environ is None else environ
    cmd = env.get("PAGER", DEFAULT_PAGER).strip()
    if not cmd or cmd == "cat":
        return None
    try:
        program = shlex.split(cmd)[0]
    except (ValueError, IndexError):
        return cmd
    if "=" in program or shutil.which(program) is not None:
        return cmd
    return None


class _Console(Console):
    """A Console that lets a broken pipe propagate (rich's default exits with status 1)."""

    def on_broken_pipe(self) -> None:
        """Stop writing and raise, so :func:`main` can leave quietly."""
        self.quiet = True
        raise BrokenPipeError


class Output:
    """Where a command prints: ``console`` (stdout, maybe a pager) and ``err`` (stderr)."""

    def __init__(self, color: str = "auto", *, pager: bool = True) -> None:
        self.color = color
        self.use_pager = pager
        self.console = self._console(file=None)
        self.err = self._console(file=None, stderr=True)
        self._pager: subprocess.Popen[bytes] | None = None
        self._pager_stdin: IO[str] | None = None

    def _console(self, file: IO[str] | None, *, stderr: bool = False) -> Console:
        kw: dict[str, Any] = {}
        if self.color == "always":
            kw["force_terminal"] = True
        elif self.color == "never":
            kw["color_system"] = None
        return _Console(
            file=file,
            stderr=stderr,
            soft_wrap=True,
            highlight=False,
            markup=False,
            emoji=False,
            **kw,
        )

    @property
    def paging(self) -> bool:
        """Whether output goes to a pager."""
        return self._pager is not None

    def start_pager(self) -> None:
        """Send stdout through the pager when stdout is a terminal (call once, before output)."""
        if self._pager is not None or not self.use_pager or not _stdout_is_tty():
            return
        cmd = pager_command()
        if cmd is None:
            return
        env = dict(os.environ)
        env.setdefault("LESS", "FRX")
        env.setdefault("LV", "-c")
        colored = self.console.is_terminal and self.color != "never"
        width = self.console.width
        try:
            self._pager = subprocess.Popen(cmd, shell=True, stdin=subprocess.PIPE, env=env)
        except OSError:
            return
        assert self._pager.stdin is not None
        self._pager_stdin = io.TextIOWrapper(
            self._pager.stdin, encoding="utf-8", errors="replace", write_through=True
        )
        self.console = _Console(
            file=self._pager_stdin,
            soft_wrap=True,
            highlight=False,
            markup=False,
            emoji=False,
            force_terminal=colored,
            color_system=self.console.color_system if colored else None,  # type: ignore[arg-type]
            width=width,
        )

    def close(self) -> None:
        """Wait for the pager (if any) to finish."""
        if self._pager is None:
            return
        with contextlib.suppress(OSError, ValueError):
            assert self._pager_stdin is not None
            self._pager_stdin.close()
        with contextlib.suppress(KeyboardInterrupt):
            self._pager.wait()
        self._pager = None

    def print(self, *parts: str | Text | tuple[str, str]) -> None:
        """Print one line assembled from plain strings, ``(text, style)`` pairs or ``Text``."""
        self.console.print(Text.assemble(*parts), end="\n")

    def json(self, obj: Any) -> None:
        """Print a JSON document (always plain)."""
        self.console.file.write(json.dumps(obj, indent=2) + "\n")
        self.console.file.flush()
