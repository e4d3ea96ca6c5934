"""Where a command prints: stdout (through a pager when it is a terminal, as git does) and stderr.

Output is coloured when stdout is a terminal and plain otherwise (``--color`` overrides;
``NO_COLOR`` is honoured by rich).

rich is imported only when it changes what is printed: a line going to a pipe or a file, with
no tab or control character for rich to expand or strip, is written as is, exactly as rich
would write it (importing rich would cost a third of a short command's start-up; issue 15).
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
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


@functools.cache
def _console_class() -> type[Console]:
    """The rich Console class, letting a broken pipe propagate (rich would exit with 1)."""
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            """Stop writing and raise, so :func:`main` can leave quietly."""
            self.quiet = True
            raise BrokenPipeError

    return _Console


_RICH_CHANGES = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")
"""Characters rich would not write unchanged (it expands tabs and strips some controls)."""


def _rich_terminal(stream: IO[str]) -> bool:
    """Whether rich would treat ``stream`` as a terminal (rich's ``Console.is_terminal``)."""
    tty_compatible = os.environ.get("TTY_COMPATIBLE", "")
    if tty_compatible in ("0", "1"):
        return tty_compatible == "1"
    force_color = os.environ.get("FORCE_COLOR")
    if force_color is not None:
        return force_color != ""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Output:
    """Where a command prints: ``console`` (stdout, maybe a pager) and ``err`` (stderr).

    Both rich consoles are made on first use; :meth:`print` writes plain lines without them.
    """

    def __init__(self, color: str = "auto", *, pager: bool = True) -> None:
        self.color = color
        self.use_pager = pager
        self._stdout: Console | None = None
        self._stderr: Console | None = None
        self._pager: subprocess.Popen[bytes] | None = None
        self._pager_stdin: IO[str] | None = None

    @property
    def console(self) -> Console:
        """The rich console for stdout (or the pager)."""
        if self._stdout is None:
            self._stdout = self._console(file=None)
        return self._stdout

    @console.setter
    def console(self, value: Console) -> None:
        self._stdout = value

    @property
    def err(self) -> Console:
        """The rich console for stderr."""
        if self._stderr is None:
            self._stderr = self._console(file=None, stderr=True)
        return self._stderr

    @err.setter
    def err(self, value: Console) -> None:
        self._stderr = value

    @property
    def err_is_terminal(self) -> bool:
        """Whether stderr is a terminal for rich (for a progress bar), loading rich only if so."""
        if self._stderr is None and self._plain(sys.stderr):
            return False
        return self.err.is_terminal

    @property
    def width(self) -> int:
        """The width to lay lines out for: the terminal's, else 80."""
        if self._stdout is None and self._plain(sys.stdout):
            return 80
        return self.console.width if self.console.is_terminal else 80

    def _plain(self, stream: IO[str]) -> bool:
        """Whether rich would write to ``stream`` without colour: not a terminal."""
        return self.color != "always" and not _rich_terminal(stream)

    def _console(self, file: IO[str] | None, *, stderr: bool = False) -> Console:
        kw: dict[str, Any] = {}
        if self.color == "always":
            kw["force_terminal"] = True
        elif self.color == "never":
            kw["color_system"] = None
        return _console_class()(
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
        self.console = _console_class()(
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
        if self._stdout is None and self._plain(sys.stdout):
            texts = [p if isinstance(p, str) else p[0] for p in parts if isinstance(p, str | tuple)]
            line = "".join(texts)
            if len(texts) == len(parts) and not _RICH_CHANGES.search(line):
                try:
                    sys.stdout.write(line + "\n")
                except UnicodeEncodeError:
                    pass  # nothing was written: rich writes it, or says why it cannot
                else:
                    sys.stdout.flush()  # as rich does: a closed pipe is noticed at this line
                    return
        from rich.text import Text

        self.console.print(Text.assemble(*parts), end="\n")

    def json(self, obj: Any) -> None:
        """Print a JSON document (always plain)."""
        file = self._stdout.file if self._stdout is not None else sys.stdout
        file.write(json.dumps(obj, indent=2) + "\n")
        file.flush()
