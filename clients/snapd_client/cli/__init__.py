r"""``snapd <command>``: look at snapshots from a terminal, on top of :class:`AsyncClient`.

Each command is a client of the worktree's shared daemon (``--root``, default the worktree
holding the current directory: :mod:`snapd_client.cli.where`), started when none runs and left
running for the next command, the editor and the agents (it stops by itself when idle);
``--standalone`` starts a private daemon for the one command instead.

* Output is coloured when stdout is a terminal and plain otherwise (``--color`` overrides;
  ``NO_COLOR`` is honoured). Nothing from the worktree is ever read as markup, and control
  characters in paths and file content are shown escaped (``\x1b``), never sent to the
  terminal.
* Long output goes through a pager when stdout is a terminal, as git does: ``$PAGER``, else
  ``less -FRX`` (``--no-pager`` turns it off).
* ``snapshot`` shows a progress bar on stderr (driven by ``$/progress``) when stderr is a
  terminal.
* ``--json`` prints machine-readable results, for scripts, on every command.
* Errors are one line, ``snapd: <message>``, on stderr with exit status 1 (130 on Ctrl-C).

Parsing is light (:mod:`snapd_client.cli.parser` imports no rich and no wire types), so
``snapd CMD --help`` and a usage error return before the client, rich or the wire types load;
the commands and renderers are imported when a command runs (and on first use of their names
here, PEP 562).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from snapd_client.cli.parser import (
    build_parser,
    daemon_flags,
    daemon_options,
    parse_args,
    parse_hunks,
    root_problem,
)
from snapd_client.cli.where import PathError

if TYPE_CHECKING:
    from snapd_client.cli.commands import (
        COMMANDS,
        cmd_diff,
        cmd_explain,
        cmd_gc,
        cmd_hunks,
        cmd_log,
        cmd_pin,
        cmd_restore,
        cmd_snapshot,
        cmd_stats,
        cmd_status,
    )
    from snapd_client.cli.daemon import MANAGE
    from snapd_client.cli.fast import stat_lines
    from snapd_client.cli.output import Output, pager_command
    from snapd_client.cli.render import (
        action_line,
        diff_paths,
        file_header,
        hunk_header,
        hunk_lines,
        print_hunk,
        skip_note,
        stats_rows,
        wants_hunks,
    )
    from snapd_client.cli.text import human, plural, safe

__all__ = [
    "COMMANDS",
    "MANAGE",
    "Output",
    "action_line",
    "build_parser",
    "cmd_diff",
    "cmd_explain",
    "cmd_gc",
    "cmd_hunks",
    "cmd_log",
    "cmd_pin",
    "cmd_restore",
    "cmd_snapshot",
    "cmd_stats",
    "cmd_status",
    "diff_paths",
    "error_line",
    "file_header",
    "human",
    "hunk_header",
    "hunk_lines",
    "main",
    "os_error_text",
    "pager_command",
    "parse_args",
    "parse_hunks",
    "plural",
    "print_hunk",
    "run",
    "safe",
    "skip_note",
    "stat_lines",
    "stats_rows",
    "wants_hunks",
]


_HOME = {
    **dict.fromkeys(
        [name for name in __all__ if name == "COMMANDS" or name.startswith("cmd_")],
        "snapd_client.cli.commands",
    ),
    "MANAGE": "snapd_client.cli.daemon",
    "Output": "snapd_client.cli.output",
    **dict.fromkeys(["human", "plural", "safe"], "snapd_client.cli.text"),
    "stat_lines": "snapd_client.cli.fast",
    "pager_command": "snapd_client.cli.output",
}
"""Where the lazily loaded names live; the rest come from ``snapd_client.cli.render``."""

_HERE = {"build_parser", "error_line", "main", "os_error_text", "parse_args", "parse_hunks", "run"}

if not TYPE_CHECKING:  # mypy sees the imports above; at run time the names load on demand.

    def __getattr__(name: str) -> Any:
        if name not in __all__ or name in _HERE:
            raise AttributeError(f"module 'snapd_client.cli' has no attribute '{name}'")
        module = _HOME.get(name, "snapd_client.cli.render")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value


LOG_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ [A-Z]+ [\w.]+: ")
"""``asctime LEVEL logger: `` in front of a daemon log line (snapd.cli's format)."""


def _log_tail(path: Path) -> str | None:
    """The daemon log's last line, without its time stamp and logger: why it went away."""
    with contextlib.suppress(OSError):
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
        if lines:
            return LOG_PREFIX.sub("", lines[-1])
    return None


def os_error_text(exc: OSError) -> str:
    """``No such file or directory: /w/x``, not ``[Errno 2] No such file or directory: '/w/x'``."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    names = [
        os.fsdecode(name) if isinstance(name, bytes) else str(name)
        for name in (exc.filename, exc.filename2)
        if name is not None
    ]
    return f"{reason}: {' -> '.join(names)}" if names else reason


async def run(args: argparse.Namespace, out: Output) -> int:
    """Run one command through the worktree's shared daemon (``--standalone``: a private one)."""
    from snapd_client._client import AsyncClient
    from snapd_client.cli.commands import COMMANDS

    if args.command == "daemon":
        from snapd_client.cli.daemon import cmd_daemon

        return await cmd_daemon(args, out)
    if not args.standalone:
        async with await AsyncClient.connect(
            args.root,
            store=args.store,
            client_name="cli",
            options=daemon_options(args),
            daemon_args=daemon_flags(args),
        ) as client:
            await COMMANDS[args.command](client, args, out)
        return 0
    return await _run_standalone(args, out)


async def _run_standalone(args: argparse.Namespace, out: Output) -> int:
    """Run one command against a private daemon started for it.

    Its log is ``--log-file``, else ``<store hash>.standalone.log`` next to the shared
    daemon's socket in the per-user runtime directory (appended to, and kept).
    """
    from snapd.autostart import locate_from_env
    from snapd_client._client import AsyncClient
    from snapd_client._errors import TransportClosed
    from snapd_client.cli.commands import COMMANDS

    if args.log_file is not None:
        log = Path(args.log_file)
    else:
        log = locate_from_env(args.root, args.store, os.environ).socket.with_suffix(
            ".standalone.log"
        )
    extra = ["--store", args.store] if args.store else []
    extra += ["-v"] * args.verbose
    try:
        async with await AsyncClient.spawn(
            args.root,
            log_file=log,
            extra_args=extra,
            client_name="cli",
            options=daemon_options(args),
        ) as client:
            await COMMANDS[args.command](client, args, out)
    except TransportClosed as exc:
        tail = _log_tail(log)
        raise TransportClosed(f"{exc}: {tail}" if tail else str(exc)) from exc
    return 0


def error_line(exc: BaseException) -> str:
    """One line describing ``exc`` for ``snapd: <line>``."""
    from snapd_client._errors import ResponseError, SnapdClientError
    from snapd_client.cli.text import safe

    if isinstance(exc, ResponseError):
        text = exc.message
    elif isinstance(exc, OSError):
        text = os_error_text(exc)
    elif isinstance(exc, SnapdClientError):
        text = str(exc) or type(exc).__name__
    else:
        text = f"internal error: {type(exc).__name__}: {exc}"
    return " ".join(safe(part) for part in text.splitlines() if part.strip()) or "error"


def main(argv: list[str]) -> int:
    """Entry point for ``snapd <command>`` (called by :mod:`snapd_client.entry`)."""
    args = parse_args(argv)
    if args.root is not None and (problem := root_problem(args.root)) is not None:
        print(f"snapd: {problem}", file=sys.stderr)
        return 1
    from snapd_client.cli.where import relocate

    try:
        relocate(args, os.getcwd())
    except PathError as exc:
        print(f"snapd: {exc}", file=sys.stderr)
        return 1
    from snapd_client.cli.fast import is_fast
    from snapd_client.cli.output import Output

    out = Output(args.color, pager=not args.no_pager)
    try:
        if is_fast(args):
            from snapd_client.cli.fast import run_fast

            return run_fast(args, out)
        import asyncio

        return asyncio.run(run(args, out))
    except KeyboardInterrupt:
        out.close()
        print("snapd: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`snapd log | head`, or q in the pager): not an error.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, sys.stdout.fileno())
            finally:
                os.close(devnull)
        return 0 if out.paging else 141
    except PathError as exc:
        out.close()
        print(f"snapd: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        out.close()
        print(f"snapd: {error_line(exc)}", file=sys.stderr)
        return 1
    finally:
        out.close()
